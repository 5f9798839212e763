"""The whole run is validated before any host changes (issue 12 point 2).

site.yml's first play checks every role's input on every host. A bad value
for a late role (fail2ban and sasl_auth are the last, content_filters and
antivirus sit in the middle) stops the run there, even when the same run also changes the
postfix role's main.cf: every mail host and the greylisting database stay
byte-identical, and Postfix is neither restarted nor reloaded (the master's
PID and start time, its qmgr child, which a reload replaces, and the stamp the
reload handler touches are all unchanged). Each case runs site.yml on the
whole fleet, fails in the first play within seconds, and names the culprit.
"""
import time

import pytest

from ansible_runs import SNAPSHOT, ansible, failed_with, recap_all_unchanged, site_with, TOP

# The Postfix master (PID file), its start time in clock ticks since boot
# (/proc/PID/stat field 22) and systemd's view of it, the qmgr it runs (a
# reload makes the master start a new one), and the stamp of the last reload.
POSTFIX_PROCESSES = (
    "pid=$(tr -d ' ' < /var/spool/postfix/pid/master.pid); "
    "echo master $pid $(cut -d' ' -f22 /proc/$pid/stat); "
    "echo qmgr $(pgrep -x -P $pid qmgr); "
    "systemctl show -p MainPID,ExecMainStartTimestampMonotonic postfix@-.service; "
    "stat -c 'stamp %Y.%y' /var/lib/postfix/mailforge.loaded")
MAIL_HOST_STATE = f"{SNAPSHOT}; {POSTFIX_PROCESSES}"
DATABASE_STATE = ("find /etc/postgresql -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum; "
                  "for unit in $(systemctl list-units --plain --no-legend 'postgresql@*' | awk '{print $1}'); do "
                  "systemctl show -p Id,MainPID,ExecMainStartTimestampMonotonic $unit; done")
MAIL_HOSTS = ("mx1", "mx2", "mbox")
# A change the postfix role, which runs first, would make and reload on every mail host.
BANNER = {"postfix_main_cf": {"smtpd_banner": "$myhostname ESMTP mailforge validate-first test"}}
# Failing in the first play takes seconds; a run that reached the roles would take far longer.
SECONDS = 60


@pytest.fixture
def fleet_untouched(lab):
    """Every mail host's files and Postfix processes, and the database host's, the same after the test."""
    hosts = [(lab[name], MAIL_HOST_STATE) for name in MAIL_HOSTS] + [(lab["greydb"], DATABASE_STATE)]
    before = [host.run(state).stdout for host, state in hosts]
    assert all("master " in state and "qmgr " in state for state in before[:len(MAIL_HOSTS)]), before
    yield
    for (host, state), old in zip(hosts, before):
        assert host.run(state).stdout == old, f"{host.name} changed (files, or Postfix restarted or reloaded)"
    for name in MAIL_HOSTS:
        greeting = lab["outside"].smtp(lab[name].address, ["EHLO outside.elsewhere.test"])
        assert "validate-first" not in greeting[0]["text"], greeting
        assert greeting[-1]["code"] == 250, greeting


@pytest.mark.parametrize("extra_vars, culprits", [
    # The last role (on in the lab): its own check, on the controller.
    ({**BANNER, "fail2ban_ignoreip": ["198.18.0.300"]}, ["fail2ban_ignoreip", "198.18.0.300"]),
    # The role before: its argument specs, and its own check on the lists the earlier roles would write
    # (the postfix role would have written and reloaded the relay list first).
    ({**BANNER, "sasl_auth_on_port_25": "maybe"}, ["sasl_auth_on_port_25"]),
    ({**BANNER,
      "postfix_smtpd_relay_restrictions": ["permit_mynetworks", "reject_unauth_destination",
                                           "permit_sasl_authenticated"],
      "smtpd_restrictions_recipient": ["permit_mynetworks", "reject_unauth_destination",
                                       "permit_sasl_authenticated"],
      # The SPF check (on in the lab) would want its place in that list and be named first.
      "spf_policy_enabled": False},
     ["sasl_auth:", "permit_sasl_authenticated"]),
    # Roles in the middle.
    ({**BANNER, "content_filters_header_checks": [{"pattern": "no delimiters", "action": "REJECT x"}]},
     ["no delimiters"]),
    ({**BANNER, "antivirus_milter_socket": "tcp:10002"}, ["antivirus_milter_socket tcp:10002"]),
    ({**BANNER, "virtual_domains_uid": 50}, ["uid 50 must be a number of at least 100"]),
    ({**BANNER, "restriction_classes_default": "slow"}, ["default class 'slow' is not defined in classes"]),
    ({**BANNER, "greylisting_listen": "10023"}, ["greylisting_listen must be HOST:PORT"]),
])
def test_a_bad_late_value_leaves_every_host_as_it_was(extra_vars, culprits, fleet_untouched):
    started = time.monotonic()
    result = site_with(extra_vars, limit=None)
    elapsed = time.monotonic() - started
    failed_with(result, *culprits)
    output = result.stdout + result.stderr
    assert "PLAY [Check every role's input on every host]" in output, output[-3000:]
    # Refused in the first play: no later play started on any host.
    assert "PLAY [Greylisting database]" not in output and "PLAY [Mail servers]" not in output, output[-3000:]
    assert elapsed < SECONDS, f"the refusal took {elapsed:.0f}s"


def test_the_first_play_alone_checks_the_fleet_and_changes_nothing(fleet_untouched):
    result = ansible([str(TOP / ".venv/bin/ansible-playbook"), "site.yml", "--tags", "validate"])
    assert result.returncode == 0, result.stdout[-3000:]
    unchanged, recap = recap_all_unchanged(result.stdout)
    assert unchanged, recap
    for name in MAIL_HOSTS + ("greydb",):
        assert f"{name} " in recap, recap
    # Only checks ran: no role reached a task that reads or changes a host.
    assert "Install Postfix" not in result.stdout and "Install PostgreSQL" not in result.stdout
