"""A converge that never lies (issue 12, point 1): after a run killed with SIGKILL right after a
changed task, before its handler or restart could run, the next run brings the running service in
line with its files, and the run after that reports changed=0. `postfix check` passes throughout.

Each case runs site.yml on mx1 (greydb for PostgreSQL) and kills ansible-playbook (its whole
process group) as soon as the named task reports `changed`, checks that the service still runs the old
configuration (so the case really tests something), converges again with the same variables,
checks the service now runs the new one, converges once more for changed=0, and restores the lab.
"""
import json
import os
import signal
import socket
import subprocess
import threading

from ansible_runs import TOP, site_with
from antivirus_mail import EICAR, SIGNATURE, message, send
from company_mail import wait_until
from labkit.remote import last_reply
from labkit.run import project_ansible_env

RUN_BOUND = 600      # seconds a killed run may take to reach its task


def killed_after(task, extra_vars, host="mx1"):
    """site.yml on ``host``, SIGKILLed when ``task`` (as ansible prints it, "role : name") reports changed."""
    process = subprocess.Popen(
        [str(TOP / ".venv/bin/ansible-playbook"), "site.yml", "--limit", host, "-e", json.dumps(extra_vars)],
        cwd=TOP, env=project_ansible_env(PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    watchdog = threading.Timer(RUN_BOUND, lambda: os.killpg(process.pid, signal.SIGKILL))
    watchdog.start()
    output, in_task, killed = [], False, False
    try:
        for line in process.stdout:
            output.append(line)
            if line.startswith("TASK ["):
                in_task = line.startswith(f"TASK [{task}]")
            elif in_task and line.startswith(f"changed: [{host}]"):
                os.killpg(process.pid, signal.SIGKILL)
                killed = True
                break
    finally:
        watchdog.cancel()
        process.wait()
    assert killed, f"{task!r} never reported changed on {host}:\n{''.join(output)[-3000:]}"
    assert process.returncode == -signal.SIGKILL
    assert "RUNNING HANDLER" not in "".join(output), "a handler ran before the kill"


def converge_changed(extra_vars, host="mx1"):
    """A site.yml run on ``host`` that succeeds; the number of changed tasks."""
    result = site_with(extra_vars, limit=host)
    assert result.returncode == 0, result.stdout[-4000:]
    recap = result.stdout[result.stdout.index("PLAY RECAP"):]
    return int(recap.split("changed=")[1].split()[0])


def postfix_checks(host):
    assert host.run("postfix check", check=False).returncode == 0, "postfix check fails"


def listening(address, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        return probe.connect_ex((address, port)) == 0


def crash_and_repair(host, task, extra_vars, old, new, checks=postfix_checks):
    """The whole cycle; ``old()`` and ``new()`` tell what the running service does."""
    try:
        killed_after(task, extra_vars, host.name)
        checks(host)
        assert old(), "the killed run already applied the change: the case proves nothing"
        assert converge_changed(extra_vars, host.name) > 0, "the repairing run reported nothing"
        wait_until(new, "the service runs the new configuration")
        checks(host)
        assert converge_changed(extra_vars, host.name) == 0, "the run after the repair is not changed=0"
    finally:
        restored = site_with({}, limit=host.name)
        assert restored.returncode == 0, restored.stdout[-3000:]
    checks(host)


def test_a_master_cf_change_ends_up_listening(lab):
    mx1 = lab["mx1"]
    # As on a host before sasl_auth was applied: no submission service.
    mx1.run("postconf -MX submission/inet && postfix reload")
    wait_until(lambda: not listening(mx1.address, 587), "port 587 closed")
    crash_and_repair(mx1, "sasl_auth : Configure the submission service", {},
                     old=lambda: not listening(mx1.address, 587), new=lambda: listening(mx1.address, 587))


def test_a_main_cf_change_that_needs_a_restart_is_applied(lab):
    mx1 = lab["mx1"]
    ipv6_smtp = "ss -Hltn 'sport = :25' | grep -c '\\[::\\]:25' || true"
    assert mx1.run(ipv6_smtp).stdout.strip() == "1", "the lab MX does not listen on IPv6: the case proves nothing"
    crash_and_repair(mx1, "postfix : Configure main.cf", {"postfix_inet_protocols": "ipv4"},
                     old=lambda: mx1.run(ipv6_smtp).stdout.strip() == "1",
                     new=lambda: mx1.run(ipv6_smtp).stdout.strip() == "0")


def test_a_clamav_milter_change_is_applied(lab, marker):
    mx1 = lab["mx1"]

    def rejection():
        transcript = send(lab, mx1, message(marker, EICAR))
        code, text = last_reply(transcript)
        assert transcript[-1]["send"] == "<message>" and code == 550 and SIGNATURE in text, transcript
        return text

    crash_and_repair(mx1, "antivirus : Configure clamav-milter", {"antivirus_reject_message": "Crash test: %v"},
                     old=lambda: "Rejected: infected with" in rejection(),
                     new=lambda: "Crash test: " in rejection())


def test_a_postgrey_option_change_is_applied(lab):
    mx1 = lab["mx1"]

    def delay():
        return mx1.run("pgrep -af '^postgrey '", check=False).stdout

    crash_and_repair(mx1, "greylisting : Configure postgrey's options", {"greylisting_delay": 7},
                     old=lambda: "--delay=5" in delay(), new=lambda: "--delay=7" in delay())


def test_a_database_access_change_is_applied(lab):
    """pg_hba.conf needs a reload, which leaves the unit's start time alone: the stamp tells."""
    greydb = lab["greydb"]
    clients = [lab[name].address for name in ("mx1", "mx2")]

    def loaded_after_the_file():
        shown = greydb.run("stat -c %Y /etc/postgresql/*/main/pg_hba.conf; "
                           "runuser -u postgres -- psql -Atc 'select extract(epoch from pg_conf_load_time())::int'"
                           ).stdout.split()
        return int(shown[1]) >= int(shown[0])

    def database_runs(host):
        assert host.run("pg_lsclusters --no-header | grep -qw online", check=False).returncode == 0, "not online"

    crash_and_repair(greydb, "greylist_db : Let the MX hosts in", {"greylist_db_clients": clients + ["198.18.0.20"]},
                     old=lambda: not loaded_after_the_file(), new=loaded_after_the_file, checks=database_runs)


def test_a_fail2ban_jail_change_is_applied(lab):
    """The jail needs a reload, which leaves fail2ban's start time alone: the stamp tells."""
    mx1 = lab["mx1"]

    def maxretry():
        return mx1.run("fail2ban-client get postfix-sasl maxretry").stdout.strip()

    def fail2ban_runs(host):
        assert host.run("fail2ban-client --test && systemctl is-active --quiet fail2ban",
                        check=False).returncode == 0, "fail2ban's configuration fails or fail2ban is not running"

    crash_and_repair(mx1, "fail2ban : Write the jail and fail2ban's log target", {"fail2ban_maxretry": 4},
                     old=lambda: maxretry() == "3", new=lambda: maxretry() == "4", checks=fail2ban_runs)
