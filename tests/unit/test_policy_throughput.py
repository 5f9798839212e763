"""bench/policy_throughput's load generator: request formatting, response parsing, percentiles,
triplets, and whole runs against a fake policy service on 127.0.0.1 (no lab needed)."""
import argparse
import ipaddress
import json
import re
import shlex
import socket
import socketserver
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import policy_load  # noqa: E402
import policy_throughput  # noqa: E402
from policy_load import ProtocolError  # noqa: E402


class FakePolicyService(socketserver.ThreadingTCPServer):
    """Answers every policy request with ``answer`` (after ``delay`` seconds), many per connection.

    server_close() waits for the connection threads (none outlives the test) and they end
    quietly: a thread writing to stderr while the interpreter exits can abort it."""
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, answer=b"action=DUNNO\n\n", delay=0.0):
        super().__init__(("127.0.0.1", 0), FakePolicyHandler)
        self.answer, self.delay = answer, delay
        self.requests, self.connections, self.lock = [], 0, threading.Lock()

    @property
    def port(self):
        return self.server_address[1]

    def handle_error(self, request, client_address):
        pass    # the client went away first (time-bound cases stop mid-request)


class FakePolicyHandler(socketserver.StreamRequestHandler):
    timeout = 5     # an idle connection ends, so server_close() cannot wait forever

    def handle(self):
        with self.server.lock:
            self.server.connections += 1
        attributes = {}
        for raw in self.rfile:
            line = raw.decode().rstrip("\n")
            if line:
                name, equals, value = line.partition("=")
                assert equals, line
                attributes[name] = value
                continue
            with self.server.lock:
                self.server.requests.append(attributes)
            attributes = {}
            if self.server.delay:
                time.sleep(self.server.delay)
            self.wfile.write(self.server.answer)
            self.wfile.flush()


@contextmanager
def fake_service(**kwargs):
    server = FakePolicyService(**kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Request formatting

def test_request_is_name_value_lines_ended_by_an_empty_line():
    data = policy_load.format_request({"request": "smtpd_access_policy", "sender": "a@b.invalid", "size": 0,
                                       "queue_id": ""})
    assert data == b"request=smtpd_access_policy\nsender=a@b.invalid\nsize=0\nqueue_id=\n\n"


@pytest.mark.parametrize("attributes", [
    {"sender": "a@b\n.invalid"}, {"sender": "a\r"}, {"send\ner": "x"}, {"a=b": "x"}, {"": "x"},
])
def test_request_that_would_break_the_protocol_is_refused(attributes):
    with pytest.raises(ValueError):
        policy_load.format_request(attributes)


def test_policy_request_carries_what_smtpd_sends_at_rcpt():
    triplet = ("198.18.0.130", "s@sender.bench.invalid", "r@bench.invalid")
    request = policy_load.policy_request(triplet, "inst")
    assert request["request"] == "smtpd_access_policy"
    assert (request["protocol_state"], request["protocol_name"]) == ("RCPT", "ESMTP")
    assert (request["client_address"], request["sender"], request["recipient"]) == triplet
    for name in ("client_name", "reverse_client_name", "helo_name", "recipient_count", "queue_id", "instance",
                 "size"):
        assert name in request
    policy_load.format_request(request)   # every value fits on one line


# Responses

def test_split_response_waits_for_the_empty_line_and_keeps_the_rest():
    assert policy_load.split_response(b"action=DUNNO\n") == (None, b"action=DUNNO\n")
    assert policy_load.split_response(b"") == (None, b"")
    assert policy_load.split_response(b"action=DUNNO\n\naction=DEF") == (b"action=DUNNO\n", b"action=DEF")


def test_split_response_refuses_a_lone_empty_line():
    with pytest.raises(ProtocolError):
        policy_load.split_response(b"\n")


@pytest.mark.parametrize("data, action, keyword", [
    (b"action=DEFER_IF_PERMIT Greylisted, please try again later\n",
     "DEFER_IF_PERMIT Greylisted, please try again later", "DEFER_IF_PERMIT"),
    (b"action=dunno\n", "dunno", "DUNNO"),
    (b"action=PREPEND X-Greylist: delayed 301 seconds by postgrey-1.37 at mx1; Mon\n",
     "PREPEND X-Greylist: delayed 301 seconds by postgrey-1.37 at mx1; Mon", "PREPEND"),
    (b"action=450 4.2.0 Try again\r\n", "450 4.2.0 Try again", "450"),
    (b"action=\n", "", "(empty)"),
])
def test_parse_response_and_action_keyword(data, action, keyword):
    attributes = policy_load.parse_response(data)
    assert attributes["action"] == action
    assert policy_load.action_keyword(attributes["action"]) == keyword


@pytest.mark.parametrize("data", [b"hello\n", b"result=DUNNO\n", b""])
def test_response_without_action_is_a_protocol_error(data):
    with pytest.raises(ProtocolError):
        policy_load.parse_response(data)


# Percentiles

@pytest.mark.parametrize("values, percent, expected", [
    (list(range(1, 101)), 50, 50),
    (list(range(1, 101)), 99, 99),
    (list(range(1, 101)), 100, 100),
    (list(range(1, 101)), 0, 1),
    (list(range(100, 0, -1)), 99, 99),      # order does not matter
    ([7.5], 50, 7.5),
    ([7.5], 99, 7.5),
    ([1, 2, 3, 4], 50, 2),
    ([1, 2, 3, 4], 99, 4),
    ([3, 1, 2], 50, 2),
])
def test_percentile_is_nearest_rank(values, percent, expected):
    assert policy_load.percentile(values, percent) == expected


def test_percentile_of_nothing_is_none_and_bad_percent_is_refused():
    assert policy_load.percentile([], 50) is None
    with pytest.raises(ValueError):
        policy_load.percentile([1], 101)


# Triplets

@pytest.mark.parametrize("number, text", [(0, "a"), (1, "b"), (25, "z"), (26, "ba"), (27, "bb"), (676, "baa")])
def test_letters(number, text):
    assert policy_load.letters(number) == text


def test_new_triplets_are_distinct_digit_free_and_inside_the_lab_network():
    lab, office = ipaddress.ip_network("198.18.0.0/24"), ipaddress.ip_network("198.18.0.16/28")
    triplets = [policy_load.new_triplet("runid", index) for index in range(20000)]
    assert len({(sender, recipient) for _, sender, recipient in triplets}) == len(triplets)
    for address, sender, recipient in triplets:
        ip = ipaddress.ip_address(address)
        assert ip in lab and ip not in office and ip != ipaddress.ip_address("198.18.0.255")
        # Greylisters fold digits in addresses together: the distinct part must have none.
        assert not re.search(r"\d", sender + recipient)
        assert recipient.endswith("@bench.invalid") and sender.endswith(".invalid")
    other_run = policy_load.new_triplet("otherrun", 0)
    assert other_run[1:] != triplets[0][1:]


def test_known_triplets_are_the_same_from_one_run_to_the_next():
    assert policy_load.known_triplets(10) == policy_load.known_triplets(10)
    assert len(set(policy_load.known_triplets(10))) == 10
    assert all(recipient.endswith("@bench.invalid") for _, _, recipient in policy_load.known_triplets(10))


def test_run_ids_are_letters():
    run_id = policy_load.new_run_id()
    assert run_id.isalpha() and run_id.islower() and len(run_id) == 10


@pytest.mark.parametrize("text, expected", [
    ("postgrey=127.0.0.1:10023", ("postgrey", "127.0.0.1", 10023)),
    ("sqlgrey=localhost:2501", ("sqlgrey", "localhost", 2501)),
    ("v6=[::1]:10023", ("v6", "::1", 10023)),
])
def test_parse_service(text, expected):
    assert policy_load.parse_service(text) == expected


@pytest.mark.parametrize("text", ["postgrey", "postgrey=127.0.0.1", "=127.0.0.1:1", "p=127.0.0.1:0",
                                  "p=127.0.0.1:70000", "p=:10023", "p=127.0.0.1:x"])
def test_bad_service_is_refused(text):
    with pytest.raises(Exception, match="NAME=HOST:PORT"):
        policy_load.parse_service(text)


# Whole runs against the fake service

def test_case_with_one_connection_stops_at_the_request_count():
    with fake_service() as server:
        triplet_for = policy_load.new_triplets("abc", first=0)
        case = policy_load.run_case("127.0.0.1", server.port, triplet_for, 1, 300, 10, 2)
    assert (case["count"], case["errors"], case["stopped_by"]) == (300, 0, "requests")
    assert case["actions"] == {"DUNNO": 300}
    assert server.connections == 1          # persistent connection
    assert case["rps"] > 0 and 0 < case["p50_ms"] <= case["p99_ms"]
    assert len({(r["sender"], r["recipient"]) for r in server.requests}) == 300
    assert len({r["instance"] for r in server.requests}) == 300
    assert all(r["request"] == "smtpd_access_policy" for r in server.requests)


def test_case_with_concurrent_connections_shares_the_request_count():
    with fake_service() as server:
        case = policy_load.run_case("127.0.0.1", server.port, policy_load.cycle_of(policy_load.known_triplets(3)),
                                    8, 400, 10, 2)
    assert (case["count"], case["errors"], case["connections"]) == (400, 0, 8)
    assert server.connections == 8
    assert len({(r["sender"], r["recipient"]) for r in server.requests}) == 3


def test_case_stops_at_the_time_bound():
    with fake_service(delay=0.02) as server:
        started = time.monotonic()
        case = policy_load.run_case("127.0.0.1", server.port, policy_load.new_triplets("abc", 0), 2, 100000, 0.5, 2)
        elapsed = time.monotonic() - started
    assert case["stopped_by"] == "seconds" and 0 < case["count"] < 100000
    assert elapsed < 3


def test_bad_answers_are_counted_as_errors_not_raised():
    with fake_service(answer=b"hello\n\n") as server:
        case = policy_load.run_case("127.0.0.1", server.port, policy_load.new_triplets("abc", 0), 2, 20, 5, 2)
    assert (case["count"], case["errors"]) == (0, 20)
    assert "ProtocolError" in case["first_error"] and case["p50_ms"] is None and case["rps"] == 0


def test_measure_skips_a_service_that_is_not_running():
    port = closed_port()
    with fake_service() as server:
        report = policy_load.measure([("postgrey", "127.0.0.1", server.port), ("sqlgrey", "127.0.0.1", port)],
                                     requests=50, seconds=5, concurrency=4, known_count=5, timeout=2,
                                     run_id="testrun")
    postgrey, sqlgrey = report["services"]
    assert postgrey["available"] and postgrey["warm_up_actions"] == {"DUNNO": 5}
    assert [(c["triplets"], c["connections"], c["count"]) for c in postgrey["cases"]] == [
        ("new", 1, 50), ("new", 4, 50), ("known", 1, 50), ("known", 4, 50)]
    assert not sqlgrey["available"] and sqlgrey["cases"] == []
    assert sqlgrey["reason"].startswith("not running")
    new_requests = [r for r in server.requests if "testrun" in r["sender"]]
    assert len({(r["sender"], r["recipient"]) for r in new_requests}) == 100   # both new cases, all distinct

    text = policy_throughput.render(report, "title")
    assert "sqlgrey: not running" in text and "column skipped" in text
    assert "sqlgrey/postgrey" not in text
    assert "new triplets, 4 connections" in text


def test_generator_runs_as_it_does_on_a_lab_host_and_prints_json():
    """python3 - ARGS with the program on stdin, as bench/policy_throughput runs it over ssh."""
    with fake_service() as first, fake_service(answer=b"action=DEFER_IF_PERMIT Greylisted\n\n") as second:
        services = [("postgrey", "127.0.0.1", first.port), ("sqlgrey", "127.0.0.1", second.port)]
        command = policy_throughput.generator_command(services, 100, 5, 8, 4, 2)
        argv = [sys.executable] + shlex.split(command)[1:]
        result = subprocess.run(argv, input=(BENCH / "policy_load.py").read_text(), capture_output=True,
                                text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [s["name"] for s in report["services"]] == ["postgrey", "sqlgrey"]
    for service in report["services"]:
        assert service["available"]
        assert [c["count"] for c in service["cases"]] == [100] * 4
        assert all(c["errors"] == 0 for c in service["cases"])
    assert report["services"][1]["cases"][0]["actions"] == {"DEFER_IF_PERMIT": 100}

    text = policy_throughput.render(report, "Policy delegation throughput")
    rows = [line for line in text.splitlines() if line.startswith(("new triplets", "known triplets"))]
    assert len(rows) == 4 and all(re.search(r"\| +\d+\.\d\d$", row) for row in rows)
    assert "sqlgrey/postgrey" in text
    assert "sqlgrey: DEFER_IF_PERMIT 100" in text
    assert "postgrey: only 0 of 200 new triplets were greylisted" in text


def test_time_bound_covers_every_case():
    services = [("a", "127.0.0.1", 1), ("b", "127.0.0.1", 2)]
    assert policy_throughput.time_bound(services, 20, 8, 10, 5) >= 2 * 4 * 20


@pytest.mark.parametrize("keyword, greylisting", [
    ("DEFER_IF_PERMIT", True), ("DEFER", True), ("451", True), ("450", True),
    ("DUNNO", False), ("PREPEND", False), ("OK", False), ("550", False), ("4", False),
])
def test_what_counts_as_a_greylisting_answer(keyword, greylisting):
    assert policy_throughput.deferred(keyword) is greylisting


@pytest.mark.parametrize("change, problem", [
    ({}, None),
    ({"requests": 0}, "--requests must be between 1 and 1000000"),
    ({"seconds": 0}, "--seconds must be more than 0 and at most 3600"),
    ({"concurrency": 257}, "--concurrency must be between 1 and 256"),
    ({"known": 1001}, "--known must be between 1 and 1000"),
    ({"timeout": 61}, "--timeout must be more than 0 and at most 60"),
])
def test_load_bounds(change, problem):
    args = argparse.Namespace(**{"requests": 2000, "seconds": 20.0, "concurrency": 8, "known": 10, "timeout": 5.0,
                                 **change})
    assert policy_load.bounds_problem(args) == problem
