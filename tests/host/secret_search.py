"""Searching for secrets: a lab host's journal and the folders where leaks end up, and the
output of every ansible run the tests start (ansible_runs)."""
import functools
import subprocess
from pathlib import Path

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from labkit import config

TOP = Path(__file__).resolve().parents[2]

SEARCHED = "/var/log /tmp /root /etc"


def files_holding(host, secrets, searched=SEARCHED):
    """The files under ``searched`` that hold any of ``secrets``; the journal must hold none.

    The secrets go in on stdin (grep -f -), never on a command line. A search
    that cannot run (grep exits 2, journalctl fails) fails the caller instead
    of looking like "nothing found", and so does an empty secret.
    """
    assert secrets and all(len(secret) >= 8 for secret in secrets), "no real secret to look for"
    patterns = "\n".join(secrets) + "\n"
    journal = host.run("journalctl --no-pager -q -o cat | grep -cF -f -; echo \"rc=${PIPESTATUS[*]}\"",
                       stdin=patterns, check=False).stdout.split()
    assert journal == ["0", "rc=0", "1"], f"{host.name}: the journal search gave {journal}"
    found = host.run(f"grep -rlF -f - {searched}; echo \"rc=$?\"", stdin=patterns, check=False).stdout.split()
    assert found[-1] in ("rc=0", "rc=1"), f"{host.name}: the search of {searched} failed: {found}"
    return set(found[:-1])


# The lab's standing secrets, made up at first use in the lab's state.
LAB_SECRETS = config.STATE / "secrets"
DKIM_KEYS = LAB_SECRETS / "dkim_keys.vault.yml"      # inventory/lab/group_vars/mx_hosts.yml


@functools.lru_cache(maxsize=8)
def _dkim_key_pieces(stamp):
    """A piece of each private key in the fleet's DKIM key file (as it was at ``stamp``)."""
    if stamp is None:
        return ()
    password = subprocess.run([str(TOP / "lab/vault-pass")], capture_output=True, text=True, check=True).stdout.strip()
    keyset = yaml.safe_load(VaultLib([("default", VaultSecret(password.encode()))]).decrypt(DKIM_KEYS.read_bytes()))
    # Long enough to be unique, short enough to survive line folding: the first base64 line's start.
    return tuple(next(line for line in entry["private_key"].splitlines() if "-----" not in line)[:40]
                 for selectors in (keyset.get("dkim_keys") or {}).values()
                 for entry in selectors.values() if entry.get("private_key"))


def lab_secrets():
    """{name: secret} of the lab's standing secrets that exist now: the greylisting database's
    password, the lab's vault password, a piece of each DKIM private key of the fleet."""
    found = {}
    for name in ("greylist-db", "vault-pass"):
        path = LAB_SECRETS / name
        if path.is_file() and path.read_text().strip():
            found[name] = path.read_text().strip()
    stamp = (DKIM_KEYS.stat().st_mtime_ns, DKIM_KEYS.stat().st_size) if DKIM_KEYS.is_file() else None
    for index, piece in enumerate(_dkim_key_pieces(stamp)):
        found[f"DKIM private key {index}"] = piece
    return found


def leaked_lab_secrets(output):
    """The names of the lab's standing secrets that ``output`` shows (a private key header counts too)."""
    leaked = sorted(name for name, secret in lab_secrets().items() if secret in output)
    return leaked + (["a PEM private key"] if "PRIVATE KEY-----" in output else [])
