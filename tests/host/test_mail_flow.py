"""Handbook 11.1.1 behaviour, seen by real SMTP clients on other lab hosts."""
import pytest

from labkit.remote import last_reply


def message(marker, sender, recipient):
    return (f"From: <{sender}>\nTo: <{recipient}>\nSubject: {marker}\n"
            f"Message-ID: <{marker}@lab.test>\n\nbody {marker}\n")


def deliver(client, server, sender, recipient, marker):
    return client.smtp(server, [
        f"EHLO {client.fqdn}",
        f"MAIL FROM:<{sender}>",
        f"RCPT TO:<{recipient}>",
        {"data": message(marker, sender, recipient)},
    ])


@pytest.mark.parametrize("mx_name", ["mx1", "mx2"])
def test_local_user_gets_mail_in_their_mailbox(lab, mx_name, marker):
    mx, outside = lab[mx_name], lab["outside"]
    transcript = deliver(outside, mx.address, "sender@elsewhere.test", f"jean@{mx.fqdn}", marker)
    code, text = last_reply(transcript)
    assert code == 250, transcript
    assert mx.wait_for_file_containing("/var/mail/jean", marker), f"{marker} not in {mx_name}:/var/mail/jean"


@pytest.mark.parametrize("mx_name", ["mx1", "mx2"])
def test_outside_client_cannot_relay(lab, mx_name):
    outside = lab["outside"]
    transcript = outside.smtp(lab[mx_name].address, [
        f"EHLO {outside.fqdn}",
        "MAIL FROM:<spammer@elsewhere.test>",
        "RCPT TO:<victim@foreign.test>",
    ])
    code, text = last_reply(transcript)
    assert code == 554, transcript
    assert text.startswith("5.7.1"), transcript
    assert "Relay access denied" in text


@pytest.mark.parametrize("mx_name", ["mx1", "mx2"])
def test_mynetworks_client_may_relay(lab, mx_name, marker):
    office = lab["office"]
    transcript = deliver(office, lab[mx_name].address, "staff@falcot.test", "partner@elsewhere.test", marker)
    code, _ = last_reply(transcript)
    assert code == 250, transcript


def test_mail_between_the_mx_hosts_goes_by_dns_mx(lab, marker):
    # office hands mail for mx2's domain to mx1; mx1 must find mx2 by its MX record.
    office, mx1, mx2 = lab["office"], lab["mx1"], lab["mx2"]
    transcript = deliver(office, mx1.address, "jean@falcot.test", f"jean@{mx2.fqdn}", marker)
    assert last_reply(transcript)[0] == 250, transcript
    assert mx2.wait_for_file_containing("/var/mail/jean", marker), "mx1 did not deliver to mx2"
    log = mx1.run("journalctl -u 'postfix*' --no-pager -o cat | tail -n 200").stdout
    assert f"relay={mx2.fqdn}[{mx2.address}]:25" in log
