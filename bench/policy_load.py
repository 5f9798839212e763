"""Load generator for Postfix policy delegation services (greylisting), run ON a lab host.

bench/policy_throughput sends this file to a lab host's python3 over ssh (``python3 - ARGS``)
so that the measurement happens there, against loopback, with nothing of ssh in the numbers.
Standard library only (Python 3.11 on Debian 12, 3.13 on Debian 13): lab hosts have nothing else.

It speaks the SMTPD access policy delegation protocol (postfix.org/SMTPD_POLICY_README.html):
name=value lines ended by an empty line, answered by action=... and an empty line, many
requests on one persistent connection. For every case (service x new/known triplets x
connection count) it reports requests per second, p50/p99 latency in ms, the request count,
errors and the actions seen, and prints everything as one JSON document on stdout.

Every case stops at --requests requests or --seconds seconds, whichever comes first; every
socket operation times out after --timeout seconds.

"new" triplets are never seen before: sender and recipient carry the run id and a per-request
token, letters only (greylisters rewrite digits in addresses, which would fold them together).
"known" triplets are a fixed small set, asked once each before timing starts. Client addresses
are taken from 198.18.0.128-254 (the lab network, away from its hosts and whitelisted office
range); recipients are in bench.invalid.
"""
import argparse
import json
import math
import secrets
import socket
import string
import sys
import threading
import time

KNOWN_SENDER_DOMAIN = "sender.bench.invalid"
RECIPIENT_DOMAIN = "bench.invalid"
CLIENT_NET = "198.18.0."
CLIENT_FIRST, CLIENT_LAST = 128, 254
MAX_RESPONSE = 64 * 1024


class ProtocolError(Exception):
    pass


def letters(number):
    """A non-negative integer as lowercase letters (a, b, ..., z, ba, bb, ...): no digits."""
    if number < 0:
        raise ValueError("letters() takes a non-negative integer")
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = string.ascii_lowercase[digit] + text
        if not number:
            return text


def new_run_id(length=10):
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(length))


def client_address(index):
    return f"{CLIENT_NET}{CLIENT_FIRST + index % (CLIENT_LAST - CLIENT_FIRST + 1)}"


def new_triplet(run_id, index):
    """The index-th never-seen (client address, sender, recipient) triplet of this run."""
    token = letters(index)
    return (client_address(index), f"bench{run_id}s{token}@{run_id}.{KNOWN_SENDER_DOMAIN}",
            f"bench{run_id}r{token}@{RECIPIENT_DOMAIN}")


def known_triplets(count):
    """A fixed set of triplets, the same from one run to the next."""
    return [(client_address(index), f"benchknown{letters(index)}@{KNOWN_SENDER_DOMAIN}",
             f"benchknown{letters(index)}@{RECIPIENT_DOMAIN}") for index in range(count)]


def new_triplets(run_id, first):
    return lambda index: new_triplet(run_id, first + index)


def cycle_of(triplets):
    return lambda index: triplets[index % len(triplets)]


def policy_request(triplet, instance, queue_id="", recipient_count=0, size=0):
    """The attributes Postfix's smtpd sends at RCPT TO for one triplet."""
    address, sender, recipient = triplet
    client_name = f"bench-{address.replace('.', '-')}.{RECIPIENT_DOMAIN}"
    return {
        "request": "smtpd_access_policy",
        "protocol_state": "RCPT",
        "protocol_name": "ESMTP",
        "client_address": address,
        "client_name": client_name,
        "client_port": "52000",
        "reverse_client_name": client_name,
        "server_address": "127.0.0.1",
        "server_port": "25",
        "helo_name": client_name,
        "sender": sender,
        "recipient": recipient,
        "recipient_count": str(recipient_count),
        "queue_id": queue_id,
        "instance": instance,
        "size": str(size),
        "etrn_domain": "",
        "stress": "",
        "sasl_method": "",
        "sasl_username": "",
        "sasl_sender": "",
        "ccert_subject": "",
        "ccert_issuer": "",
        "ccert_fingerprint": "",
        "encryption_protocol": "",
        "encryption_cipher": "",
        "encryption_keysize": "0",
    }


def format_request(attributes):
    """name=value lines and the empty line that ends a request, as bytes."""
    lines = []
    for name, value in attributes.items():
        name, value = str(name), str(value)
        if not name or "=" in name or any(c in name for c in "\r\n") or any(c in value for c in "\r\n"):
            raise ValueError(f"attribute {name!r}={value!r} cannot be sent on one line")
        lines.append(f"{name}={value}\n")
    return ("".join(lines) + "\n").encode()


def split_response(buffer):
    """(one complete response, the rest of the buffer), or (None, buffer) while incomplete."""
    if buffer.startswith(b"\n"):
        raise ProtocolError("empty response (a lone empty line)")
    end = buffer.find(b"\n\n")
    if end < 0:
        return None, buffer
    return buffer[:end + 1], buffer[end + 2:]


def parse_response(data):
    """The response's attributes; it must carry action=."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    attributes = {}
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line:
            continue
        name, equals, value = line.partition("=")
        if not equals:
            raise ProtocolError(f"response line without '=': {line!r}")
        attributes[name] = value
    if "action" not in attributes:
        raise ProtocolError(f"response without action=: {text!r}")
    return attributes


def action_keyword(action):
    """What counts as the kind of answer: DEFER_IF_PERMIT, DUNNO, PREPEND, 450..."""
    word = action.strip().split(None, 1)
    return word[0].upper() if word else "(empty)"


def percentile(values, percent):
    """Nearest-rank percentile of values (None when there are none)."""
    if not values:
        return None
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


class PolicyClient:
    """One persistent connection to a policy service."""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def ask(self, attributes):
        self.sock.sendall(format_request(attributes))
        while True:
            response, self.buffer = split_response(self.buffer)
            if response is not None:
                return parse_response(response)
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ProtocolError("connection closed by the service")
            self.buffer += chunk
            if len(self.buffer) > MAX_RESPONSE:
                raise ProtocolError("response longer than 64 KiB")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def probe(host, port, triplet, timeout):
    """None if the service answers one policy request, else why not."""
    try:
        client = PolicyClient(host, port, timeout)
    except OSError as exc:
        return f"not running (connect to {host}:{port}: {exc.strerror or exc})"
    try:
        client.ask(policy_request(triplet, "probe"))
    except (OSError, ProtocolError) as exc:
        return f"does not answer the policy protocol on {host}:{port}: {exc}"
    finally:
        client.close()
    return None


def warm_up(host, port, triplets, timeout):
    """Ask every known triplet once so that the service has seen it; returns the actions."""
    actions = {}
    client = PolicyClient(host, port, timeout)
    try:
        for index, triplet in enumerate(triplets):
            keyword = action_keyword(client.ask(policy_request(triplet, f"warm{letters(index)}"))["action"])
            actions[keyword] = actions.get(keyword, 0) + 1
    finally:
        client.close()
    return actions


def run_case(host, port, triplet_for, connections, requests, seconds, timeout):
    """Up to ``requests`` requests over ``connections`` concurrent connections, for at most
    ``seconds`` seconds; ``triplet_for(index)`` gives the triplet of the index-th request."""
    lock = threading.Lock()
    state = {"next": 0, "count": 0, "errors": 0, "first_error": None}
    latencies, actions = [], {}
    started = time.perf_counter()
    deadline = started + seconds

    def claim():
        with lock:
            if state["next"] >= requests or time.perf_counter() >= deadline:
                return None
            state["next"] += 1
            return state["next"] - 1

    def failed(exc):
        with lock:
            state["errors"] += 1
            if state["first_error"] is None:
                state["first_error"] = f"{type(exc).__name__}: {exc}"

    def worker(number):
        client = None
        own_latencies, own_actions = [], {}
        try:
            while True:
                index = claim()
                if index is None:
                    break
                request = policy_request(triplet_for(index), f"b{letters(number)}x{letters(index)}",
                                         queue_id="", recipient_count=0, size=1024)
                try:
                    if client is None:
                        client = PolicyClient(host, port, timeout)
                    before = time.perf_counter()
                    answer = client.ask(request)
                    own_latencies.append((time.perf_counter() - before) * 1000)
                except (OSError, ProtocolError) as exc:
                    failed(exc)
                    if client is not None:
                        client.close()
                        client = None
                    continue
                keyword = action_keyword(answer["action"])
                own_actions[keyword] = own_actions.get(keyword, 0) + 1
        finally:
            if client is not None:
                client.close()
            with lock:
                latencies.extend(own_latencies)
                for keyword, count in own_actions.items():
                    actions[keyword] = actions.get(keyword, 0) + count

    threads = [threading.Thread(target=worker, args=(number,), daemon=True) for number in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A worker ends at the deadline plus, at worst, one request's socket timeouts.
        thread.join(seconds + 3 * timeout + 5)
    elapsed = time.perf_counter() - started
    hung = sum(thread.is_alive() for thread in threads)
    with lock:
        count = len(latencies)
        result = {
            "connections": connections,
            "count": count,
            "errors": state["errors"],
            "first_error": state["first_error"],
            "seconds": round(elapsed, 3),
            "rps": round(count / elapsed, 1) if elapsed > 0 else None,
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "actions": dict(sorted(actions.items())),
            "stopped_by": "requests" if state["next"] >= requests else "seconds",
            "hung_connections": hung,
        }
    for key in ("p50_ms", "p99_ms"):
        if result[key] is not None:
            result[key] = round(result[key], 3)
    return result


def parse_service(text):
    """NAME=HOST:PORT, e.g. postgrey=127.0.0.1:10023."""
    name, equals, address = text.partition("=")
    host, colon, port = address.rpartition(":")
    if not (equals and name and colon and host and port.isdigit() and 0 < int(port) < 65536):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=HOST:PORT, e.g. postgrey=127.0.0.1:10023")
    return name, host.strip("[]"), int(port)


# Every load loop is bounded: counts from 1, durations above 0.
BOUNDS = (("requests", 1, 1_000_000), ("seconds", 0, 3600), ("concurrency", 1, 256), ("known", 1, 1000),
          ("timeout", 0, 60))


def bounds_problem(args):
    """Why the load bounds in ``args`` are refused, or None."""
    for name, low, high in BOUNDS:
        value = getattr(args, name)
        if low == 0 and not 0 < value <= high:
            return f"--{name} must be more than 0 and at most {high}"
        if low == 1 and not 1 <= value <= high:
            return f"--{name} must be between 1 and {high}"
    return None


def measure(services, requests, seconds, concurrency, known_count, timeout, run_id, log=None, settle=0.0):
    """Every case, services interleaved (each case runs on every service before the next case).

    With ``settle`` (the service's greylisting delay and a little more), the
    known triplets are asked again after that many seconds, so that the
    "known" cases measure triplets that have passed greylisting.
    """
    say = log or (lambda text: None)
    known = known_triplets(known_count)
    report = {"run_id": run_id, "requests": requests, "seconds": seconds, "concurrency": concurrency,
              "known_triplets": known_count, "python": sys.version.split()[0], "services": []}
    live = []
    for name, host, port in services:
        entry = {"name": name, "host": host, "port": port, "available": False, "reason": None, "cases": []}
        report["services"].append(entry)
        reason = probe(host, port, known[0], timeout)
        if reason is None:
            try:
                entry["warm_up_actions"] = warm_up(host, port, known, timeout)
            except (OSError, ProtocolError) as exc:
                reason = f"failed during warm-up: {exc}"
        if reason:
            entry["reason"] = reason
            say(f"{name}: {reason}; skipped")
            continue
        entry["available"] = True
        live.append(entry)
    if settle and live:
        time.sleep(settle)
        for entry in live:
            entry["warm_up_actions"] = warm_up(entry["host"], entry["port"], known, timeout)

    for triplets in ("new", "known"):
        for connections in sorted({1, concurrency}):
            for entry in live:
                if triplets == "new":
                    # Never seen: distinct for every case of this run, and the run id is new.
                    triplet_for = new_triplets(run_id, first=len(entry["cases"]) * requests)
                else:
                    triplet_for = cycle_of(known)
                say(f"{entry['name']}: {triplets} triplets, {connections} connection(s)")
                case = run_case(entry["host"], entry["port"], triplet_for, connections, requests, seconds, timeout)
                case["triplets"] = triplets
                entry["cases"].append(case)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", action="append", type=parse_service, dest="services",
                        metavar="NAME=HOST:PORT",
                        help="NAME=HOST:PORT, repeatable, first one is the baseline "
                             "(default: postgrey=127.0.0.1:10023 and sqlgrey=127.0.0.1:2501)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per case at most (default 2000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per case at most (default 20)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--known", type=int, default=10, help="known triplets (default 10)")
    parser.add_argument("--timeout", type=float, default=5.0, help="socket timeout in seconds (default 5)")
    parser.add_argument("--run-id", default=None, help="letters only; random by default")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds to wait after the warm-up before asking the known triplets again "
                             "(the greylisting delay and a little more; default 0: no second warm-up)")
    args = parser.parse_args(argv)
    problem = bounds_problem(args)
    if problem:
        parser.error(problem)
    run_id = args.run_id or new_run_id()
    if not (run_id.isascii() and run_id.isalpha() and run_id.islower()):
        parser.error("--run-id must be lowercase letters only")
    services = args.services or [("postgrey", "127.0.0.1", 10023), ("sqlgrey", "127.0.0.1", 2501)]
    if not 0 <= args.settle <= 600:
        parser.error("--settle must be between 0 and 600")
    report = measure(services, args.requests, args.seconds, args.concurrency, args.known, args.timeout, run_id,
                     log=lambda text: print(text, file=sys.stderr, flush=True), settle=args.settle)
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
