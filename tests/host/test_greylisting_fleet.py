"""Fleet mode (issue 4): both MX hosts run sqlgrey with one PostgreSQL database on greydb.

The lab runs postgrey by default. The module fixture switches both MX hosts to
sqlgrey with site.yml and back to postgrey at the end; it also keeps the output
of every site.yml run in fleet mode, for the password test. Real SMTP from
`outside`; outages are tried on both MX hosts (Debian 12 and 13).
"""
import shlex
import time
from pathlib import Path

import pytest

from ansible_runs import failed_with, recap_all_unchanged, site_with
from greylisting_mail import GREYLISTED, LAB_DELAY, greylisted, new_sender, send_mail, send_until_past_greylisting
from labkit.remote import last_reply

PASSWORD_FILE = Path("/var/lib/mailforge-lab/secrets/greylist-db")   # inventory/lab/group_vars/all.yml
FLEET = {"greylisting_backend": "sqlgrey", "greylisting_whitelist_recipients": []}


def mail(lab, mx, marker, mail_from):
    return send_mail(lab["outside"], mx, GREYLISTED, marker, mail_from)


@pytest.mark.parametrize("extra_vars, culprits", [
    # Nothing listens on that port of greydb.
    ({"greylisting_sql_port": 5999}, ["PostgreSQL server 198.18.0.40:5999 unreachable"]),
    ({"greylisting_sql_password": "wrong-password-0123456789"}, ["password authentication failed", "28P01"]),
    ({"greylisting_sql_host": "not a host"}, ["greylisting_sql_host must be a host name or an IP address"]),
    ({"greylisting_whitelist_recipients": ["postmaster@"]}, ["sqlgrey has no recipient whitelist"]),
])
def test_unusable_fleet_settings_are_refused_and_nothing_changes(extra_vars, culprits, unchanged):
    failed_with(site_with({**FLEET, **extra_vars}), *culprits)


class Fleet(dict):
    """The lab hosts by name, plus ``runs``: output of every site.yml run in fleet mode."""

    def __init__(self, lab):
        super().__init__(lab)
        self.runs = []


@pytest.fixture(scope="module")
def fleet(lab):
    switched = site_with(FLEET, limit=None)
    hosts = Fleet(lab)
    try:
        assert switched.returncode == 0, switched.stdout[-4000:]
        hosts.runs.append(switched.stdout + switched.stderr)
        yield hosts
    finally:
        restored = site_with({}, limit=None)
    assert restored.returncode == 0, restored.stdout[-4000:]
    for name in ("mx1", "mx2"):
        assert lab[name].run("systemctl is-active postgrey").stdout.strip() == "active"
        assert lab[name].run("systemctl is-active sqlgrey", check=False).stdout.strip() == "inactive"


def test_fleet_runs_sqlgrey_instead_of_postgrey(fleet):
    for name in ("mx1", "mx2"):
        mx = fleet[name]
        assert mx.run("systemctl is-active sqlgrey").stdout.strip() == "active"
        assert mx.run("systemctl is-active postgrey", check=False).stdout.strip() == "inactive"
        assert "db_pass" in mx.run("cat /etc/sqlgrey/sqlgrey.conf").stdout
        assert mx.run("stat -c '%U:%G %a' /etc/sqlgrey/sqlgrey.conf").stdout.strip() == "root:sqlgrey 640"


def test_greylisted_on_mx1_is_accepted_on_mx2(fleet, marker):
    mx1, mx2, mail_from = fleet["mx1"], fleet["mx2"], new_sender()
    transcript = mail(fleet, mx1, marker, mail_from)
    assert greylisted(transcript), transcript
    # The retries go to mx2, which knows the triplet from the shared database.
    _, waited = send_until_past_greylisting(lambda: mail(fleet, mx2, marker, mail_from))
    assert waited >= LAB_DELAY - 1, f"accepted {waited:.1f} s after the first try, before the delay"
    # Into the one mailbox, on the mailbox host.
    assert fleet["mbox"].wait_for_file_containing("/var/mail/jean", marker)


def test_an_early_retry_on_the_other_mx_is_still_deferred(fleet, marker):
    mail_from = new_sender()
    first = mail(fleet, fleet["mx2"], marker, mail_from)
    assert greylisted(first), first
    retry = mail(fleet, fleet["mx1"], marker, mail_from)
    assert greylisted(retry), retry


@pytest.mark.parametrize("name", ["mx1", "mx2"])
def test_sqlgrey_down_accepts_by_default(fleet, marker, name):
    mx = fleet[name]
    mx.run("systemctl stop sqlgrey")
    try:
        cursor = mx.journal_cursor()
        transcript = mail(fleet, mx, marker, new_sender())
        assert last_reply(transcript)[0] == 250 and transcript[-1]["send"] == "<message>", transcript
        # Accepted because the policy service was down, not because it let the mail through.
        mx.wait_for_journal(cursor, "problem talking to server")
    finally:
        mx.start_unit("sqlgrey")


def test_database_down_fails_open_and_greylisting_comes_back(fleet, marker):
    """Documented sqlgrey behaviour: without its database it accepts ("in doubt, accept"), on both MX."""
    greydb = fleet["greydb"]
    cluster = greydb.run("pg_lsclusters --no-header | awk '{print $1 \"-\" $2}'").stdout.strip()
    greydb.run(f"systemctl stop postgresql@{cluster}")
    try:
        for name in ("mx1", "mx2"):
            transcript = mail(fleet, fleet[name], marker, new_sender())
            assert last_reply(transcript)[0] == 250 and transcript[-1]["send"] == "<message>", (name, transcript)
    finally:
        greydb.start_unit(f"postgresql@{cluster}")
    # sqlgrey reconnects (or systemd restarts it): a new triplet is greylisted again, within a bound.
    for name in ("mx1", "mx2"):
        deadline = time.monotonic() + 60
        while not greylisted(reply := mail(fleet, fleet[name], marker, new_sender())):
            assert last_reply(reply)[0] == 250, (name, reply)     # still failing open, nothing else
            assert time.monotonic() < deadline, f"{name}: not greylisting 60 s after the database came back"
            time.sleep(3)


def test_second_fleet_converge_changes_nothing(fleet):
    again = site_with(FLEET, limit=None)
    fleet.runs.append(again.stdout + again.stderr)
    assert again.returncode == 0, again.stdout[-4000:]
    unchanged, recap = recap_all_unchanged(again.stdout)
    assert unchanged, recap


def test_the_database_password_shows_nowhere(fleet):
    password = PASSWORD_FILE.read_text().strip()
    assert len(password) >= 16
    assert fleet.runs and not any(password in output for output in fleet.runs)
    for name in ("mx1", "mx2", "greydb"):
        found = fleet[name].run(f"journalctl --no-pager -q | grep -cF {shlex.quote(password)}; "
                                f"grep -rlF {shlex.quote(password)} /var/log /tmp /root", check=False).stdout
        assert found.split() == ["0"], f"{name}: the password is in {found}"
