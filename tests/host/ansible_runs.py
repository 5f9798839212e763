"""Runs of ansible and ansible-playbook against the lab, as a user would start them."""
import json
import subprocess
from pathlib import Path

from labkit.run import project_ansible_env

TOP = Path(__file__).resolve().parents[2]
SNAPSHOT = (
    "find /etc/postfix /etc/aliases /etc/mailname /etc/clamav /etc/postgrey /etc/default/postgrey /etc/sqlgrey "
    "/etc/systemd/system/sqlgrey.service -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum")


class ThisMachine:
    """ansible-playbook of requirements.txt's ansible-core, run here from the checkout.

    Same interface as newest_core.NewestCore, so that a test can run on either controller.
    """
    name = "this machine (ansible-core of requirements.txt)"

    def put_inventory(self, local_dir, name):
        """A local folder (an inventory, playbooks) as this controller reaches it: where it is."""
        return str(local_dir)

    def playbook(self, *args, timeout=1500):
        return subprocess.run([str(TOP / ".venv/bin/ansible-playbook"), *args], cwd=TOP, env=project_ansible_env(),
                              capture_output=True, text=True, timeout=timeout)


def recap_all_unchanged(output):
    """(every host's recap says changed=0, the recap) of an ansible-playbook output."""
    recap = output[output.index("PLAY RECAP"):]
    return all(" changed=0 " in line for line in recap.splitlines()[1:] if ":" in line), recap


def ansible(args):
    return subprocess.run(args, cwd=TOP, env=project_ansible_env(), capture_output=True, text=True, timeout=600)


def module_call(module, arguments, host="mx1"):
    return ansible([str(TOP / ".venv/bin/ansible"), host, "-m", f"mailforge.postfix.{module}",
                    "-a", json.dumps(arguments)])


def site_with(extra_vars, limit="mx1"):
    """site.yml with extra variables, on mx1 alone unless ``limit`` says otherwise (None: every host)."""
    return ansible([str(TOP / ".venv/bin/ansible-playbook"), "site.yml", *(["--limit", limit] if limit else []),
                    "-e", json.dumps(extra_vars)])


def failed_with(result, *culprits):
    """The task itself failed on mx1 (not the run around it), naming every culprit."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    # One marker per way Ansible reports a failed task: ad-hoc, task, loop item.
    failures = [part for marker in ("mx1 | FAILED! =>", "fatal: [mx1]: FAILED! =>", "failed: [mx1] (item=")
                for part in output.split(marker)[1:]]
    assert failures, f"no task failed on mx1:\n{output[-3000:]}"
    report = "".join(failures)
    # The yaml callback folds long messages and doubles quotes inside quotes.
    flat = " ".join(report.replace("''", "'").split())
    for culprit in culprits:
        assert culprit in flat, f"{culprit!r} not named in the failure:\n{report[-3000:]}"
