"""Messages per second through a lab MX: fully configured against bare Postfix, stage by stage.

Lab-only tool. The load is Postfix's own smtp-source, run on this machine inside the network
namespace of the lab host `outside` (so it connects from 198.18.0.100, an Internet client),
from the postfix package of the lab's offline pool unpacked under the lab cache: nothing is
installed here. Every case sends --messages messages of --size bytes to postmaster@falcot.test
over --sessions reused SMTP sessions, and stops by itself (a bounded count, and a timeout).

For each MX the bench saves main.cf, then sets the filters stage by stage with `postconf -e`
and a reload (no converge between stages, so all stages see the same host), measures each,
and puts the saved main.cf back. While a stage is measured, defer_transports holds the relay to the
mailbox host, so the numbers are the MX's intake (its filters), not the fleet's delivery; the queue
is flushed and drained between stages. Each stage is the median of --repeat runs. Stages, cumulative:

  bare           no smtpd restrictions but the relay guard, no milter, no header/body checks
  restrictions   + the converged client/helo/sender/recipient/data restrictions and classes
  +<milter>      + each milter of the converged smtpd_milters in turn, in the chain's order
                   (clamav-milter; the verifying dkimpy-milter and opendmarc where deliverability
                   is on; outside is not in mynetworks, so smtpd_milter_maps never applies to it)
  checks         + header_checks and body_checks: this is the host as converged
  policy         + a policy query (greylisting service) for every recipient, which the
                   lab otherwise makes for greylisted@ only
  handbook       (not cumulative; only where deliverability is on) the Handbook's MX as converged:
                   the same restrictions without the SPF policy service, clamav-milter alone, the
                   header/body checks; the deliverability roles' cost is the gap to 'checks'

With --inet-milter, the bench also converges the MX to the Handbook's inet:10002 milter
socket, measures that configuration, and converges back. --end-to-end measures the rate at
which mail sent through mx1 lands in the mailbox host's mailbox (first message in to last
delivered). --flowing measures bare, the host as converged and handbook again with the relay running
during the load, each run starting with the MX's and the mailbox host's queues empty: the issue
measured bare Postfix that way (delivery beside the intake, on the same cores). Ratios are against
`bare` of the same host, measured in the same run and the same way. --cpu also prints, for
each intake stage, where the CPU went: milliseconds per message on this whole machine (busy cores,
from /proc/stat) and by process name (the lab hosts share this kernel), so that a stage's cost can
be read as the CPU its filter adds to every message. No threshold
is applied: the target (converged >= 0.8 of bare) is printed for reading.
"""
import argparse
import collections
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "lab"))

from labkit import config, fleet  # noqa: E402
from labkit.remote import lab_hosts  # noqa: E402
from labkit.run import project_ansible_env  # noqa: E402
from machine_cpu import CLOCK_TICKS, machine_ticks  # noqa: E402

TARGET = 0.8
RECIPIENT = "postmaster@falcot.test"
RESTRICTIONS = ("smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
                "smtpd_recipient_restrictions", "smtpd_data_restrictions")
CHECKS = ("header_checks", "body_checks")
# The spf_policy role's entry in the recipient restrictions (spf_policy_check), with the comma before it.
SPF_POLICY = re.compile(r",?\s*check_policy_service\s*\{\s*unix:private/policyd-spf[^}]*\}")
MAIN_CF = "/etc/postfix/main.cf"
SAVED = "/root/main.cf.bench-saved"


def smtp_source():
    """Path of smtp-source and its library directory, unpacked from the lab pool's postfix package."""
    target = config.CACHE / "smtp-source"
    binary = target / "usr/sbin/smtp-source"
    if not binary.exists():
        packages = sorted((config.CACHE / "repo" / "bookworm").glob("postfix_*_amd64.deb"))
        if not packages:
            sys.exit("no postfix package in the lab pool: run lab/lab up first")
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(packages[-1]), str(target)], check=True)
    return binary, target / "usr/lib/postfix"


def load(mx, messages, sessions, size, timeout, client="outside", sender="bench@elsewhere.test"):
    """Messages per second of one smtp-source run from the lab host ``client`` to ``mx``."""
    binary, libraries = smtp_source()
    source = next(host for host in fleet.load() if host.name == client)
    argv = ["ip", "netns", "exec", source.netns, "env", f"LD_LIBRARY_PATH={libraries}", str(binary),
            "-d", "-s", str(sessions), "-m", str(messages), "-l", str(size), "-f", sender,
            "-t", RECIPIENT, "-M", source.fqdn, "-S", "mx throughput bench", f"{mx.address}:25"]
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"smtp-source against {mx.name} failed ({result.returncode}): {result.stderr[-2000:]}")
    return messages / elapsed


# Where a stage's CPU goes (--cpu). The lab hosts share this machine's kernel, so /proc here
# sees their processes too: CPU time per process name, summed over the processes alive at the
# end of a run; what exited during it (smtp-source itself, for one) and the time the kernel
# spends on interrupts are in the machine's total (interrupts are printed on their own).
def process_times():
    """{(pid, name): CPU ticks} of every process on this machine; kernel worker threads under one name."""
    times = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        if name.startswith(("kworker/", "ksoftirqd/")):
            name = "kernel threads"
        times[(pid, name)] = int(fields[11]) + int(fields[12])
    return times


def children_ticks():
    """CPU ticks of this bench's finished child processes: the load, smtp-source, once it has exited."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((usage.ru_utime + usage.ru_stime) * CLOCK_TICKS)


class CpuProfile:
    """CPU milliseconds per message, by process name and in all, over the runs of one stage."""

    def __init__(self):
        self.by_name = collections.Counter()
        self.busy = 0
        self.interrupts = 0
        self.messages = 0

    def add(self, before, after, machine, messages, load_ticks):
        """Process times ``before`` and ``after`` a run of ``messages``, the machine's (busy,
        interrupts) ticks during it and the load's own ticks."""
        for key, ticks in after.items():
            self.by_name[key[1]] += ticks - before.get(key, 0)
        self.by_name["smtp-source (the load)"] += load_ticks
        self.busy += machine[0]
        self.interrupts += machine[1]
        self.messages += messages

    def per_message(self, ticks):
        return ticks * 1000 / CLOCK_TICKS / self.messages

    def summary(self, top=6):
        named = [(name, ticks) for name, ticks in self.by_name.most_common(top) if ticks > 0]
        rest = self.busy - self.interrupts - sum(ticks for _, ticks in named)
        parts = [f"{name} {self.per_message(ticks):.2f}" for name, ticks in named]
        return (f"{self.per_message(self.busy):.2f} CPU-ms/msg on this machine: " + ", ".join(parts)
                + f", interrupts {self.per_message(self.interrupts):.2f}"
                + f", the rest (other processes, exited ones) {self.per_message(rest):.2f}")


def postconf(mx, *names):
    values = {}
    for line in mx.run("postconf -n").stdout.splitlines():
        name, _, value = line.partition(" = ")
        if name in names:
            values[name] = value
    return values


def apply(mx, settings):
    """Set (value) or remove (None) main.cf parameters, then reload Postfix."""
    for name, value in settings.items():
        if value is None:
            mx.run(f"postconf -X {name}", check=False)
        else:
            mx.run(f"postconf -e {shlex.quote(name + '=' + value)}")
    mx.run("postfix check && postfix reload")


# The bench's own senders: mail that others left in the queue (a test's deliberately
# deferred message) is not the bench's to wait for.
SENDERS = ("bench@elsewhere.test", "bench@falcot.test")


def queued_mail(mx):
    """The bench's messages in the queue, leaving out files that smtpd has not finished (incoming,
    no recipient yet)."""
    entries = [json.loads(line) for line in mx.run("postqueue -j").stdout.splitlines() if line.strip()]
    return [entry for entry in entries
            if entry["sender"] in SENDERS and (entry["recipients"] or entry["queue_name"] != "incoming")]


def wait_for_empty_queue(mx, bound=120.0):
    deadline = time.monotonic() + bound
    flushed = time.monotonic()
    while queued_mail(mx):
        if time.monotonic() > deadline:
            sys.exit(f"{mx.name}: the queue did not drain within {bound:.0f} s")
        # A flush asked for while qmgr restarts (right after a reload) can be lost, and the
        # deferred mail would then wait for the next queue run (queue_run_delay, 300 s): ask again.
        if time.monotonic() - flushed > 10:
            mx.run("postqueue -f")
            flushed = time.monotonic()
        time.sleep(1)


def milter_entries(value):
    """The entries of a milter list, a { socket, option=... } entry kept whole."""
    return [entry.strip() for entry in re.findall(r"\{[^}]*\}|[^,\s{}]+", value or "")]


def milter_name(milter):
    """A short name for a milter entry: unix:/clamav/clamav-milter.ctl -> clamav-milter (the same in { })."""
    socket = milter.strip("{} ").split(",")[0].strip()
    return Path(socket.rsplit(":", 1)[-1]).stem if socket.startswith("unix:") else socket


def stages(mx):
    """(name, settings) for each cumulative stage, from the host's converged main.cf."""
    converged = postconf(mx, *RESTRICTIONS, "smtpd_milters", *CHECKS, "greylisting")
    policy = converged.get("greylisting") or "check_policy_service inet:127.0.0.1:10023"
    bare = {name: None for name in RESTRICTIONS + ("smtpd_milters",) + CHECKS}
    steps = [("bare", bare)]
    steps.append(("restrictions", {name: converged.get(name) for name in RESTRICTIONS}))
    # One stage per milter of the converged chain (ClamAV, then DKIM and DMARC where on), each
    # adding its milter to the ones before it.
    chain = milter_entries(converged.get("smtpd_milters"))
    for count, milter in enumerate(chain, start=1):
        steps.append((f"+{milter_name(milter)}", {"smtpd_milters": ", ".join(chain[:count])}))
    steps.append(("checks", {name: converged.get(name) for name in CHECKS}))
    recipient = converged.get("smtpd_recipient_restrictions", "")
    steps.append(("policy", {"smtpd_recipient_restrictions": f"{recipient}, {policy}" if recipient else policy}))
    # The Handbook's MX (its restrictions and classes, clamav-milter, header/body checks) without
    # what the deliverability roles add (the SPF policy service, the DKIM verifier, OpenDMARC):
    # every setting given, since it is not a step on from the stage before.
    handbook = {name: SPF_POLICY.sub("", converged.get(name) or "").strip(" ,") or None for name in RESTRICTIONS}
    handbook["smtpd_milters"] = ", ".join(m for m in chain if milter_name(m) == "clamav-milter") or None
    handbook.update({name: converged.get(name) for name in CHECKS})
    if handbook != dict(converged_filters(converged), smtpd_milters=converged.get("smtpd_milters")):
        steps.append(("handbook", handbook))
    return steps


def converged_filters(converged):
    """The converged restrictions and header/body checks (the handbook stage is left out when it equals them)."""
    return {name: converged.get(name) for name in RESTRICTIONS + CHECKS}


def measure_cases(mx, cases, args, flowing_to=None, profiles=None, **sender):
    """{case: median msg/s} of each (case, main.cf settings) in turn on ``mx``, its main.cf put back after.

    Intake only, unless ``flowing_to`` (the mailbox host) is given: then the mail is relayed and
    delivered as it comes in, and each run starts with both queues empty. With ``profiles`` (a
    dict), the CPU of each case's counted runs is added to profiles[case] (CpuProfile)."""
    mx.run(f"cp -p {MAIN_CF} {SAVED}")
    rates = {}
    try:
        for name, settings in cases:
            apply(mx, dict(settings, defer_transports=None))
            mx.run("postqueue -f")
            wait_for_empty_queue(mx)
            if flowing_to is None:
                # Intake only: the relay to the mailbox host waits until the case is measured, so
                # its CPU (on the same cores) does not blur the cost of the filters.
                apply(mx, {"defer_transports": "relay"})
            runs = []
            for run in range(args.repeat + 1):
                if flowing_to is not None:
                    wait_for_empty_queue(mx)
                    wait_for_empty_queue(flowing_to)
                # The first run, of at most 100 messages, warms up and is not counted.
                # Only a counted run with --cpu reads /proc (every process) around the load.
                profiling = run and profiles is not None
                if profiling:
                    before, machine, load_ticks = process_times(), machine_ticks(), children_ticks()
                rate = load(mx, args.messages if run else min(100, args.messages), args.sessions, args.size,
                            args.timeout, **sender)
                if run:
                    runs.append(rate)
                if profiling:
                    busy, _, interrupts = machine_ticks()
                    profiles.setdefault(name, CpuProfile()).add(
                        before, process_times(), (busy - machine[0], interrupts - machine[2]),
                        args.messages, children_ticks() - load_ticks)
            runs.sort()
            rates[name] = runs[len(runs) // 2]
    finally:
        mx.run(f"cp -p {SAVED} {MAIN_CF} && rm -f {SAVED} && postfix check && postfix reload && postqueue -f")
        wait_for_empty_queue(mx, bound=300.0)
    return rates


def measure_host(mx, args, profiles=None):
    """[(stage, msg/s)] of the intake stages, from outside."""
    return list(measure_cases(mx, stages(mx), args, profiles=profiles).items())


def measure_flowing(mx, mbox, args):
    """[(stage, msg/s)] of bare, the host as converged and (where deliverability is on) the Handbook's
    MX, from outside, with the mail relayed to ``mbox`` and delivered there as it comes in: how the
    issue measured bare Postfix (376 msg/s, delivery running beside the intake)."""
    chosen = [(name, settings) for name, settings in stages(mx) if name in ("bare", "handbook")]
    converged = postconf(mx, *RESTRICTIONS, "smtpd_milters", *CHECKS)
    cases = chosen[:1] + [("checks", {name: converged.get(name) for name in RESTRICTIONS + ("smtpd_milters",) + CHECKS})]
    return list(measure_cases(mx, cases + chosen[1:], args, flowing_to=mbox).items())


def measure_signing(mx, args):
    """(rate without milters, rate as converged) of company mail from `office` (mynetworks), which
    the DKIM signer signs: the signing path, where the intake stages above measure verification.
    office's chain is the one smtpd_milter_maps gives mynetworks (the signer's), so "no milter"
    takes the map out as well."""
    converged = postconf(mx, "smtpd_milters", "smtpd_milter_maps")
    cases = [("no milter", {"smtpd_milters": None, "smtpd_milter_maps": None}),
             ("converged", {name: converged.get(name) for name in ("smtpd_milters", "smtpd_milter_maps")})]
    return measure_cases(mx, cases, args, client="office", sender="bench@falcot.test")


def converge(extra_vars, limit):
    result = subprocess.run([str(TOP / ".venv/bin/ansible-playbook"), "site.yml", "--limit", limit,
                             "-e", json.dumps(extra_vars)], cwd=TOP, env=project_ansible_env(),
                            capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        sys.exit(f"site.yml failed:\n{result.stdout[-3000:]}")


def end_to_end(lab, args):
    """Messages per second from the first sent through mx1 to the last in the mailbox host's mailbox."""
    mx1, mbox = lab["mx1"], lab["mbox"]
    wait_for_empty_queue(mx1)
    before = int(mbox.run("grep -c '^Subject: mx throughput bench' /var/mail/root || true").stdout.strip() or 0)
    started = time.monotonic()
    load(mx1, args.messages, args.sessions, args.size, args.timeout)
    deadline = started + args.timeout
    while True:
        count = int(mbox.run("grep -c '^Subject: mx throughput bench' /var/mail/root || true").stdout.strip() or 0)
        if count - before >= args.messages:
            return args.messages / (time.monotonic() - started)
        if time.monotonic() > deadline:
            sys.exit(f"only {count - before} of {args.messages} messages reached mbox within {args.timeout} s")
        time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--timeout", type=int, default=300, help="seconds one load run may take at most")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage; the median is printed")
    parser.add_argument("--hosts", default="mx1,mx2")
    parser.add_argument("--inet-milter", action="store_true",
                        help="also measure the Handbook's inet:10002 milter socket (converges twice)")
    parser.add_argument("--end-to-end", action="store_true", help="also measure mx1 -> mailbox host delivery")
    parser.add_argument("--flowing", action="store_true",
                        help="also measure bare, converged and handbook with the relay to the mailbox host "
                             "running during the load (the issue's own way of measuring bare Postfix)")
    parser.add_argument("--cpu", action="store_true",
                        help="also print, for each intake stage, the CPU milliseconds per message on this "
                             "machine and the processes that spent most of them")
    parser.add_argument("--signing", action="store_true",
                        help="also measure company mail from office (signed by the DKIM milter) against no milter")
    args = parser.parse_args()
    if not 0 < args.messages <= 20000 or not 0 < args.sessions <= 50 or not 0 < args.repeat <= 9:
        sys.exit("--messages must be 1-20000, --sessions 1-50 and --repeat 1-9")
    lab = lab_hosts()
    print(f"{args.messages} messages of {args.size} bytes over {args.sessions} reused sessions, from outside, "
          f"to {RECIPIENT}, median of {args.repeat} runs; intake rate (relay to the mailbox host held meanwhile); "
          f"ratio to bare Postfix on the same host (target for 'checks', the converged host: >= {TARGET})")
    for name in args.hosts.split(","):
        mx = lab[name]
        milter = postconf(mx, "smtpd_milters").get("smtpd_milters", "none")
        print(f"\n{name} (milter: {milter})")
        profiles = {} if args.cpu else None
        results = measure_host(mx, args, profiles)
        bare = results[0][1]
        for stage, rate in results:
            print(f"  {stage:15} {rate:8.1f} msg/s   {rate / bare:5.2f} of bare")
            if profiles:
                print(f"  {'':15} {profiles[stage].summary()}")
        if args.inet_milter:
            converge({"antivirus_milter_socket": "inet:10002@127.0.0.1"}, name)
            try:
                inet = measure_host(mx, args)
            finally:
                converge({}, name)
            print(f"  with the Handbook's inet:10002 milter socket (bare {inet[0][1]:.1f} msg/s):")
            for stage, rate in inet[1:]:
                print(f"  {stage:15} {rate:8.1f} msg/s   {rate / inet[0][1]:5.2f} of bare")
        if args.flowing:
            flowing = measure_flowing(mx, lab["mbox"], args)
            print(f"  with the mail relayed to mbox and delivered as it comes in (bare {flowing[0][1]:.1f} msg/s):")
            for stage, rate in flowing[1:]:
                print(f"  {stage:15} {rate:8.1f} msg/s   {rate / flowing[0][1]:5.2f} of bare")
        if args.signing:
            rates = measure_signing(mx, args)
            print(f"  signing path, from office as bench@falcot.test: {rates['converged']:.1f} msg/s through the "
                  f"converged milters, {rates['no milter']:.1f} without any: "
                  f"{rates['converged'] / rates['no milter']:.2f} of no milter")
    if args.end_to_end:
        rate = end_to_end(lab, args)
        print(f"\nend to end, outside -> mx1 -> mbox mailbox: {rate:.1f} msg/s")


if __name__ == "__main__":
    main()
