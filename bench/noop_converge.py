"""Measure a no-op converge of site.yml on the lab's mail hosts (see noop_converge)."""
import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
TARGET_SECONDS_PER_HOST = 8.0
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def playbook(env):
    """(wall seconds, controller CPU seconds (user, sys), output) of one site.yml run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run([str(TOP / ".venv/bin/ansible-playbook"), "site.yml"], cwd=TOP, env=env,
                            capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"site.yml failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    # ansible-playbook and its forks, ssh included: what the run cost this machine's CPU.
    return elapsed, (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime), result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reuse", action="store_true", help="the lab is already up and converged")
    args = parser.parse_args()
    env = {**os.environ, "ANSIBLE_CONFIG": str(TOP / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
           "PATH": f"{TOP / '.venv/bin'}:{os.environ['PATH']}"}
    if not args.reuse:
        subprocess.run([str(TOP / "lab/lab"), "up"], check=True)
        first, _, _ = playbook(env)
        print(f"first converge: {first:.1f} s")
    elapsed, (user, system), output = playbook(env)
    recap = {m.group(1): m.groups()[1:] for m in RECAP.finditer(output)}
    tasks = len(re.findall(r"^TASK \[", output, re.M))
    handlers = len(re.findall(r"^RUNNING HANDLER \[", output, re.M))
    hosts = len(recap)
    changed = sum(int(values[1]) for values in recap.values())
    # Hosts converge in parallel, so each host's run lasted at most the wall
    # time: comparing the wall time with the per-host target is the safe side.
    per_host = elapsed
    print(f"no-op converge of site.yml: {elapsed:.2f} s wall for {hosts} hosts (run in parallel), "
          f"{tasks} tasks, {handlers} handlers, changed={changed}")
    print(f"  per host: at most {per_host:.2f} s; target {TARGET_SECONDS_PER_HOST:.0f} s per host: "
          f"ratio {per_host / TARGET_SECONDS_PER_HOST:.2f} of the target")
    print(f"  per task: {elapsed / tasks:.2f} s" if tasks else "  no tasks ran")
    print(f"  controller CPU: {user:.1f} s user + {system:.1f} s sys; the rest of the wall time is the "
          f"modules running on the hosts (which share this machine's cores in the lab) and waiting")
    if changed:
        print("  warning: the re-run changed something; it was not a no-op")


if __name__ == "__main__":
    main()
