"""No mail lost under change (issue 12 point 3).

A bounded, paced load from `outside` (8 messages a second over 10 sessions,
five to each MX; at most 3,000 messages or 390 s) runs while site.yml makes a
change that reloads Postfix on both MX hosts, then one that restarts it, then
puts both back (another restart); the test ends the load once the last of
those converges is done, so it lasts as long as they do. Every message answered 250 must reach the
one mailbox on the mailbox host exactly once, and no message may arrive twice.
Mail that waited in an MX queue before those converges (deferred: nothing
listens on `outside`) keeps its queue ID through them.
"""
import re
import time
import uuid

import pytest

from ansible_runs import recap_all_unchanged, site_with
from company_mail import queue

MESSAGES, SESSIONS, RATE = 3000, 10, 8         # at most 375 s of load
BOUND = 420                                    # seconds the load may take at most
MIN_ATTEMPTED = 200                            # fewer: the converges ran without much load
RECIPIENT, MAILBOX = "jean@falcot.test", "/var/mail/jean"
RELOAD = {"postfix_main_cf": {"smtpd_banner": "$myhostname ESMTP mailforge under-change test"}}
RESTART = {**RELOAD, "postfix_inet_protocols": "ipv4"}     # inet_protocols needs a restart


def master_pid(host):
    return host.run("cat /var/spool/postfix/pid/master.pid").stdout.strip()


@pytest.fixture
def deferred(lab):
    """One message per MX that waits in its deferred queue (elsewhere.test's MX, outside, takes no mail)."""
    office, recipient = lab["office"], f"deferred-{uuid.uuid4().hex[:12]}@elsewhere.test"
    waiting = {}
    for name in ("mx1", "mx2"):
        mx = lab[name]
        # A From: header: dkimpy-milter 1.2.3, signing mail from mynetworks, fails on a message without one.
        message = f"From: <jean@falcot.test>\nSubject: {recipient}\n\nwait\n"
        transcript = office.smtp(mx.address, [f"EHLO {office.fqdn}", "MAIL FROM:<jean@falcot.test>",
                                              f"RCPT TO:<{recipient}>", {"data": message}])
        assert transcript[-1]["send"] == "<message>" and transcript[-1]["code"] == 250, transcript
        deadline = time.monotonic() + 60
        while not (ids := [entry["queue_id"] for entry in queue(mx) if entry["queue_name"] == "deferred"
                           and any(r["address"] == recipient for r in entry["recipients"])]):
            assert time.monotonic() < deadline, f"{name}: the message was not deferred within 60 s"
            time.sleep(1)
        waiting[name] = ids
    yield waiting
    for name, ids in waiting.items():
        for queue_id in ids:
            lab[name].run(f"postsuper -d {queue_id}", check=False)


def test_no_mail_lost_or_doubled_while_postfix_reloads_and_restarts(lab, mailbox_host, deferred):
    tag = f"load{uuid.uuid4().hex[:8]}"
    mx = [lab["mx1"], lab["mx2"]]
    pids = {host.name: master_pid(host) for host in mx}
    stop_file = f"/tmp/{tag}.stop"
    load = lab["outside"].start_load({
        "servers": [host.address for host in mx], "sessions": SESSIONS, "messages": MESSAGES, "rate": RATE,
        "seconds": BOUND - 30, "sender": "load@elsewhere.test", "recipient": RECIPIENT, "tag": tag,
        "helo": lab["outside"].fqdn, "stop_file": stop_file})
    runs = []
    try:
        for change in (RELOAD, RESTART):
            runs.append(site_with(change, limit="mx1,mx2"))
            assert runs[-1].returncode == 0, runs[-1].stdout[-3000:]
            assert load.poll() is None, "the load ended before the converge did: it changed nothing under load"
        runs.append(site_with({}, limit="mx1,mx2"))     # back as it was: a restart too, under load
        assert runs[-1].returncode == 0, runs[-1].stdout[-3000:]
        assert load.poll() is None, "the load ended before the last converge did"
    finally:
        lab["outside"].run(f"touch {stop_file}")
        report = lab["outside"].finish_load(load, timeout=BOUND)
        lab["outside"].run(f"rm -f {stop_file}")
    # The restarts really happened (a new master), under load.
    assert all(master_pid(host) != pids[host.name] for host in mx), "Postfix was not restarted"

    accepted = report["accepted"]
    assert report["attempted"] >= MIN_ATTEMPTED, f"only {report['attempted']} messages sent under change"
    assert len(accepted) >= report["attempted"] * 0.9, \
        f"only {len(accepted)} of {report['attempted']} accepted: {report['errors']}"
    deadline = time.monotonic() + 180
    while True:
        found = mailbox_host.run(f"grep -o '^Message-ID: <{tag}-[0-9.]*@lab.test>' {MAILBOX} || true").stdout
        delivered = [re.search(r"<(.*)@lab.test>", line).group(1) for line in found.splitlines()]
        missing = set(accepted) - set(delivered)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(2)
    doubled = sorted({name for name in delivered if delivered.count(name) > 1})
    assert not doubled, f"delivered twice: {doubled[:10]}"
    assert not missing, (f"{len(missing)} accepted messages never arrived, e.g. {sorted(missing)[:5]}; "
                         f"queues: {[len(queue(host)) for host in mx + [mailbox_host]]}")

    # Mail deferred before the converges is still there, under the same queue IDs.
    for name, ids in deferred.items():
        still = {entry["queue_id"] for entry in queue(lab[name])}
        assert set(ids) <= still, f"{name}: deferred {ids} gone after the converges"
    # And the fleet is back as it was.
    again = site_with({}, limit="mx1,mx2")
    unchanged, recap = recap_all_unchanged(again.stdout)
    assert again.returncode == 0 and unchanged, recap
