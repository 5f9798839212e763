"""Throughput of the greylisting policy services on a lab MX: postgrey against sqlgrey.

Lab-only tool. The load generator (bench/policy_load.py, standard library only) is sent to
the lab host's python3 over ssh and speaks Postfix's SMTPD access policy delegation protocol
to the service over loopback there (greylisting_listen, 127.0.0.1:10023), so ssh is not in
the numbers. Only one backend answers there at a time, so the bench converges the lab with
site.yml to postgrey (the baseline), measures, converges to sqlgrey (fleet mode, state in
greydb's PostgreSQL over the lab network), measures, and leaves the lab on postgrey.

All numbers come from one run: for each service,
{new, known} triplets x {1, --concurrency} connections, each case stopped at --requests
requests or --seconds seconds, whichever comes first. Printed side by side: requests per
second, p50 and p99 latency, requests, errors, and the ratio of each service's requests per
second to the baseline's, then the actions seen (DEFER_IF_PERMIT, DUNNO, PREPEND...). There
is no threshold: the numbers are for reading.

It pollutes the greylisting databases, so it is for the lab only, never a production host:
every "new" request adds a triplet to postgrey's Berkeley DB (and to sqlgrey's tables), up to
2 x --requests per service and run (4000 by default), with senders and recipients in
bench.invalid and client addresses in 198.18.0.128-254; postgrey drops them after
greylisting_max_age days. The "known" triplets (--known of them) are the same from one run
to the next, so from the second run on (after greylisting_delay) they are answered as passed.
postgrey and sqlgrey look clients up by /24 network: once the lab network 198.18.0.0/24 is
auto-whitelisted (greylisting_auto_whitelist_clients), "new" requests are answered as
whitelisted; the actions seen show it and a note says so.

The generator is Python on one core: near 10,000 requests per second over loopback it
measures itself more than the service.
"""
import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "lab"))
sys.path.insert(0, str(TOP / "bench"))

import policy_load  # noqa: E402
from labkit.run import project_ansible_env  # noqa: E402

GENERATOR = TOP / "bench" / "policy_load.py"
# The greylisting backends, as site.yml extra variables; the first is the baseline.
BACKENDS = [("postgrey", {}),
            ("sqlgrey", {"greylisting_backend": "sqlgrey", "greylisting_whitelist_recipients": []})]


def generator_command(services, requests, seconds, concurrency, known, timeout, settle=0.0):
    argv = ["python3", "-", "--requests", str(requests), "--seconds", str(seconds),
            "--concurrency", str(concurrency), "--known", str(known), "--timeout", str(timeout),
            "--settle", str(settle)]
    for name, host, port in services:
        argv += ["--service", f"{name}={host}:{port}"]
    return shlex.join(argv)


def time_bound(services, seconds, concurrency, known, timeout):
    """Seconds the generator may take at worst: probe and warm-up, then every case."""
    cases = 2 * len({1, concurrency})
    per_service = (known + 2) * timeout + cases * (seconds + 3 * timeout + 5)
    return int(len(services) * per_service + 60)


def case_label(case):
    connections = case["connections"]
    return f"{case['triplets']} triplets, {connections} connection{'s' if connections > 1 else ''}"


def number(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def actions_text(actions):
    return ", ".join(f"{keyword} {count}" for keyword, count in actions.items()) or "none"


def deferred(keyword):
    """A greylisting answer: DEFER, DEFER_IF_PERMIT, DEFER_IF_REJECT or a 4xx code."""
    return keyword.startswith("DEFER") or (len(keyword) == 3 and keyword.startswith("4") and keyword.isdigit())


def render(report, title):
    """The report as text: one row per case, one column group per service, ratios to the baseline."""
    services = report["services"]
    live = [service for service in services if service["available"]]
    lines = [title,
             f"  run id {report['run_id']}; each case stops at {report['requests']} requests or "
             f"{report['seconds']:g} s; python {report.get('python', '?')} on the host"]
    for service in services:
        where = f"{service['host']}:{service['port']}"
        if service["available"]:
            lines.append(f"  {service['name']} on {where}: known triplets, at the last warm-up: "
                         f"{actions_text(service.get('warm_up_actions', {}))}")
        else:
            lines.append(f"  {service['name']}: {service['reason']}; column skipped")
    if not live:
        lines.append("  no service answered: nothing measured")
        return "\n".join(lines)

    baseline, others = live[0], live[1:]
    label_width = max(len(case_label(case)) for case in baseline["cases"])
    cell = "{:>9} {:>7} {:>7} {:>7} {:>4}"
    group_width = len(cell.format(*[""] * 5))
    ratio_names = [f"{other['name']}/{baseline['name']}" for other in others]
    header1 = " " * label_width + "".join(f" | {service['name']:<{group_width}}" for service in live)
    header1 += "".join(f" | {name}" for name in ratio_names)
    header2 = f"{'case':<{label_width}}" + "".join(
        " | " + cell.format("req/s", "p50 ms", "p99 ms", "n", "err") for _ in live)
    header2 += "".join(f" | {'req/s':>{len(name)}}" for name in ratio_names)
    lines += ["", header1, header2, "-" * len(header2)]
    for index, base_case in enumerate(baseline["cases"]):
        row = f"{case_label(base_case):<{label_width}}"
        for service in live:
            case = service["cases"][index]
            row += " | " + cell.format(number(case["rps"]), number(case["p50_ms"], 2), number(case["p99_ms"], 2),
                                       case["count"], case["errors"])
        for name, other in zip(ratio_names, others):
            rps, base = other["cases"][index]["rps"], base_case["rps"]
            ratio = f"{rps / base:.2f}" if rps is not None and base else "-"
            row += f" | {ratio:>{len(name)}}"
        lines.append(row)

    lines += ["", "actions seen:"]
    for index, base_case in enumerate(baseline["cases"]):
        seen = "; ".join(f"{service['name']}: {actions_text(service['cases'][index]['actions'])}"
                         for service in live)
        lines.append(f"  {case_label(base_case):<{label_width}}  {seen}")

    notes = []
    for service in live:
        for case in service["cases"]:
            where = f"{service['name']}, {case_label(case)}"
            if case["errors"]:
                notes.append(f"{where}: {case['errors']} errors, first: {case['first_error']}")
            if case.get("hung_connections"):
                notes.append(f"{where}: {case['hung_connections']} connections still waiting at the end")
            if case["stopped_by"] == "seconds":
                notes.append(f"{where}: stopped by the time bound after {case['count']} requests")
        new = [case for case in service["cases"] if case["triplets"] == "new"]
        greylisted = sum(count for case in new for keyword, count in case["actions"].items() if deferred(keyword))
        answered = sum(case["count"] for case in new)
        if answered and greylisted < answered / 2:
            notes.append(f"{service['name']}: only {greylisted} of {answered} new triplets were greylisted "
                         "(client network auto-whitelisted?): the new-triplet cases did not measure greylisting")
    if notes:
        lines += ["", "notes:"] + [f"  {note}" for note in notes]
    return "\n".join(line.rstrip() for line in lines)


def converge(extra_vars):
    """site.yml on every lab host with ``extra_vars``; exits on failure."""
    result = subprocess.run([str(TOP / ".venv/bin/ansible-playbook"), "site.yml", "-e", json.dumps(extra_vars)],
                            cwd=TOP, env=project_ansible_env(), capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        sys.exit(f"site.yml -e {json.dumps(extra_vars)} failed:\n{result.stdout[-3000:]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuse", action="store_true", help="the lab is already up (and converged with site.yml)")
    parser.add_argument("--host", default="mx1", help="lab host to measure on (default mx1)")
    parser.add_argument("--listen", type=lambda text: policy_load.parse_service("x=" + text)[1:],
                        default=("127.0.0.1", 10023), metavar="HOST:PORT",
                        help="greylisting_listen of the lab (default 127.0.0.1:10023)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per case at most (default 2000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per case at most (default 20)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--known", type=int, default=10, help="known triplets (default 10)")
    parser.add_argument("--timeout", type=float, default=5.0, help="socket timeout on the host (default 5 s)")
    parser.add_argument("--settle", type=float, default=6.0,
                        help="seconds after the warm-up before the known triplets count as passed "
                             "(the lab's greylisting_delay is 5 s; default 6)")
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    args = parser.parse_args()
    problem = policy_load.bounds_problem(args)
    if problem:
        parser.error(problem)

    from labkit.remote import lab_hosts

    if not args.reuse:
        subprocess.run([str(TOP / "lab/lab"), "up"], check=True)
    lab = lab_hosts()
    if args.host not in lab:
        sys.exit(f"no lab host {args.host!r}; the lab has {', '.join(sorted(lab))}")
    host = lab[args.host]

    # One backend answers on greylisting_listen at a time: converge to each in
    # turn and measure it, then leave the lab on postgrey, its default.
    report = None
    try:
        for name, extra_vars in BACKENDS:
            converge(extra_vars)
            services = [(name, *args.listen)]
            command = generator_command(services, args.requests, args.seconds, args.concurrency, args.known,
                                        args.timeout, args.settle)
            bound = time_bound(services, args.seconds, args.concurrency, args.known, args.timeout) + int(args.settle)
            result = host.run(command, check=False, stdin=GENERATOR.read_text(), timeout=bound)
            if result.returncode != 0:
                sys.exit(f"{host.name}: the load generator exited {result.returncode}:\n{result.stderr[-3000:]}")
            measured = json.loads(result.stdout)
            if report is None:
                report = measured
            else:
                report["services"] += measured["services"]
    finally:
        converge({})
    report["host"] = host.name
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(render(report, f"Policy delegation throughput on {host.name} ({host.host.suite}), over loopback"))
    if not any(service["available"] for service in report["services"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
