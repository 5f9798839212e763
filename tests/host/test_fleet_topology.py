"""One mail system (issue 11): the MX hosts filter and relay, the mailbox host delivers.

Real SMTP from `outside`. Every company address ends in one mailbox on mbox,
whichever MX took it; unknown recipients are refused at RCPT by the MX from
the recipient list it holds, also while mbox is down; mail accepted during an
outage waits in the MX queue and is delivered once mbox is back; Internet
clients cannot skip the MX hosts.
"""
import re
import shlex
import socket
import struct

import pytest

from ansible_runs import SNAPSHOT, failed_with, site_with
from company_mail import queue, rcpt, send, wait_until
from labkit.remote import last_reply

VHOSTS = "/var/mail/vhosts/partners.falcot.test"
# Address -> where the mailbox host keeps its mail (file, or maildir "new" directory).
MAILBOXES = {
    "jean@falcot.test": "/var/mail/jean",                      # local user
    "postmaster@falcot.test": "/var/mail/root",                # local alias
    "someone-else@legacy.falcot.test": "/var/mail/root",       # catch-all of the alias domain
    "anna@partners.falcot.test": f"{VHOSTS}/anna/new",         # virtual maildir
    "bob@partners.falcot.test": f"{VHOSTS}/bob",               # virtual mbox
}
MX_NAMES = ("mx1", "mx2")


def queued_id(transcript):
    """The queue ID of a message the server answered 250 after DATA."""
    step = transcript[-1]
    assert step["send"] == "<message>" and step["code"] == 250, transcript
    found = re.search(r"queued as ([0-9A-Za-z]+)", step["text"])
    assert found, transcript
    return found.group(1)


def copies(host, path, marker):
    """How many messages under ``path`` (a file or a maildir directory) carry ``marker``."""
    return int(host.run(f"grep -rhcF -- {shlex.quote('Subject: ' + marker)} {shlex.quote(path)} "
                        "| awk '{n += $1} END {print n + 0}'").stdout)


@pytest.mark.parametrize("recipient", sorted(MAILBOXES))
def test_an_address_sent_through_either_mx_ends_in_one_mailbox(lab, mailbox_host, recipient, marker):
    path = MAILBOXES[recipient]
    for name in MX_NAMES:
        transcript = send(lab, lab[name], recipient, f"{marker}-{name}")
        assert last_reply(transcript)[0] == 250 and transcript[-1]["send"] == "<message>", transcript
    for name in MX_NAMES:
        wait_until(lambda: copies(mailbox_host, path, f"{marker}-{name}") >= 1,
                   f"the message sent through {name} in mbox:{path}")
        assert copies(mailbox_host, path, f"{marker}-{name}") == 1
        # Nothing is delivered on the MX hosts themselves.
        for mx_name in MX_NAMES:
            leftover = lab[mx_name].run(f"grep -rlF -- {shlex.quote(marker)} /var/mail", check=False).stdout
            assert leftover == "", f"{mx_name} kept a copy: {leftover}"


@pytest.mark.parametrize("mx_name", MX_NAMES)
@pytest.mark.parametrize("recipient", ["nobody@falcot.test", "nobody@partners.falcot.test"])
def test_an_unknown_recipient_gets_550_at_rcpt_on_every_mx(lab, mx_name, recipient):
    transcript = rcpt(lab, lab[mx_name], recipient)
    code, text = last_reply(transcript)
    assert transcript[-1]["send"] == f"RCPT TO:<{recipient}>", transcript
    assert code == 550 and "User unknown in relay recipient table" in text, transcript


def test_an_internet_client_cannot_skip_the_mx_hosts(lab, mailbox_host):
    for recipient in ("jean@falcot.test", "anna@partners.falcot.test", "x@legacy.falcot.test"):
        transcript = rcpt(lab, mailbox_host, recipient)
        code, text = last_reply(transcript)
        assert transcript[-1]["send"] == f"RCPT TO:<{recipient}>", transcript
        assert code == 554 and "Recipient address rejected: Access denied" in text, transcript


def test_the_mailbox_host_lets_in_only_mynetworks_and_the_mx_hosts(lab, mailbox_host):
    networks = mailbox_host.run("postconf -h mynetworks").stdout.split()
    assert {f"{lab[name].address}/32" for name in MX_NAMES} <= set(networks), networks
    assert f"{lab['outside'].address}/32" not in networks
    assert mailbox_host.run("postconf -h smtpd_relay_restrictions").stdout.split() == ["permit_mynetworks,",
                                                                                       "reject"]


@pytest.fixture
def mailbox_host_down(mailbox_host):
    """Postfix stopped on the mailbox host; started again whatever the test does."""
    mailbox_host.run("systemctl stop postfix")
    try:
        yield mailbox_host
    finally:
        mailbox_host.start_unit("postfix")


def test_mail_waits_in_the_mx_queue_while_the_mailbox_host_is_down(lab, mailbox_host_down, marker):
    mbox, recipient = mailbox_host_down, "jean@falcot.test"
    queued = {}
    for name in MX_NAMES:
        mx = lab[name]
        # Unknown recipients are still refused: the list lives on the MX.
        transcript = rcpt(lab, mx, "nobody@falcot.test")
        assert transcript[-1]["send"] == "RCPT TO:<nobody@falcot.test>" and last_reply(transcript)[0] == 550
        queued[name] = queued_id(send(lab, mx, recipient, f"{marker}-{name}"))
    for name, queue_id in queued.items():
        def deferred(mx=lab[name], queue_id=queue_id):
            entries = [entry for entry in queue(mx) if entry["queue_id"] == queue_id]
            return bool(entries) and entries[0]["queue_name"] == "deferred"
        wait_until(deferred, f"{queue_id} in {name}'s deferred queue")
        entry = next(entry for entry in queue(lab[name]) if entry["queue_id"] == queue_id)
        assert [r["address"] for r in entry["recipients"]] == [recipient], entry
        assert copies(mbox, "/var/mail/jean", f"{marker}-{name}") == 0

    mbox.start_unit("postfix")
    for name in MX_NAMES:
        lab[name].run("postqueue -f")
    for name, queue_id in queued.items():
        wait_until(lambda name=name: copies(mbox, "/var/mail/jean", f"{marker}-{name}") >= 1,
                   f"the message queued on {name} delivered to mbox")
        wait_until(lambda name=name, queue_id=queue_id: all(e["queue_id"] != queue_id for e in queue(lab[name])),
                   f"{queue_id} gone from {name}'s queue")
    for name in MX_NAMES:
        assert copies(mbox, "/var/mail/jean", f"{marker}-{name}") == 1, "delivered more than once"


def _mx_records(domain, server="198.18.0.1"):
    """(priority, host) of the MX records the lab DNS server publishes for ``domain``."""
    query = struct.pack(">HHHHHH", 0x4d46, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(label)]) + label.encode() for label in domain.split(".")) + b"\0"
    query += struct.pack(">HH", 15, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(query, (server, 53))
        reply = sock.recv(4096)
    answers = struct.unpack(">H", reply[6:8])[0]

    def name_at(offset):
        labels = []
        while reply[offset]:
            if reply[offset] >= 0xC0:
                labels.append(name_at(struct.unpack(">H", reply[offset:offset + 2])[0] & 0x3FFF)[0])
                return ".".join(labels), offset + 2
            labels.append(reply[offset + 1:offset + 1 + reply[offset]].decode())
            offset += 1 + reply[offset]
        return ".".join(labels), offset + 1

    offset = name_at(12)[1] + 4
    records = []
    for _ in range(answers):
        offset = name_at(offset)[1]
        kind, _class, _ttl, length = struct.unpack(">HHIH", reply[offset:offset + 10])
        offset += 10
        if kind == 15:
            records.append((struct.unpack(">H", reply[offset:offset + 2])[0], name_at(offset + 2)[0]))
        offset += length
    return sorted(records)


@pytest.mark.parametrize("domain", ["falcot.test", "legacy.falcot.test", "partners.falcot.test"])
def test_the_lab_dns_publishes_the_mx_hosts_with_priorities(domain):
    assert _mx_records(domain) == [(10, "mx1.falcot.test"), (20, "mx2.falcot.test")]


# --- Bad topology: refused on the controller before any host changes -------------------------

FLEET_FILES = SNAPSHOT + "; ps -o lstart= -C master"


@pytest.fixture
def fleet_unchanged(lab):
    """Configuration files and the Postfix master's start time of every mail host, before and after."""
    hosts = [lab[name] for name in ("mx1", "mx2", "mbox")]
    before = [host.run(FLEET_FILES).stdout for host in hosts]
    yield
    after = [host.run(FLEET_FILES).stdout for host in hosts]
    for host, old, new in zip(hosts, before, after):
        assert new == old, f"{host.name} changed"


ALL_DOMAINS = ["falcot.test", "legacy.falcot.test", "partners.falcot.test"]


@pytest.mark.parametrize("extra_vars, culprits", [
    ({"postfix_fleet_mailbox_hosts": {"mbox9": ALL_DOMAINS}},
     ["mailbox host mbox9 is not a host of the inventory"]),
    ({"postfix_fleet_mailbox_hosts": {"mbox": ALL_DOMAINS, "mx2": ["falcot.test"]}},
     ["falcot.test has two mailbox hosts: mbox and mx2"]),
    ({"postfix_main_cf_host": {"mydestination": "$myhostname, localhost, falcot.test"}},
     ["falcot.test is relayed to mbox, but postfix_main_cf_host.mydestination would also deliver it locally on mx1"]),
    ({"postfix_aliases": {}, "postfix_local_recipients": []},
     ["falcot.test: no recipient is known", "the MX hosts would refuse all its mail"]),
])
def test_a_bad_topology_is_refused_before_any_host_changes(extra_vars, culprits, fleet_unchanged):
    failed_with(site_with(extra_vars, limit="mx1,mx2,mbox"), *culprits)
