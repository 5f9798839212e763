"""Handbook 11.1.2 virtual domains, seen by a real SMTP client outside mynetworks."""
import pytest

from labkit.remote import last_reply
from ansible_runs import refused_on_both_mx, site_with
from company_mail import rcpt, send

VHOSTS = "/var/mail/vhosts/partners.falcot.test"


@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


def test_alias_forwards_to_the_target_mailbox(lab, mx, mailbox_host, marker):
    transcript = send(lab, mx, "webmaster@legacy.falcot.test", marker)
    assert last_reply(transcript)[0] == 250, transcript
    assert mailbox_host.wait_for_file_containing("/var/mail/jean", marker)


def test_catch_all_takes_any_other_address_of_the_alias_domain(lab, mx, mailbox_host, marker):
    transcript = send(lab, mx, f"no-one-{marker[-6:]}@legacy.falcot.test", marker)
    assert last_reply(transcript)[0] == 250, transcript
    # @legacy.falcot.test -> postmaster@falcot.test -> root (local alias)
    assert mailbox_host.wait_for_file_containing("/var/mail/root", marker)


def test_alias_with_two_targets_reaches_both(lab, mx, mailbox_host, marker):
    transcript = send(lab, mx, "contact@legacy.falcot.test", marker)
    assert last_reply(transcript)[0] == 250, transcript
    assert mailbox_host.wait_for_file_containing("/var/mail/jean", marker)
    assert mailbox_host.wait_for_file_containing(f"{VHOSTS}/anna/new", marker)


def test_maildir_mailbox_gets_a_file_under_new(lab, mx, mailbox_host, marker):
    transcript = send(lab, mx, "anna@partners.falcot.test", marker)
    assert last_reply(transcript)[0] == 250, transcript
    assert mailbox_host.wait_for_file_containing(f"{VHOSTS}/anna/new", marker)
    owners = mailbox_host.run(f"grep -rlF {marker} {VHOSTS}/anna/new | xargs stat -c '%u:%g %a'").stdout.split()
    assert owners == ["5000:5000", "600"], owners


def test_mbox_mailbox_gets_the_message_appended_with_its_from_line(lab, mx, mailbox_host, marker):
    transcript = send(lab, mx, "bob@partners.falcot.test", marker)
    assert last_reply(transcript)[0] == 250, transcript
    assert mailbox_host.wait_for_file_containing(f"{VHOSTS}/bob", marker)
    mbox = mailbox_host.run(f"cat {VHOSTS}/bob").stdout
    assert mbox.startswith("From ")
    # The separator line of this message: the last "From " line before its subject.
    separators = [line for line in mbox[:mbox.index(marker)].splitlines() if line.startswith("From ")]
    assert separators[-1].startswith("From someone@elsewhere.test "), separators[-1]


def test_unknown_recipient_of_a_mailbox_domain_is_rejected_at_rcpt(lab, mx):
    transcript = rcpt(lab, mx, "nobody@partners.falcot.test")
    code, text = last_reply(transcript)
    # Refused by the MX itself, from the recipient list it holds for the mailbox host.
    assert transcript[-1]["send"] == "RCPT TO:<nobody@partners.falcot.test>", transcript
    assert code == 550 and "User unknown in relay recipient table" in text, transcript


def rcpt_code(lab, mx, recipient):
    return last_reply(rcpt(lab, mx, recipient))


def test_removing_an_alias_from_the_inventory_removes_it(lab, mailbox_host, marker):
    mx1 = lab["mx1"]
    added = site_with(limit="mx1,mbox", extra_vars={"virtual_domains_aliases": {
        "webmaster@legacy.falcot.test": "jean@falcot.test",
        "contact@legacy.falcot.test": ["jean@falcot.test", "anna@partners.falcot.test"],
        "@legacy.falcot.test": "postmaster@falcot.test",
        "postmaster@partners.falcot.test": "postmaster@falcot.test",
        "sales@partners.falcot.test": "jean@falcot.test"}})
    try:
        assert added.returncode == 0, added.stdout[-3000:]
        assert rcpt_code(lab, mx1, "sales@partners.falcot.test")[0] == 250
    finally:
        restored = site_with({}, limit="mx1,mbox")
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert "sales@" not in mailbox_host.run("cat /etc/postfix/virtual").stdout
    assert "sales@" not in mx1.run("cat /etc/postfix/relay_recipients").stdout
    code, text = rcpt_code(lab, mx1, "sales@partners.falcot.test")
    assert code == 550 and "User unknown" in text, text


@pytest.mark.parametrize("extra_vars, culprits", [
    ({"virtual_domains_aliases": {"bad address@legacy.falcot.test": "jean@falcot.test"}},
     ["bad address@legacy.falcot.test", "is not an address"]),
    ({"virtual_domains_aliases": {"x@legacy.falcot.test": "not an address"}}, ["x@legacy.falcot.test"]),
    ({"virtual_domains_aliases": {"Sales@legacy.falcot.test": "jean", "sales@legacy.falcot.test": "root"}},
     ["Sales@legacy.falcot.test and sales@legacy.falcot.test are the same key"]),
    ({"virtual_domains_mailboxes": {"anna@partners.falcot.test": "../../../etc/"}}, ["anna@partners.falcot.test"]),
    ({"virtual_domains_alias_domains": ["falcot.test"]},
     ["falcot.test is in postfix_mydestination_domains and in virtual_domains_alias_domains"]),
])
def test_bad_virtual_data_is_refused_and_nothing_changes(extra_vars, culprits, unchanged):
    refused_on_both_mx(extra_vars, *culprits)
