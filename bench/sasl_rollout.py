"""SASL user rollout on the lab: the sasldb_users module against the Handbook's saslpasswd2 loop.

All numbers come from one run on the same lab hosts:
  - the Handbook's way on mx1: one `saslpasswd2 -c` per user, into a scratch database;
  - the module on mx1, end to end (ansible-playbook playbooks/sasl_users.yml) and on the host
    alone (the same module run again on mx1 without the controller, see host_side_seconds);
  - an unchanged re-run, end to end and on the host;
  - every lab MX at once, end to end;
  - the same rollouts with pyinfra (python -m pyinfra_mailforge sasl-users), 1 MX and every MX,
    changed and unchanged, beside the Ansible ones.
Ratios are printed against the saslpasswd2 loop (targets: at least 100 times faster, unchanged
re-run at most 2 s per host).
"""
import argparse
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "lab"))

from labkit.remote import lab_hosts  # noqa: E402
from labkit.run import project_ansible_env  # noqa: E402

DATABASE = "/var/spool/postfix/etc/sasldb2"
SCRATCH = "/root/bench-saslpasswd2"
TARGET_SPEEDUP = 100
TARGET_UNCHANGED_SECONDS = 2.0


def rollout(users_file, hosts, **env):
    started = time.monotonic()
    result = subprocess.run([str(TOP / ".venv/bin/ansible-playbook"), "playbooks/sasl_users.yml",
                             "-e", f"sasl_users_file={users_file}", "-e", f"sasl_users_hosts={hosts}"],
                            cwd=TOP, env=project_ansible_env(**env), capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"rollout failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    reports = re.findall(r'msg: (\d+ added, \d+ changed, \d+ removed, \d+ unchanged)', result.stdout)
    return elapsed, reports


def pyinfra_rollout(users_file, hosts):
    """The pyinfra rollout of the same file to the hosts of an Ansible pattern: (seconds, host reports)."""
    started = time.monotonic()
    result = subprocess.run([str(TOP / ".venv/bin/python"), "-m", "pyinfra_mailforge", "sasl-users",
                             "--users-file", str(users_file), "--hosts", hosts],
                            cwd=TOP, env=project_ansible_env(), capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"pyinfra rollout failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return elapsed, re.findall(r'^\w+: (?:unchanged|changed: .*)$', result.stdout, re.M)


def timed_on(host, command, stdin=None, timeout=1800):
    """Seconds that ``command`` took on the host itself, measured there."""
    script = f"s=$(date +%s.%N); {command}; rc=$?; e=$(date +%s.%N); echo \"$rc $s $e\""
    result = host.run(script, stdin=stdin, timeout=timeout)
    rc, start, end = result.stdout.split()[-3:]
    if rc != "0":
        sys.exit(f"{host.name}: {command!r} exited {rc}: {result.stderr[-2000:]}")
    return float(end) - float(start)


def saslpasswd2_loop(host, users, realm):
    lines = "".join(f"{name}\t{password}\n" for name, password in users)
    host.run(f"rm -f {SCRATCH}")
    seconds = timed_on(host, "while IFS=$'\\t' read -r user password; do "
                             f"printf '%s' \"$password\" | saslpasswd2 -p -c -f {SCRATCH} -u {realm} \"$user\" "
                             "|| exit 1; done", stdin=lines)
    count = host.run(f"sasldblistusers2 -f {SCRATCH} | wc -l").stdout.strip()
    host.run(f"rm -f {SCRATCH}")
    return seconds, int(count)


def host_side_seconds(host, users_file):
    """The module alone on the host: Ansible leaves its self-contained module file there
    (ANSIBLE_KEEP_REMOTE_FILES, arguments included) and it is run again without the controller."""
    host.run(f"rm -rf /root/.ansible/tmp/ansible-tmp-* {DATABASE}")
    rollout(users_file, host.name, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="0")
    found = host.run("ls -t /root/.ansible/tmp/ansible-tmp-*/AnsiballZ_sasldb_users.py | head -n 1").stdout.strip()
    if not found:
        sys.exit("the module file was not left on the host")
    try:
        host.run(f"rm -f {DATABASE}")
        first = timed_on(host, f"python3 {shlex.quote(found)} > /dev/null")
        unchanged = timed_on(host, f"python3 {shlex.quote(found)} > /dev/null")
    finally:
        # The kept file holds the passwords.
        host.run("rm -rf /root/.ansible/tmp/ansible-tmp-*")
    return first, unchanged


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuse", action="store_true", help="the lab is already up and converged with site.yml")
    parser.add_argument("--users", type=int, default=10000, help="users to roll out (default 10000)")
    args = parser.parse_args()
    if not 1 <= args.users <= 100000:
        sys.exit("--users must be between 1 and 100000")
    if not args.reuse:
        subprocess.run([str(TOP / "lab/lab"), "up"], check=True)
        converge = subprocess.run([str(TOP / ".venv/bin/ansible-playbook"), "site.yml"], cwd=TOP,
                                  env=project_ansible_env(), capture_output=True, text=True, timeout=1800)
        if converge.returncode != 0:
            sys.exit(f"site.yml failed:\n{converge.stdout[-3000:]}")
    lab = lab_hosts()
    mx1, mail_hosts = lab["mx1"], [lab["mx1"], lab["mx2"]]
    users = [(f"user{index:05d}", secrets.token_urlsafe(12)) for index in range(args.users)]

    with tempfile.TemporaryDirectory(prefix="sasl-bench-") as workdir:
        users_file = Path(workdir) / "users.yml"
        users_file.write_text(yaml.safe_dump({
            "sasl_users_exclusive": True,
            "sasl_users": [{"name": name, "password": password} for name, password in users]}))
        users_file.chmod(0o600)
        n = args.users
        print(f"SASL rollout of {n} users (lab, Debian 12 mx1 and Debian 13 mx2)")

        loop, listed = saslpasswd2_loop(mx1, users, mx1.fqdn)
        print(f"  Handbook way on mx1, saslpasswd2 once per user: {loop:.2f} s ({listed} users listed, "
              f"{loop / n * 1000:.2f} ms per user)")

        mx1.run(f"rm -f {DATABASE}")
        end_to_end, reports = rollout(users_file, "mx1")
        print(f"  module on mx1, end to end (ansible-playbook): {end_to_end:.2f} s {reports}; "
              f"ratio {loop / end_to_end:.1f}x faster")
        unchanged, reports = rollout(users_file, "mx1")
        print(f"  unchanged re-run on mx1, end to end: {unchanged:.2f} s {reports}; target "
              f"{TARGET_UNCHANGED_SECONDS:.0f} s per host: ratio {unchanged / TARGET_UNCHANGED_SECONDS:.2f} of the target")

        first_host, unchanged_host = host_side_seconds(mx1, users_file)
        print(f"  module on mx1, on the host alone: {first_host:.2f} s; ratio {loop / first_host:.0f}x faster "
              f"(target {TARGET_SPEEDUP}x)")
        print(f"  unchanged re-run on the host alone: {unchanged_host:.2f} s")

        for host in mail_hosts:
            host.run(f"rm -f {DATABASE}")
        fleet, reports = rollout(users_file, "mail_servers")
        print(f"  every MX at once ({len(mail_hosts)} hosts), end to end: {fleet:.2f} s {reports}")
        for host in mail_hosts:
            host.run(f"rm -f {DATABASE}")
        py_first, reports = pyinfra_rollout(users_file, "mx1")
        print(f"  pyinfra on mx1, changed: {py_first:.2f} s {reports} (module end to end {end_to_end:.2f} s)")
        py_unchanged, reports = pyinfra_rollout(users_file, "mx1")
        print(f"  pyinfra on mx1, unchanged: {py_unchanged:.2f} s {reports} (module end to end {unchanged:.2f} s)")
        mx1.run(f"rm -f {DATABASE}")
        py_fleet, reports = pyinfra_rollout(users_file, "mx_hosts")
        fleet_unchanged, ansible_reports = rollout(users_file, "mail_servers")
        print(f"  pyinfra on every MX, changed: {py_fleet:.2f} s {reports} (module end to end {fleet:.2f} s)")
        py_fleet_unchanged, reports = pyinfra_rollout(users_file, "mx_hosts")
        print(f"  pyinfra on every MX, unchanged: {py_fleet_unchanged:.2f} s {reports} "
              f"(module end to end {fleet_unchanged:.2f} s {ansible_reports})")
        print(f"  summary: saslpasswd2 loop {loop:.2f} s | module end to end {end_to_end:.2f} s "
              f"({loop / end_to_end:.1f}x) | module on host {first_host:.2f} s ({loop / first_host:.0f}x) | "
              f"unchanged {unchanged:.2f} s end to end, {unchanged_host:.2f} s on host | pyinfra 1 MX {py_first:.2f} s, "
              f"unchanged {py_unchanged:.2f} s; every MX {py_fleet:.2f} s, unchanged {py_fleet_unchanged:.2f} s")


if __name__ == "__main__":
    main()
