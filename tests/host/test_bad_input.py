"""Bad input fails with a message naming the culprit, and the host is left as it was."""
import pytest

from ansible_runs import failed_with, module_call, site_with

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
