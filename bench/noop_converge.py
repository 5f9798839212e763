"""Measure a no-op converge of site.yml on the lab's mail hosts (see noop_converge)."""
import argparse
import os
import re
import ipaddress
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from machine_cpu import CLOCK_TICKS, machine_ticks

TOP = Path(__file__).resolve().parents[1]
TARGET_SECONDS_PER_HOST = 8.0
# Extra MX hosts (--extra-mx) get addresses from here on; the lab's own hosts sit below.
EXTRA_MX_FIRST_ADDRESS = ipaddress.ip_address("198.18.0.60")
EXTRA_MX_MAX = 30
FLEET_RATIO_TARGET = 2.5
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def machine_cpu():
    """(busy, all) CPU seconds of this machine since boot, every core."""
    busy, available, _ = machine_ticks()
    return busy / CLOCK_TICKS, available / CLOCK_TICKS


def playbook(env, *arguments):
    """(wall seconds, controller CPU seconds (user, sys), output, machine CPU (busy, all)) of one site.yml run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_before = machine_cpu()
    started = time.monotonic()
    result = subprocess.run([str(TOP / ".venv/bin/ansible-playbook"), "site.yml", *arguments], cwd=TOP, env=env,
                            capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_after = machine_cpu()
    if result.returncode != 0:
        sys.exit(f"site.yml failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    # ansible-playbook and its forks, ssh included: the controller's CPU. The machine's, over
    # the same time, adds what the lab hosts (on the same cores) spent running the modules.
    return (elapsed, (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime), result.stdout,
            (machine_after[0] - machine_before[0], machine_after[1] - machine_before[1]))


def extended_inventory(directory, extra):
    """A copy of the lab inventory with ``extra`` more Debian 12 MX hosts; the path of its hosts.yml."""
    shutil.copytree(TOP / "inventory/lab", directory, dirs_exist_ok=True)
    hosts_file = Path(directory) / "hosts.yml"
    inventory = yaml.safe_load(hosts_file.read_text())
    mx_hosts = inventory["all"]["children"]["mail_servers"]["children"]["mx_hosts"]["hosts"]
    for number in range(1, extra + 1):
        mx_hosts[f"mxe{number}"] = {"ansible_host": str(EXTRA_MX_FIRST_ADDRESS + number - 1),
                                    "lab_suite": "bookworm", "lab_fqdn": f"mxe{number}.falcot.test"}
    hosts_file.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return hosts_file


def boot_and_converge(env):
    """The lab up (as env's inventory says), its DKIM keys made, one converge; its wall time."""
    subprocess.run([str(TOP / "lab/lab"), "up"], check=True, env=env)
    subprocess.run(["bash", str(TOP / "scripts/lab-dkim-keys")], check=True, env=env, capture_output=True)
    return playbook(env)[0]


def changed_tasks(output):
    """changed= summed over the hosts of one run's recap."""
    return sum(int(match.group(3)) for match in RECAP.finditer(output))


def median_run(runs):
    """The run of median wall time among ``runs`` (playbook() results): its figures are one run's."""
    return sorted(runs, key=lambda run: run[0])[len(runs) // 2]


def report(label, runs, target_per_host=None):
    """Print the figures of the median of ``runs`` (no-op runs of one configuration); return its wall time."""
    elapsed, cpu, output, machine = median_run(runs)
    user, system = cpu
    busy, available = machine
    recap = {m.group(1): m.groups()[1:] for m in RECAP.finditer(output)}
    tasks = len(re.findall(r"^TASK \[", output, re.M))
    handlers = len(re.findall(r"^RUNNING HANDLER \[", output, re.M))
    changed = changed_tasks(output)
    mx = sorted(name for name in recap if name.startswith("mx"))
    print(f"{label}: {len(recap)} hosts ({len(mx)} MX), {tasks} tasks, {handlers} handlers, changed={changed}")
    print(f"  wall time: {elapsed:.2f} s ({elapsed / tasks:.2f} s per task)" if tasks else "  no tasks ran")
    if len(runs) > 1:
        print(f"  median of {len(runs)} runs: " + ", ".join(f"{run[0]:.2f}" for run in runs) + " s; the figures "
              f"below are the median run's")
    print(f"  controller CPU: {user:.1f} s user + {system:.1f} s sys; the rest of the wall time is the "
          f"modules running on the hosts (which share this machine's cores in the lab) and waiting")
    # Near 100% the run is bound by this machine's cores, which the controller and every lab
    # host share: more hosts then cost wall time in proportion to their CPU.
    print(f"  machine CPU: {busy:.1f} s busy of {available:.1f} s on {os.cpu_count()} cores "
          f"({100 * busy / available:.0f}%); the lab hosts' share: {max(busy - user - system, 0):.1f} s")
    if target_per_host:
        # Two readings of "per host": the hosts converge in parallel, so each
        # host's run lasted at most the wall time (the strict one); and the wall
        # time shared out over the hosts, which is how the cost grows with the
        # fleet on one controller (the shared one).
        print(f"  per host, strict: at most {elapsed:.2f} s; target {target_per_host:.0f} s: "
              f"ratio {elapsed / target_per_host:.2f} of the target")
        print(f"  per host, shared: {elapsed / len(recap):.2f} s (wall / {len(recap)} hosts); target "
              f"{target_per_host:.0f} s: ratio {elapsed / len(recap) / target_per_host:.2f} of the target")
    changed_runs = [run for run in runs if changed_tasks(run[2])]
    if changed_runs:
        print(f"  warning: {len(changed_runs)} of the runs changed something; not a no-op")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reuse", action="store_true", help="the lab is already up and converged")
    parser.add_argument("--extra-mx", type=int, default=0, metavar="N",
                        help="boot the lab with N more MX hosts (Debian 12) and compare the fleet's no-op "
                             "with one MX's; with --reuse, the lab runs them already and is converged")
    parser.add_argument("--repeat", type=int, default=3, metavar="N",
                        help="no-op runs of each configuration (the median is printed; with --extra-mx "
                             "the configurations take turns, so that a slow spell of the machine hits each)")
    args = parser.parse_args()
    if not 0 <= args.extra_mx <= EXTRA_MX_MAX:
        parser.error(f"--extra-mx takes 0 to {EXTRA_MX_MAX}")
    if not 1 <= args.repeat <= 9:
        parser.error("--repeat takes 1 to 9")
    env = {**os.environ, "ANSIBLE_CONFIG": str(TOP / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_VAULT_PASSWORD_FILE": os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE", str(TOP / "lab/vault-pass")),
           "PATH": f"{TOP / '.venv/bin'}:{os.environ['PATH']}"}
    if args.extra_mx:
        with tempfile.TemporaryDirectory(prefix="noop-fleet-") as directory:
            hosts_file = extended_inventory(directory, args.extra_mx)
            env = {**env, "MAILFORGE_LAB_INVENTORY": str(hosts_file), "ANSIBLE_INVENTORY": str(hosts_file)}
            if not args.reuse:
                print(f"first converge with {args.extra_mx} extra MX: {boot_and_converge(env):.1f} s")
            # The same fleet, the run limited to one MX (and the hosts that are not MX); the lab's
            # own fleet (two MX), for the per-host target; every MX.
            limits = {"one": ["--limit", "greylist_db:mailbox_hosts:mx1"],
                      "two": ["--limit", "greylist_db:mailbox_hosts:mx1:mx2"], "every": []}
            runs = {name: [] for name in limits}
            for _ in range(args.repeat):
                for name, limit in limits.items():
                    runs[name].append(playbook(env, *limit))
            one = report("no-op, one MX (--limit)", runs["one"])
            report("no-op, the lab's two MX (--limit)", runs["two"], target_per_host=TARGET_SECONDS_PER_HOST)
            every = report("no-op, every MX", runs["every"])
        print(f"fleet ratio: {every / one:.2f} (target at most {FLEET_RATIO_TARGET} with 8 MX)")
        print("the lab still runs the extra MX hosts: `lab/lab up` or `lab/lab down` removes them")
        return
    if not args.reuse:
        print(f"first converge: {boot_and_converge(env):.1f} s")
    report("no-op converge of site.yml", [playbook(env) for _ in range(args.repeat)],
           target_per_host=TARGET_SECONDS_PER_HOST)


if __name__ == "__main__":
    main()
