"""Runs of ansible and ansible-playbook against the lab, as a user would start them."""
import json
import re
import subprocess
from pathlib import Path

from labkit.run import project_ansible_env
from secret_search import leaked_lab_secrets

TOP = Path(__file__).resolve().parents[2]
# Everything the roles write on a mail host: Postfix (its sasl/ folder included),
# the SASL database in the chroot, ClamAV's configuration and databases,
# postgrey and sqlgrey, the DKIM, DMARC and SPF services (keys included),
# fail2ban's configuration, and systemd's units, drop-ins and masks (the DKIM
# verifier's /etc/systemd/system/dkimpy-milter-verify.service among them; the
# internal clients' milters, /etc/postfix/internal_milters.cidr, are under
# /etc/postfix). A path that does not exist is listed as absent; any other
# error fails the command (and the test) instead of being hidden.
STATE_PATHS = ("/etc/postfix /etc/aliases /etc/mailname /var/spool/postfix/etc/sasldb2 /etc/sasldb2 "
               "/etc/clamav /var/lib/clamav /etc/postgrey /etc/default/postgrey /etc/sqlgrey "
               "/etc/dkimpy-milter /etc/opendmarc /etc/opendmarc.conf /etc/postfix-policyd-spf-python "
               "/etc/fail2ban /etc/systemd/system /etc/postgresql")
SNAPSHOT = (
    f"set -o pipefail; for path in {STATE_PATHS}; do "
    "if [ -e \"$path\" ] || [ -L \"$path\" ]; then present=\"$present $path\"; else echo \"absent $path\"; fi; done; "
    "find $present -type f -print0 | sort -z | xargs -0 -r sha256sum && "
    "find $present -type l -printf 'link %p -> %l\\n' | sort && "
    "find $present -printf 'mode %m %u:%g %p\\n' | sort")


class ThisMachine:
    """ansible-playbook of requirements.txt's ansible-core, run here from the checkout.

    Same interface as newest_core.NewestCore, so that a test can run on either controller.
    """
    name = "this machine (ansible-core of requirements.txt)"

    def put_inventory(self, local_dir, name):
        """A local folder (an inventory, playbooks) as this controller reaches it: where it is."""
        return str(local_dir)

    def playbook(self, *args, timeout=1500):
        result = subprocess.run([str(TOP / ".venv/bin/ansible-playbook"), *args], cwd=TOP,
                                env=project_ansible_env(), capture_output=True, text=True, timeout=timeout)
        return without_secrets(result, f"ansible-playbook {' '.join(args[:2])}")


def recap_all_unchanged(output):
    """(every host's recap says changed=0, the recap) of an ansible-playbook output."""
    recap = output[output.index("PLAY RECAP"):]
    return all(" changed=0 " in line for line in recap.splitlines()[1:] if ":" in line), recap


def without_secrets(result, title):
    """``result`` of an ansible run, once its output is known to show none of the lab's secrets.

    Every run the tests start passes here, failing ones (bad input) included.
    """
    leaked = leaked_lab_secrets(result.stdout + result.stderr)
    assert not leaked, f"{title}: the output shows {', '.join(leaked)}"
    return result


def ansible(args):
    result = subprocess.run(args, cwd=TOP, env=project_ansible_env(), capture_output=True, text=True, timeout=600)
    return without_secrets(result, " ".join(Path(args[0]).name if index == 0 else arg
                                            for index, arg in enumerate(args[:3])))


def module_call(module, arguments, host="mx1"):
    return ansible([str(TOP / ".venv/bin/ansible"), host, "-m", f"mailforge.postfix.{module}",
                    "-a", json.dumps(arguments)])


def site_with(extra_vars, limit="mx1"):
    """site.yml with extra variables, on mx1 alone unless ``limit`` says otherwise (None: every host)."""
    return ansible([str(TOP / ".venv/bin/ansible-playbook"), "site.yml", *(["--limit", limit] if limit else []),
                    "-e", json.dumps(extra_vars)])


# Bad input is tried on both MX hosts at once: Debian 12 (Postfix 3.7) and 13 (3.10).
BOTH_MX = ("mx1", "mx2")


def failed_with(result, *culprits, hosts=("mx1",)):
    """The task itself failed on each of ``hosts`` (not the run around it), naming every culprit."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for host in hosts:
        # One marker per way Ansible reports a failed task: ad-hoc, task, loop item.
        failures = [part for marker in (f"{host} | FAILED! =>", f"fatal: [{host}]: FAILED! =>",
                                        f"failed: [{host}] (item=")
                    for part in output.split(marker)[1:]]
        assert failures, f"no task failed on {host}:\n{output[-3000:]}"
        # Each report ends where the next line starts at the margin (the next host, task or play).
        report = "".join(re.split(r"\n(?=\S)", part, maxsplit=1)[0] for part in failures)
        # The yaml callback folds long messages and doubles quotes inside quotes.
        flat = " ".join(report.replace("''", "'").split())
        for culprit in culprits:
            assert culprit in flat, f"{culprit!r} not named in {host}'s failure:\n{report[-3000:]}"


def refused_on_both_mx(extra_vars, *culprits):
    """site.yml with bad ``extra_vars`` on both MX hosts: each refuses them, naming every culprit."""
    failed_with(site_with(extra_vars, limit=",".join(BOTH_MX)), *culprits, hosts=BOTH_MX)
