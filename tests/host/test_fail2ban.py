"""Issue 12 point 6, the fail2ban option: a client that fails SMTP AUTH again and again is banned.

The lab turns the fail2ban role on for both MX hosts (inventory/lab/group_vars/
mx_hosts.yml: 3 failures within 10 minutes ban for 10 minutes; outside and
noptr, which fail AUTH on purpose in other tests, are never banned). From
`listed`, on mx1 (Debian 12, fail2ban 1.0.2) and mx2 (Debian 13, 1.1.0):
maxretry failed AUTH PLAIN on port 587 after STARTTLS, each answered 535; the
journal shows Postfix's failures, fail2ban bans the address (its status and
its journal line), nftables holds the rule and the address; a new connection
from listed fails at CONNECT on 587 and 25 while outside still gets 220; then
the address is unbanned and listed connects again (the RBL tests use listed
on port 25). Waits are bounded (wait_until, wait_for_journal).

A banned client's new connection is refused (nftables' reject) or dropped; both count as the
CONNECT step failing.
"""
import re

import pytest

from company_mail import wait_until
from test_sasl import plain

JAIL = "postfix-sasl"
# A banned client's new connection: refused by nftables' reject, or dropped until the timeout.
FAILED_CONNECT = ("ConnectionRefusedError", "TimeoutError")


@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


def get(mx, setting):
    """``fail2ban-client get JAIL setting`` on ``mx``, as printed."""
    return mx.run(f"fail2ban-client get {JAIL} {setting}").stdout.strip()


def status(mx):
    """(the jail's status lines as {name: value}, the whole output) of ``fail2ban-client status JAIL``."""
    shown = mx.run(f"fail2ban-client status {JAIL}").stdout
    lines = {}
    for line in shown.splitlines():
        name, _, value = line.lstrip("|`- \t").partition(":")
        lines[name.strip()] = value.strip()
    return lines, shown


def banned(mx):
    return status(mx)[0].get("Banned IP list", "").split()


def connect(client, mx, port):
    """A new connection from ``client`` to ``mx``'s ``port``: its first step (CONNECT, or the greeting)."""
    return client.smtp(mx.address, [], port=port, timeout=10)[0]


@pytest.fixture
def known_start(lab, mx):
    """listed not banned by mx, with no failure counted for it; unbanned again whatever the test did."""
    address = lab["listed"].address
    if address in banned(mx):
        mx.run(f"fail2ban-client set {JAIL} unbanip {address}")
    lines, shown = status(mx)
    # Only listed fails AUTH without being ignored; a count left by an interrupted run would ban it early.
    assert lines.get("Currently failed") == "0", (
        f"{mx.name}: failures counted before the test (an interrupted run?); they expire after findtime\n{shown}")
    yield address
    if address in banned(mx):
        mx.run(f"fail2ban-client set {JAIL} unbanip {address}")


def test_the_jail_runs_as_the_lab_configures_it(mx):
    jails = mx.run("fail2ban-client status").stdout
    # Debian's [sshd] runs too: on Debian 12 it needs the journal the role gives it.
    assert re.search(rf"Jail list:.*\b{JAIL}\b", jails) and re.search(r"Jail list:.*\bsshd\b", jails), jails
    assert (get(mx, "maxretry"), get(mx, "findtime"), get(mx, "bantime")) == ("3", "600", "600")
    # Only Postfix's smtpd lines (the filter's own would be postfix.service, which logs nothing on Debian).
    matches = get(mx, "journalmatch")
    assert "_SYSTEMD_UNIT=postfix@-.service" in matches and "_SYSTEMD_UNIT=postfix.service" in matches, matches
    ignored = get(mx, "ignoreip")
    assert "198.18.0.100" in ignored and "198.18.0.102" in ignored, ignored


def test_repeated_auth_failures_ban_the_client_until_unbanned(lab, mx, known_start):
    listed, outside, address = lab["listed"], lab["outside"], known_start
    maxretry = int(get(mx, "maxretry"))
    cursor = mx.journal_cursor()

    guesses = [{"send": plain("alice", f"fail2ban-guess-{number}"), "continue": True} for number in range(maxretry)]
    transcript = listed.smtp(mx.address, [f"EHLO {listed.fqdn}", "STARTTLS", f"EHLO {listed.fqdn}", *guesses],
                             port=587)
    assert [(step["send"], step["code"]) for step in transcript[:4]] == [
        (None, 220), (f"EHLO {listed.fqdn}", 250), ("STARTTLS", 220), (f"EHLO {listed.fqdn}", 250)], transcript
    auths = transcript[4:]
    assert [(step["send"][:10], step["code"]) for step in auths] == [("AUTH PLAIN", 535)] * maxretry, transcript

    # What the jail reads (smtpd of the submission service), then what fail2ban makes of it.
    mx.wait_for_journal(cursor, "SASL PLAIN authentication failed", f"[{address}]")
    wait_until(lambda: address in banned(mx), f"{mx.name}: fail2ban-client status {JAIL} lists {address} as banned",
               bound=30)
    mx.wait_for_journal(cursor, f"[{JAIL}] Ban {address}")

    ruleset = mx.run("nft list ruleset").stdout
    rules = [line.strip() for line in ruleset.splitlines() if f"@addr-set-{JAIL}" in line]
    assert len(rules) == 1 and re.search(r"dport \{ 25, 587 \}", rules[0]) and "reject" in rules[0], ruleset
    members = re.search(rf"set addr-set-{JAIL} \{{[^}}]*elements = \{{([^}}]*)\}}", ruleset)
    assert members and address in members.group(1).replace(",", " ").split(), ruleset

    for port in (587, 25):
        step = connect(listed, mx, port)
        assert step["send"] == "CONNECT" and step["error"] in FAILED_CONNECT, f"listed, port {port}: {step}"
        step = connect(outside, mx, port)
        assert (step["send"], step["code"]) == (None, 220), f"outside, port {port}: {step}"

    mx.run(f"fail2ban-client set {JAIL} unbanip {address}")
    assert address not in banned(mx), status(mx)[1]
    mx.wait_for_journal(cursor, f"[{JAIL}] Unban {address}")
    for port in (587, 25):
        step = connect(listed, mx, port)
        assert (step["send"], step["code"]) == (None, 220), f"listed after the unban, port {port}: {step}"
