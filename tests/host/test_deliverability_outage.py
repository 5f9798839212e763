"""Issue 14's outage choices on the lab: what a client sees when the SPF policy service, the DKIM
signing or verifying milter or the DMARC milter is down, with each role's choice (spf_policy_outage,
dkim_signing_outage_action for both DKIM milters, dmarc_outage_action). And, with OpenDMARC down, that
forged company mail from the Internet gets no company signature.

The lab runs the defaults (accept: mail flows unchecked or unsigned). The tempfail cases converge
both MX hosts once with all three choices set to tempfail, and converge them back at the end.
One service is down at a time; the others run, so each case first shows the same transaction
answered 250 while the service runs, and the journal names the service Postfix failed to reach.

An outage of the SPF policy service is its master.cf entry removed (Postfix spawns policyd-spf
on demand, so there is no daemon to stop); a milter's outage is its unit stopped.
"""
import contextlib
import time

import pytest

from ansible_runs import site_with
from company_mail import wait_until
from labkit.remote import last_reply
from test_deliverability import delivered, headers, send

TEMPFAIL = {"spf_policy_outage": "tempfail", "dkim_signing_outage_action": "tempfail",
            "dmarc_outage_action": "tempfail"}
# dkimpy-milter signs the mail of internal clients (office), dkimpy-milter-verify verifies the others' (outside).
MILTER_SOCKETS = {"dkimpy-milter": "/var/spool/postfix/dkimpy-milter/dkimpy-milter.sock",
                  "dkimpy-milter-verify": "/var/spool/postfix/dkimpy-milter/verify.sock",
                  "opendmarc": "/var/spool/postfix/opendmarc/opendmarc.sock"}
# What smtpd logs when it cannot reach each one.
UNREACHED = {"policyd-spf": "connect to private/policyd-spf: No such file or directory",
             "dkimpy-milter": "connect to Milter service unix:/dkimpy-milter/dkimpy-milter.sock",
             "dkimpy-milter-verify": "connect to Milter service unix:/dkimpy-milter/verify.sock",
             "opendmarc": "connect to Milter service unix:/opendmarc/opendmarc.sock"}


@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


@contextlib.contextmanager
def down(mx, service):
    """``service`` unreachable on ``mx`` inside the block; the lines smtpd logged meanwhile are in the yielded list."""
    since = mx.run("date +%s.%N").stdout.strip()
    if service == "policyd-spf":
        entry = mx.run("postconf -M policyd-spf/unix").stdout.strip()
        assert entry, "no policyd-spf service in master.cf"
        mx.run("postconf -MX policyd-spf/unix && postfix reload")
    else:
        mx.run(f"systemctl stop {service}")
        wait_until(lambda: not mx.file(MILTER_SOCKETS[service]).exists, f"{service}'s socket gone")
    logged = []
    try:
        yield logged
    finally:
        logged += mx.run(f"journalctl -q -o cat -t postfix/smtpd --since @{since}").stdout.splitlines()
        if service == "policyd-spf":
            mx.run(f"postconf -M policyd-spf/unix='{entry}' && postfix reload")
            assert mx.run("postconf -M policyd-spf/unix").stdout.strip() == entry
        else:
            mx.run(f"systemctl start {service}")
            wait_until(lambda: mx.file(MILTER_SOCKETS[service]).exists, f"{service}'s socket back")


def reached_nothing(logged, service):
    assert any(UNREACHED[service] in line for line in logged), f"smtpd never failed to reach {service}: {logged[-20:]}"


def step_reply(transcript, step):
    """The code and text of the reply to the command starting with ``step`` (the transcript ends there)."""
    last = transcript[-1]
    assert last["send"].startswith(step), f"the dialogue ended at {last['send']!r}, not {step}: {transcript}"
    return last["code"], last["text"]


# accept, the default: mail flows without the check.

def test_spf_outage_accepts_mail_unchecked_by_default(lab, mx, marker):
    sender = "someone@spf-fail.test"      # refused at RCPT with the SPF text while the service runs
    outside = lab["outside"]
    refused = outside.smtp(mx.address, [f"EHLO {outside.fqdn}", f"MAIL FROM:<{sender}>", "RCPT TO:<jean@falcot.test>"])
    assert step_reply(refused, "RCPT")[0] == 550 and "SPF fail" in refused[-1]["text"], refused
    with down(mx, "policyd-spf") as logged:
        transcript = send(outside, mx, sender, marker)
        assert step_reply(transcript, "<message>")[0] == 250, transcript
    reached_nothing(logged, "policyd-spf")
    assert not headers(delivered(lab, marker), "Received-SPF")


def test_dkim_outage_lets_mail_leave_unsigned_by_default(lab, mx, marker):
    with down(mx, "dkimpy-milter") as logged:
        transcript = send(lab["office"], mx, "staff@falcot.test", marker)
        assert step_reply(transcript, "<message>")[0] == 250, transcript
    reached_nothing(logged, "dkimpy-milter")
    assert not headers(delivered(lab, marker), "DKIM-Signature")


def test_dkim_verifier_outage_lets_mail_in_unverified_by_default(lab, mx, marker):
    with down(mx, "dkimpy-milter-verify") as logged:
        transcript = send(lab["outside"], mx, "someone@spf-pass.test", marker)
        assert step_reply(transcript, "<message>")[0] == 250, transcript
    reached_nothing(logged, "dkimpy-milter-verify")
    delivered(lab, marker)


def test_dmarc_outage_accepts_mail_unevaluated_by_default(lab, mx, marker):
    # A forged company From:, refused with the DMARC text while OpenDMARC runs (test_deliverability).
    with down(mx, "opendmarc") as logged:
        transcript = send(lab["outside"], mx, "someone@spf-pass.test", marker, header_from="ceo@falcot.test")
        assert step_reply(transcript, "<message>")[0] == 250, transcript
    reached_nothing(logged, "opendmarc")
    results = headers(delivered(lab, marker), "Authentication-Results")
    assert not any("dmarc=" in value for value in results), results


# Forged company mail from the Internet is never signed. With DMARC p=reject in the lab it is refused at
# DATA (test_deliverability); while OpenDMARC is down with the default dmarc_outage_action accept it is
# delivered, and so it is with DMARC off or under p=none: then only the missing company signature tells it
# from the company's own mail. Internet clients reach the verifier alone (smtpd_milters), which holds no key.

def test_forged_company_mail_from_outside_is_delivered_unsigned(lab, mx, marker):
    with down(mx, "opendmarc") as logged:
        transcript = send(lab["outside"], mx, "someone@spf-pass.test", marker, header_from="ceo@falcot.test")
        assert step_reply(transcript, "<message>")[0] == 250, transcript
    reached_nothing(logged, "opendmarc")
    forged = delivered(lab, marker)
    assert headers(forged, "From") == ["<ceo@falcot.test>"], forged[:2000]
    assert not headers(forged, "DKIM-Signature"), forged[:3000]


# tempfail: the client is told to come back later, nothing passes unchecked or unsigned.

@pytest.fixture(scope="module")
def tempfail_fleet(lab):
    result = site_with(TEMPFAIL, limit="mx_hosts")
    assert result.returncode == 0, result.stdout[-4000:]
    yield
    restored = site_with({}, limit="mx_hosts")
    assert restored.returncode == 0, restored.stdout[-4000:]


def test_spf_outage_defers_at_rcpt_when_configured_to(lab, tempfail_fleet, mx, marker):
    outside, sender = lab["outside"], f"{marker}@spf-pass.test"
    commands = [f"EHLO {outside.fqdn}", f"MAIL FROM:<{sender}>", "RCPT TO:<jean@falcot.test>"]
    assert step_reply(outside.smtp(mx.address, commands), "RCPT")[0] == 250
    with down(mx, "policyd-spf") as logged:
        code, text = step_reply(outside.smtp(mx.address, commands), "RCPT")
    reached_nothing(logged, "policyd-spf")
    # Not greylisting's 450: the policy's default action, DEFER_IF_PERMIT.
    assert code == 450 and text.endswith("<jean@falcot.test>: Recipient address rejected: Service unavailable"), text


@pytest.mark.parametrize("service, client, sender", [("dkimpy-milter", "office", "staff@falcot.test"),
                                                     ("dkimpy-milter-verify", "outside", "someone@spf-pass.test"),
                                                     ("opendmarc", "outside", "someone@spf-pass.test")])
def test_milter_outage_tempfails_at_mail_from_when_configured_to(lab, tempfail_fleet, mx, service, client, sender):
    client = lab[client]
    commands = [f"EHLO {client.fqdn}", f"MAIL FROM:<{sender}>"]
    assert step_reply(client.smtp(mx.address, commands), "MAIL FROM")[0] == 250
    with down(mx, service) as logged:
        started = time.monotonic()
        code, text = step_reply(client.smtp(mx.address, commands), "MAIL FROM")
    reached_nothing(logged, service)
    assert (code, text) == (451, "4.7.1 Service unavailable - try again later"), (code, text, time.monotonic() - started)
