"""Handbook 11.1.3 restrictions, seen by real SMTP clients outside mynetworks."""
import pytest

from labkit.remote import last_reply


def rcpt(client, server, recipient, sender="someone@elsewhere.test", helo=None):
    return client.smtp(server.address, [
        f"EHLO {helo or client.fqdn}", f"MAIL FROM:<{sender}>", f"RCPT TO:<{recipient}>"])


@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


def test_rbl_listed_client_is_rejected_with_the_rbl_text(lab, mx):
    code, text = last_reply(rcpt(lab["listed"], mx, f"jean@{mx.fqdn}"))
    assert code == 554, text
    assert "blocked using rbl.lab.test" in text and "listed in the lab RBL" in text


def test_unlisted_client_is_accepted(lab, mx):
    code, text = last_reply(rcpt(lab["outside"], mx, f"jean@{mx.fqdn}"))
    assert code == 250, text


def test_helo_claiming_our_domain_gets_the_access_table_text(lab, mx):
    code, text = last_reply(rcpt(lab["outside"], mx, f"jean@{mx.fqdn}", helo="falcot.test"))
    assert code == 554, text
    assert "You are not in our network!" in text


def test_non_fqdn_sender_is_rejected(lab, mx):
    code, text = last_reply(rcpt(lab["outside"], mx, f"jean@{mx.fqdn}", sender="jean"))
    assert code == 504, text
    assert "need fully-qualified address" in text


def test_non_fqdn_recipient_is_rejected(lab, mx):
    code, text = last_reply(rcpt(lab["outside"], mx, "jean"))
    assert code == 504, text
    assert "need fully-qualified address" in text


def test_sender_domain_that_does_not_resolve_is_rejected(lab, mx):
    code, text = last_reply(rcpt(lab["outside"], mx, f"jean@{mx.fqdn}", sender="x@no-such-domain.test"))
    # unknown_address_reject_code is 450 by default: a DNS hiccup must not bounce mail.
    assert code == 450 and text == "4.1.8 <x@no-such-domain.test>: Sender address rejected: Domain not found", text


def test_unknown_local_recipient_is_rejected_at_rcpt(lab, mx):
    code, text = last_reply(rcpt(lab["outside"], mx, f"nobody-here@{mx.fqdn}"))
    assert code == 550, text
    assert "User unknown" in text


def test_client_without_reverse_dns_is_warned_about_and_accepted(lab, mx, marker):
    # smtpd_client_restrictions: warn_if_reject reject_unknown_client_hostname
    noptr = lab["noptr"]
    code, text = last_reply(rcpt(noptr, mx, f"jean@{mx.fqdn}", sender=f"{marker}@elsewhere.test"))
    assert code == 250, text
    log = mx.run(f"journalctl -u 'postfix*' --no-pager -o cat | grep -F '{marker}@elsewhere.test'").stdout
    warning = [line for line in log.splitlines() if "reject_warning" in line]
    assert warning, log
    assert f"unknown[{noptr.address}]" in warning[0] and "cannot find your" in warning[0], warning


def test_client_that_pipelines_before_the_greeting_is_refused(lab, mx):
    # smtpd_data_restrictions: reject_unauth_pipelining. The burst goes out
    # before the greeting, so the client cannot know that PIPELINING exists.
    outside = lab["outside"]
    replies = outside.smtp(mx.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<someone@elsewhere.test>",
                                        f"RCPT TO:<jean@{mx.fqdn}>", "DATA"], burst=True)
    codes = [reply["code"] for reply in replies]
    assert 354 not in codes, replies
    # Postfix 3.7 (Debian 12) lets the commands in and refuses DATA by
    # reject_unauth_pipelining; 3.9 and later (Debian 13) drop the client at
    # once (smtpd_forbid_unauth_pipelining, on by default there).
    expected = {"mx1": (503, "5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining"),
                "mx2": (554, "5.5.0 Error: SMTP protocol synchronization")}[mx.name]
    assert (replies[-1]["code"], replies[-1]["text"]) == expected, replies


def test_the_same_commands_one_at_a_time_reach_data(lab, mx):
    outside = lab["outside"]
    transcript = outside.smtp(mx.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<someone@elsewhere.test>",
                                           f"RCPT TO:<jean@{mx.fqdn}>", "DATA"])
    assert last_reply(transcript)[0] == 354, transcript
