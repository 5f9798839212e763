"""Bad input fails with a message naming the culprit, and the host is left as it was."""
import json
import os
import subprocess
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
SNAPSHOT = "find /etc/postfix /etc/aliases /etc/mailname -type f -print0 | sort -z | xargs -0 sha256sum"


def ansible(args):
    # Only the project's ansible.cfg decides paths: a caller's relative
    # ANSIBLE_*_PATH (Molecule sets some) would not resolve from TOP.
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(TOP / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(args, cwd=TOP, env=env, capture_output=True, text=True, timeout=600)


def module_call(module, arguments):
    return ansible([str(TOP / ".venv/bin/ansible"), "mx1", "-m", f"mailforge.postfix.{module}",
                    "-a", json.dumps(arguments)])


def site_with(extra_vars):
    return ansible([str(TOP / ".venv/bin/ansible-playbook"), "site.yml", "--limit", "mx1",
                    "-e", json.dumps(extra_vars)])


@pytest.fixture
def unchanged(lab):
    """Asserts that /etc/postfix and friends are byte-identical after the test and mail still flows."""
    mx1 = lab["mx1"]
    before = mx1.run(SNAPSHOT).stdout
    yield
    assert mx1.run(SNAPSHOT).stdout == before, "the host's configuration changed"
    transcript = lab["outside"].smtp(mx1.address, ["EHLO outside.elsewhere.test"])
    assert transcript[-1]["code"] == 250, transcript


def failed_with(result, *culprits):
    """The task itself failed on mx1 (not the run around it), naming every culprit."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    failures = [part for marker in ("mx1 | FAILED! =>", "fatal: [mx1]: FAILED! =>")
                for part in output.split(marker)[1:]]
    assert failures, f"no task failed on mx1:\n{output[-3000:]}"
    report = "".join(failures)
    for culprit in culprits:
        assert culprit in report, f"{culprit!r} not named in the failure:\n{report[-3000:]}"


CASES = {
    "typo in a parameter name": (
        lambda: module_call("postconf", {"parameters": {"smtpd_helo_requird": "yes"}}),
        ["smtpd_helo_requird"]),
    "typo in a parameter name through site.yml": (
        lambda: site_with({"postfix_main_cf_host": {"disable_vrfy_comand": "yes"}}),
        ["disable_vrfy_comand"]),
    "not a number": (
        lambda: module_call("postconf", {"parameters": {"message_size_limit": "lots"}}),
        ["message_size_limit"]),
    "not a boolean": (
        lambda: module_call("postconf", {"parameters": {"smtpd_helo_required": "maybe"}}),
        ["smtpd_helo_required"]),
    "a value with a newline": (
        lambda: module_call("postconf", {"parameters": {"smtpd_banner": "hello\nworld"}}),
        ["smtpd_banner"]),
    "role choice violated": (
        lambda: site_with({"postfix_smtpd_tls_security_level": "bogus"}),
        ["postfix_smtpd_tls_security_level"]),
    "relay restrictions that end open": (
        lambda: site_with({"postfix_smtpd_relay_restrictions": ["permit_mynetworks", "permit"]}),
        ["postfix_smtpd_relay_restrictions"]),
    "unknown restriction": (
        lambda: site_with({"smtpd_restrictions_helo": ["permit_mynetworks", "reject_bogus_helo"]}),
        ["reject_bogus_helo"]),
    "access table referenced but not defined": (
        lambda: site_with({"smtpd_restrictions_sender": ["check_sender_access hash:/etc/postfix/nothere"]}),
        ["hash:/etc/postfix/nothere"]),
    "restriction order that opens a relay": (
        lambda: site_with({"postfix_smtpd_relay_restrictions": ["permit_mynetworks", "permit",
                                                                "reject_unauth_destination"]}),
        ["permit", "relay"]),
    "recipient list that opens a relay (module)": (
        lambda: module_call("smtpd_restrictions", {"lists": {
            "smtpd_relay_restrictions": [],
            "smtpd_recipient_restrictions": ["permit_mynetworks", "permit", "reject_unauth_destination"]}}),
        ["permit", "relay"]),
    "malformed map key": (
        lambda: module_call("postfix_map", {"path": "/etc/postfix/access_test", "type": "hash",
                                            "entries": {"bad key": "REJECT"}}),
        ["bad key"]),
    "bad regexp rule": (
        lambda: module_call("postfix_map", {"path": "/etc/postfix/header_checks_test", "type": "regexp",
                                            "rules": [{"pattern": "/^Subject: ok/", "action": "WARN ok"},
                                                      {"pattern": "/^Subject: (unclosed/", "action": "REJECT x"}]}),
        ["(unclosed"]),
    "unknown master.cf service type": (
        lambda: module_call("postfix_master", {"services": [{"name": "smtp2", "type": "tcp",
                                                             "command": "smtpd"}]}),
        ["smtp2"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_and_nothing_changes(case, unchanged):
    call, culprits = CASES[case]
    failed_with(call(), *culprits)
