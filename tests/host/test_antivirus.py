"""Handbook 11.1.6: ClamAV through clamav-milter, seen by a real SMTP client outside mynetworks."""
import re

import pytest

from ansible_runs import refused_on_both_mx, site_with
from antivirus_mail import EICAR, SIGNATURE, message, send, zipped
from labkit.remote import last_reply

@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


def test_eicar_attachment_is_rejected_with_the_signature_name(lab, mx, marker):
    transcript = send(lab, mx, message(marker, EICAR))
    code, text = last_reply(transcript)
    assert transcript[-1]["send"] == "<message>" and code == 550, transcript
    assert SIGNATURE in text, transcript


def test_eicar_inside_a_zip_is_rejected(lab, mx, marker):
    transcript = send(lab, mx, message(marker, zipped("eicar.com", EICAR), "invoice.zip"))
    code, text = last_reply(transcript)
    assert transcript[-1]["send"] == "<message>" and code == 550 and SIGNATURE in text, transcript


def test_clean_mail_is_delivered_with_the_scan_header(lab, mx, mailbox_host, marker):
    assert last_reply(send(lab, mx, message(marker)))[0] == 250
    assert mailbox_host.wait_for_file_containing("/var/mail/jean", marker)
    headers = mailbox_host.run(f"grep -B40 -A12 -F 'Subject: {marker}' /var/mail/jean").stdout
    assert "X-Virus-Scanned: clamav-milter" in headers and "X-Virus-Status: Clean" in headers, headers


class Outage:
    """Units stopped on both MX hosts, started again by restore() (or after the test)."""

    def __init__(self, lab):
        self.lab, self.units = lab, []

    def __call__(self, unit):
        for name in ("mx1", "mx2"):
            self.lab[name].run(f"systemctl stop {unit}")
        self.units.append(unit)

    def restore(self):
        while self.units:
            unit = self.units.pop()
            for name in ("mx1", "mx2"):
                self.lab[name].start_unit(unit)
        for name in ("mx1", "mx2"):
            self.lab[name].run("for i in $(seq 50); do test -S /run/clamav/clamd.ctl && break; sleep 0.2; done")


@pytest.fixture
def stopped(lab):
    outage = Outage(lab)
    yield outage
    outage.restore()


# clamd is socket-activated: with only the service stopped, the next scan starts it again.
CLAMD = "clamav-daemon.socket clamav-daemon.service"


OUTAGE_REPLY = (451, "4.7.1 Service unavailable - try again later")


# Without clamd the milter answers the message with a temporary failure (its
# OnFail); without the milter Postfix applies milter_default_action as soon as
# it would first talk to it, at MAIL FROM.
@pytest.mark.parametrize("unit, step", [(CLAMD, "<message>"), ("clamav-milter", "MAIL FROM:<someone@elsewhere.test>")])
def test_outage_defers_mail_by_default(lab, mx, marker, stopped, unit, step):
    stopped(unit)
    transcript = send(lab, mx, message(marker))
    assert transcript[-1]["send"] == step and last_reply(transcript) == OUTAGE_REPLY, transcript


# Its other choice, accept: test_outage_choices.


def test_disabling_the_antivirus_keeps_mail_flowing(lab, mailbox_host, marker):
    mx1 = lab["mx1"]
    try:
        disabled = site_with({"antivirus_enabled": False})
        assert disabled.returncode == 0, disabled.stdout[-3000:]
        # The DKIM and DMARC milters stay in the chain (lab_deliverability); ClamAV's leaves it.
        assert "clamav" not in mx1.run("postconf -h smtpd_milters non_smtpd_milters").stdout
        assert mx1.run("systemctl is-active clamav-milter", check=False).stdout.strip() == "inactive"
        assert last_reply(send(lab, mx1, message(marker)))[0] == 250
        assert mailbox_host.wait_for_file_containing("/var/mail/jean", marker)
    finally:
        restored = site_with({})
    assert restored.returncode == 0, restored.stdout[-3000:]
    transcript = send(lab, mx1, message(marker + "-again", EICAR))
    assert SIGNATURE in last_reply(transcript)[1], transcript


def first_milter(host):
    return re.split(r"[,\s]+", host.run("postconf -h smtpd_milters").stdout.strip())[0]


def test_the_milter_socket_is_a_unix_socket_in_postfixs_chroot(mx):
    # First in the chain (the milters role): a virus is refused before anything signs or judges it.
    assert first_milter(mx) == "unix:/clamav/clamav-milter.ctl"
    assert mx.run("stat -c '%U:%G %a' /var/spool/postfix/clamav").stdout.strip() == "clamav:postfix 750"
    assert mx.run("stat -c '%F %G' /var/spool/postfix/clamav/clamav-milter.ctl").stdout.strip() == "socket postfix"


def test_the_handbooks_inet_socket_still_works(lab, marker):
    mx1 = lab["mx1"]
    try:
        changed = site_with({"antivirus_milter_socket": "inet:10002@127.0.0.1"})
        assert changed.returncode == 0, changed.stdout[-3000:]
        assert first_milter(mx1) == "inet:[127.0.0.1]:10002"
        transcript = send(lab, mx1, message(marker, EICAR))
        code, text = last_reply(transcript)
        assert transcript[-1]["send"] == "<message>" and code == 550 and SIGNATURE in text, transcript
    finally:
        restored = site_with({})
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert first_milter(mx1) == "unix:/clamav/clamav-milter.ctl"


@pytest.mark.parametrize("extra_vars, culprits", [
    ({"antivirus_on_infected": "Explode"}, ["antivirus_on_infected", "Explode"]),
    ({"antivirus_milter_socket": "tcp:10002"}, ["antivirus_milter_socket tcp:10002"]),
    ({"antivirus_milter_socket": "inet:99999@127.0.0.1"}, ["inet:99999@127.0.0.1"]),
    ({"antivirus_signature_source": "files", "antivirus_signature_files": []},
     ["needs antivirus_signature_files"]),
    ({"antivirus_signature_source": "freshclam", "antivirus_freshclam_mirrors": []},
     ["air-gapped site lists its own mirror"]),
    ({"antivirus_signature_files": ["/nonexistent/main.cvd"]}, ["/nonexistent/main.cvd"]),
    ({"antivirus_signature_source": "freshclam", "antivirus_memory_check": "fail",
      "antivirus_min_memory_mb": 10000000}, ["MiB of memory"]),
])
def test_bad_antivirus_settings_are_refused_and_nothing_changes(extra_vars, culprits, unchanged):
    refused_on_both_mx(extra_vars, *culprits)
