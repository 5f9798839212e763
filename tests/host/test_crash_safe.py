"""A converge that never lies (issue 12, point 1): after a run killed with SIGKILL right after a
changed task, before its handler or restart could run, the next run brings the running service in
line with its files, and the run after that reports changed=0. `postfix check` passes throughout.

Each case first makes a service run something other than the inventory says (edited by hand and
loaded, as on a host that drifted or predates a role), runs site.yml on that host (mx1; greydb
for PostgreSQL) and kills ansible-playbook (its whole process group) as soon as the named task
reports `changed`, checks that the service still runs the old configuration (so the case really
tests something), converges again, checks that the service now runs the inventory's, and
converges once more for changed=0, which also shows the lab restored. Services of mx1 whose
change waits for a handler share one killed run: it is killed after the last of their tasks,
each of which must have reported changed before it. A role that restarts its service within the
role (postgrey, clamav-milter) ends the cases it can share.
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


def killed_after(tasks, extra_vars, host="mx1"):
    """site.yml on ``host``, SIGKILLed when the last of ``tasks`` (as ansible prints them, "role : name", in
    the run's order) reports changed; each of the others must have reported changed before."""
    process = subprocess.Popen(
        [str(TOP / ".venv/bin/ansible-playbook"), "site.yml", "--limit", host, "-e", json.dumps(extra_vars)],
        cwd=TOP, env=project_ansible_env(PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    watchdog = threading.Timer(RUN_BOUND, lambda: os.killpg(process.pid, signal.SIGKILL))
    watchdog.start()
    output, current, changed, killed = [], None, [], False
    try:
        for line in process.stdout:
            output.append(line)
            if line.startswith("TASK ["):
                current = next((task for task in tasks if line.startswith(f"TASK [{task}]")), None)
            elif current and line.startswith(f"changed: [{host}]"):
                changed.append(current)
                if current == tasks[-1]:
                    os.killpg(process.pid, signal.SIGKILL)
                    killed = True
                    break
    finally:
        watchdog.cancel()
        process.wait()
    assert killed, f"{tasks[-1]!r} never reported changed on {host}:\n{''.join(output)[-3000:]}"
    assert process.returncode == -signal.SIGKILL
    assert changed == list(tasks), f"changed before the kill, in order: {changed}, wanted {list(tasks)}"
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


def crash_and_repair(host, changes, extra_vars=None, checks=postfix_checks):
    """The whole cycle. ``changes``: (task, old, new) in the run's order; ``old()`` and ``new()`` tell what
    the running service does."""
    extra_vars, completed = extra_vars or {}, False
    try:
        killed_after([task for task, _, _ in changes], extra_vars, host.name)
        checks(host)
        for task, old, _ in changes:
            assert old(), f"the killed run already applied {task!r}: the case proves nothing"
        assert converge_changed(extra_vars, host.name) > 0, "the repairing run reported nothing"
        for task, _, new in changes:
            wait_until(new, f"the service runs the configuration of {task!r}")
        checks(host)
        assert converge_changed(extra_vars, host.name) == 0, "the run after the repair is not changed=0"
        completed = True
    finally:
        # With the inventory's own variables, the changed=0 run above showed the host restored.
        if extra_vars or not completed:
            restored = site_with({}, limit=host.name)
            assert restored.returncode == 0, restored.stdout[-3000:]
    checks(host)


IPV6_SMTP = "ss -Hltn 'sport = :25' | grep -c '\\[::\\]:25' || true"


def test_master_cf_and_fail2ban_changes_are_applied(lab):
    mx1 = lab["mx1"]
    # As on a host before sasl_auth was applied: no submission service.
    mx1.run("postconf -MX submission/inet && postfix reload")
    wait_until(lambda: not listening(mx1.address, 587), "port 587 closed")
    # A jail that bans after 5 failures, loaded (the inventory says 3).
    mx1.run("sed -i 's/^maxretry = 3$/maxretry = 5/' /etc/fail2ban/jail.d/mailforge.conf && fail2ban-client reload")

    def maxretry():
        return mx1.run("fail2ban-client get postfix-sasl maxretry").stdout.strip()

    def everything_runs(host):
        postfix_checks(host)
        assert host.run("fail2ban-client --test && systemctl is-active --quiet fail2ban",
                        check=False).returncode == 0, "fail2ban's configuration fails or fail2ban is not running"

    crash_and_repair(mx1, [
        ("sasl_auth : Configure the submission service",
         lambda: not listening(mx1.address, 587), lambda: listening(mx1.address, 587)),
        ("fail2ban : Write the jail and fail2ban's log target", lambda: maxretry() == "5", lambda: maxretry() == "3"),
    ], checks=everything_runs)


def test_main_cf_needing_a_restart_and_postgrey_changes_are_applied(lab):
    mx1 = lab["mx1"]
    assert mx1.run(IPV6_SMTP).stdout.strip() == "1", "the lab MX does not listen on IPv6: the case proves nothing"
    mx1.run("postconf -e inet_protocols=ipv4 && systemctl restart postfix")
    wait_until(lambda: mx1.run(IPV6_SMTP).stdout.strip() == "0", "Postfix on IPv4 alone")
    mx1.run("sed -i 's/--delay=5 /--delay=7 /' /etc/default/postgrey && systemctl restart postgrey")

    def postgrey():
        return mx1.run("pgrep -af '^postgrey '", check=False).stdout

    crash_and_repair(mx1, [
        ("postfix : Configure main.cf",
         lambda: mx1.run(IPV6_SMTP).stdout.strip() == "0", lambda: mx1.run(IPV6_SMTP).stdout.strip() == "1"),
        ("greylisting : Configure postgrey's options and local whitelists",
         lambda: "--delay=7" in postgrey(), lambda: "--delay=5" in postgrey()),
    ])


def test_a_clamav_milter_change_is_applied(lab, marker):
    mx1 = lab["mx1"]
    mx1.run("sed -i 's/^RejectMsg .*/RejectMsg Crash test: %v/' /etc/clamav/clamav-milter.conf "
            "&& systemctl restart clamav-milter")

    def rejection():
        """The text of the refusal at DATA of a message carrying EICAR (what else happened, if not refused)."""
        transcript = send(lab, mx1, message(marker, EICAR))
        code, text = last_reply(transcript)
        refused = transcript[-1]["send"] == "<message>" and code == 550 and SIGNATURE in text
        return text if refused else f"not refused as infected: {transcript}"

    wait_until(lambda: "Crash test: " in rejection(), "clamav-milter rejecting with the edited text")
    crash_and_repair(mx1, [("antivirus : Write ClamAV's configuration and clamd's drop-ins",
                            lambda: "Crash test: " in rejection(),
                            lambda: "Rejected: infected with" in rejection())])


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

    crash_and_repair(greydb, [("greylist_db : Let the MX hosts in", lambda: not loaded_after_the_file(),
                               loaded_after_the_file)],
                     {"greylist_db_clients": clients + ["198.18.0.20"]}, checks=database_runs)
