"""What a client sees when a service in the mail path is down, with each outage choice, on both MX.

Issue 14's services: the SPF policy service, the DKIM signing and verifying milters and the DMARC
milter (spf_policy_outage, dkim_signing_outage_action for both DKIM milters, dmarc_outage_action); the lab runs their
defaults (accept: mail flows unchecked or unsigned). The non-default choices of every service
share one converge of both MX hosts (the `other_choices` fixture), converged back at the end:
those three set to tempfail, greylisting's policy service to defer (greylisting_outage; its
default, accept, is tested in test_restriction_classes) and the antivirus milter to accept
(antivirus_outage_action; its default, tempfail, is tested in test_antivirus).
And, with OpenDMARC down, that forged company mail from the Internet gets no company signature.

One service is down at a time; the others run, so each case first shows the same transaction
answered 250 while the service runs, and the journal names the service Postfix failed to reach.
An outage of the SPF policy service is its master.cf entry removed (Postfix spawns policyd-spf
on demand, so there is no daemon to stop); a milter's outage is its unit stopped.
"""
import contextlib

import pytest

from ansible_runs import site_with
from antivirus_mail import message as antivirus_message, send as antivirus_send
from company_mail import wait_until
from greylisting_mail import GREYLISTED, greylisted, new_sender, rcpt_reply, send_mail
from labkit.remote import last_reply
from test_antivirus import CLAMD, Outage
from test_deliverability import delivered, headers, send
from test_restriction_classes import OUTAGE_TEXT

OTHER_CHOICES = {"spf_policy_outage": "tempfail", "dkim_signing_outage_action": "tempfail",
                 "dmarc_outage_action": "tempfail", "greylisting_outage": "defer", "antivirus_outage_action": "accept"}
# dkimpy-milter signs the mail of internal clients (office), dkimpy-milter-verify verifies the others' (outside).
MILTER_SOCKETS = {"dkimpy-milter": "/var/spool/postfix/dkimpy-milter/dkimpy-milter.sock",
                  "dkimpy-milter-verify": "/var/spool/postfix/dkimpy-milter/verify.sock",
                  "opendmarc": "/var/spool/postfix/opendmarc/opendmarc.sock"}
# What smtpd warns when it cannot reach each one (the reason varies: no socket, connection refused).
UNREACHED = {"policyd-spf": "warning: connect to private/policyd-spf: ",
             "dkimpy-milter": "warning: connect to Milter service unix:/dkimpy-milter/dkimpy-milter.sock: ",
             "dkimpy-milter-verify": "warning: connect to Milter service unix:/dkimpy-milter/verify.sock: ",
             "opendmarc": "warning: connect to Milter service unix:/opendmarc/opendmarc.sock: "}


@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


def socket_exists(mx, path):
    return mx.run(f"test -S {path}", check=False).returncode == 0


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
        wait_until(lambda: not socket_exists(mx, MILTER_SOCKETS[service]), f"{service}'s socket gone")
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
            wait_until(lambda: socket_exists(mx, MILTER_SOCKETS[service]), f"{service}'s socket back")


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
    assert delivered(lab, marker)


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


# Forged company mail from the Internet is never signed. With DMARC p=reject in the lab it is refused at
# DATA (test_deliverability); while OpenDMARC is down with the default dmarc_outage_action accept it is
# delivered, and so it is with DMARC off or under p=none: then only the missing company signature tells it
# from the company's own mail. Internet clients reach the verifier alone (smtpd_milters), which holds no key.

def test_dmarc_outage_accepts_forged_mail_unevaluated_and_unsigned_by_default(lab, mx, marker):
    with down(mx, "opendmarc") as logged:
        transcript = send(lab["outside"], mx, "someone@spf-pass.test", marker, header_from="ceo@falcot.test")
        assert step_reply(transcript, "<message>")[0] == 250, transcript
    reached_nothing(logged, "opendmarc")
    forged = delivered(lab, marker)
    assert headers(forged, "From") == ["<ceo@falcot.test>"], forged[:2000]
    assert not any("dmarc=" in value for value in headers(forged, "Authentication-Results")), forged[:3000]
    assert not headers(forged, "DKIM-Signature"), forged[:3000]


# The other choices: for SPF, DKIM, DMARC and greylisting the client is told to come back later,
# nothing passes unchecked or unsigned; the antivirus lets mail through unscanned.

@pytest.fixture(scope="module")
def other_choices(lab):
    result = site_with(OTHER_CHOICES, limit="mx_hosts")
    assert result.returncode == 0, result.stdout[-4000:]
    yield
    restored = site_with({}, limit="mx_hosts")
    assert restored.returncode == 0, restored.stdout[-4000:]
    for name in ("mx1", "mx2"):
        assert lab[name].run("postconf -h milter_default_action").stdout.strip() == "tempfail"
        assert "default_action=DUNNO" in lab[name].run("postconf -h greylisting").stdout


def test_spf_outage_defers_at_rcpt_when_configured_to(lab, other_choices, mx, marker):
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
def test_milter_outage_tempfails_at_mail_from_when_configured_to(lab, other_choices, mx, service, client, sender):
    client = lab[client]
    commands = [f"EHLO {client.fqdn}", f"MAIL FROM:<{sender}>"]
    assert step_reply(client.smtp(mx.address, commands), "MAIL FROM")[0] == 250
    with down(mx, service) as logged:
        code, text = step_reply(client.smtp(mx.address, commands), "MAIL FROM")
    reached_nothing(logged, service)
    assert (code, text) == (451, "4.7.1 Service unavailable - try again later"), (code, text)


def test_greylisting_outage_defers_at_rcpt_when_configured_to(lab, other_choices, mx, marker):
    """The outage 450 is not greylisting's: its text and the log say the service is down."""
    assert "default_action=DEFER_IF_PERMIT" in mx.run("postconf -h greylisting").stdout
    mx.run("systemctl stop postgrey")
    try:
        cursor = mx.journal_cursor()
        transcript = send_mail(lab["outside"], mx, GREYLISTED, marker, new_sender())
        code, text = rcpt_reply(transcript)
        assert code == 450 and OUTAGE_TEXT in text and not greylisted(transcript), (code, text)
        mx.wait_for_journal(cursor, "problem talking to server", "10023")
        # Only greylisted recipients depend on the service.
        transcript = send_mail(lab["outside"], mx, "jean@falcot.test", marker, new_sender())
        assert last_reply(transcript)[0] == 250 and transcript[-1]["send"] == "<message>", transcript
    finally:
        mx.start_unit("postgrey", check=False)


def test_antivirus_outage_accepts_mail_when_configured_to(lab, other_choices, mailbox_host, mx, marker):
    assert mx.run("postconf -h milter_default_action").stdout.strip() == "accept"
    outage = Outage(lab)
    try:
        outage(CLAMD)
        transcript = antivirus_send(lab, mx, antivirus_message(marker))
        assert transcript[-1]["send"] == "<message>" and last_reply(transcript)[0] == 250, transcript
        assert mailbox_host.wait_for_file_containing("/var/mail/jean", marker)
    finally:
        outage.restore()
