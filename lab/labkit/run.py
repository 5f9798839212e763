"""Running commands and reporting progress."""
import os
import subprocess
import sys

from labkit import config


class LabError(Exception):
    """A failure the lab explains to the user; no traceback needed."""


def say(message):
    print(f"lab: {message}", file=sys.stderr, flush=True)


def sh(argv, check=True, capture=False, quiet=False, **kwargs):
    """Run argv (a list, never a shell string). Raises LabError on failure."""
    result = subprocess.run(
        [str(a) for a in argv],
        text=True,
        stdout=subprocess.PIPE if capture or quiet else None,
        stderr=subprocess.PIPE if capture or quiet else None,
        **kwargs,
    )
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip()
        raise LabError(f"command failed ({result.returncode}): {' '.join(map(str, argv))}\n{detail}")
    return result


def project_ansible_env(**extra):
    """The environment for ansible and ansible-playbook run from the project root.

    Only the project's ansible.cfg decides paths: a caller's ANSIBLE_* (Molecule
    sets relative *_PATH ones) would not resolve from there. The lab's vault
    password (lab/vault-pass) decrypts the lab fleet's DKIM key file.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(config.PROJECT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_VAULT_PASSWORD_FILE=str(config.PROJECT / "lab" / "vault-pass"), **extra)
    return env
