"""Handbook 11.1.5: per-recipient restriction classes, and greylisting (11.1.4) through one of them.

Real SMTP from lab clients outside mynetworks. The lab greylists only
greylisted@falcot.test (inventory/lab/group_vars/mail_servers.yml), so the
rest of the lab's mail flows at once.
"""
import pytest

from ansible_runs import refused_on_both_mx
from greylisting_mail import (GREYLISTED, LAB_DELAY, greylisted, new_sender, rcpt_reply, send_mail,
                              send_until_past_greylisting)
from labkit.remote import last_reply

# Postfix's reply when the policy service cannot be asked and default_action defers.
OUTAGE_TEXT = "Service unavailable"


@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


def test_greylisted_recipient_is_deferred_then_accepted_after_the_delay(lab, mx, mailbox_host, marker):
    outside, mail_from = lab["outside"], new_sender()
    first = send_mail(outside, mx, GREYLISTED, marker, mail_from)
    assert greylisted(first), first
    _, waited = send_until_past_greylisting(lambda: send_mail(outside, mx, GREYLISTED, marker, mail_from))
    assert waited >= LAB_DELAY - 1, f"accepted {waited:.1f} s after the first try, before the delay"
    assert mailbox_host.wait_for_file_containing("/var/mail/jean", marker)


def test_other_recipients_are_not_greylisted(lab, mx, marker):
    transcript = send_mail(lab["outside"], mx, "jean@falcot.test", marker, new_sender())
    assert last_reply(transcript)[0] == 250, transcript


def test_permissive_recipient_is_accepted_at_once(lab, mx, mailbox_host, marker):
    transcript = send_mail(lab["noptr"], mx, "open@falcot.test", marker, new_sender())
    assert last_reply(transcript)[0] == 250, transcript
    assert mailbox_host.wait_for_file_containing("/var/mail/jean", marker)


def test_aggressive_recipient_refuses_a_client_of_the_strict_zone(lab, mx, marker):
    code, text = rcpt_reply(send_mail(lab["noptr"], mx, "strict@falcot.test", marker, new_sender()))
    assert code == 554 and "blocked using strict.lab.test" in text, (code, text)


def test_the_strict_zone_does_not_apply_to_other_recipients(lab, mx, marker):
    transcript = send_mail(lab["noptr"], mx, "jean@falcot.test", marker, new_sender())
    assert last_reply(transcript)[0] == 250, transcript


def test_list_address_refuses_an_unverifiable_sender(lab, mx, marker):
    # elsewhere.test resolves (MX outside), but nothing there takes this sender's mail.
    code, text = rcpt_reply(send_mail(lab["outside"], mx, "lists@falcot.test", marker, new_sender()))
    assert code in (450, 550) and "Sender address rejected: unverified address" in text, (code, text)


def test_list_address_accepts_a_verifiable_sender(lab, mx, marker):
    # The envelope sender is verifiable (jean@falcot.test); the From: is outside's own, since a
    # falcot.test From: sent from outside fails DMARC (p=reject) where deliverability is on.
    transcript = send_mail(lab["outside"], mx, "lists@falcot.test", marker, "jean@falcot.test",
                           header_from="list-member@outside.elsewhere.test")
    assert last_reply(transcript)[0] == 250, transcript


def test_the_classes_are_in_main_cf(lab, mx):
    classes = mx.run("postconf -h smtpd_restriction_classes").stdout.strip()
    assert classes == "greylisting, permissive, aggressive"
    last = mx.run("postconf -h smtpd_recipient_restrictions").stdout.rsplit(",", 1)[-1].strip()
    db_type = mx.run("postconf -h default_database_type").stdout.strip()
    assert last == f"check_recipient_access {db_type}:/etc/postfix/recipient_classes", last


@pytest.fixture
def postgrey_stopped(mx):
    mx.run("systemctl stop postgrey")
    yield mx
    mx.start_unit("postgrey")


def test_policy_service_down_accepts_by_default(lab, mailbox_host, marker, postgrey_stopped):
    cursor = postgrey_stopped.journal_cursor()
    transcript = send_mail(lab["outside"], postgrey_stopped, GREYLISTED, marker, new_sender())
    assert last_reply(transcript)[0] == 250 and transcript[-1]["send"] == "<message>", transcript
    assert mailbox_host.wait_for_file_containing("/var/mail/jean", marker)
    # Accepted because the service was down, not because it let the mail through.
    postgrey_stopped.wait_for_journal(cursor, "problem talking to server", "10023")


@pytest.mark.parametrize("extra_vars, culprits", [
    ({"restriction_classes_recipients": {"greylisted@falcot.test": "greylistng"}},
     ["greylistng is not an access(5) action, a Postfix restriction, or a class defined in classes"]),
    ({"restriction_classes_default": "slow"}, ["default class 'slow' is not defined in classes"]),
    ({"restriction_classes_definitions": {"relayhost": ["permit"]}, "restriction_classes_recipients": {}},
     ["class name 'relayhost' is a Postfix parameter name"]),
    ({"restriction_classes_definitions": {"reject": ["permit"]}, "restriction_classes_recipients": {}},
     ["class name 'reject' is the name of a Postfix restriction"]),
    ({"restriction_classes_recipients": {"@falcot.test": "permissive"}}, ["key '@falcot.test' is a bare @domain"]),
    # The relay list must stop relaying on its own (postfix role): no class there.
    ({"postfix_smtpd_relay_restrictions": ["permit_mynetworks", "permissive", "reject_unauth_destination"]},
     ["smtpd_relay_restrictions item 2 'permissive'"]),
])
def test_bad_classes_are_refused_and_nothing_changes(extra_vars, culprits, unchanged):
    refused_on_both_mx(extra_vars, *culprits)
