"""Bad input fails with a message naming the culprit, and the hosts are left as they were.

Every case runs on both MX hosts at once (Debian 12 and 13), through the
module alone or through site.yml, and each must refuse it; the greylisting
database's cases run on greydb with the MX hosts.
"""
import pytest

from ansible_runs import BOTH_MX, failed_with, module_call, site_with

def on_both_mx(module, arguments):
    return module_call(module, arguments, host=":".join(BOTH_MX))


def site_on_both_mx(extra_vars):
    return site_with(extra_vars, limit=",".join(BOTH_MX))


CASES = {
    "typo in a parameter name": (
        lambda: on_both_mx("postconf", {"parameters": {"smtpd_helo_requird": "yes"}}),
        ["smtpd_helo_requird"]),
    "typo in a parameter name through site.yml": (
        lambda: site_on_both_mx({"postfix_main_cf_host": {"disable_vrfy_comand": "yes"}}),
        ["disable_vrfy_comand"]),
    "not a number": (
        lambda: on_both_mx("postconf", {"parameters": {"message_size_limit": "lots"}}),
        ["message_size_limit"]),
    "not a boolean": (
        lambda: on_both_mx("postconf", {"parameters": {"smtpd_helo_required": "maybe"}}),
        ["smtpd_helo_required"]),
    "a value with a newline": (
        lambda: on_both_mx("postconf", {"parameters": {"smtpd_banner": "hello\nworld"}}),
        ["smtpd_banner"]),
    "role choice violated": (
        lambda: site_on_both_mx({"postfix_smtpd_tls_security_level": "bogus"}),
        ["postfix_smtpd_tls_security_level"]),
    "relay restrictions that end open": (
        lambda: site_on_both_mx({"postfix_smtpd_relay_restrictions": ["permit_mynetworks", "permit"]}),
        ["postfix_smtpd_relay_restrictions"]),
    "unknown restriction": (
        lambda: site_on_both_mx({"smtpd_restrictions_helo": ["permit_mynetworks", "reject_bogus_helo"]}),
        ["reject_bogus_helo"]),
    "access table referenced but not defined": (
        lambda: site_on_both_mx({"smtpd_restrictions_sender": ["check_sender_access hash:/etc/postfix/nothere"]}),
        ["hash:/etc/postfix/nothere"]),
    "restriction order that opens a relay": (
        lambda: site_on_both_mx({"postfix_smtpd_relay_restrictions": ["permit_mynetworks", "permit",
                                                                "reject_unauth_destination"]}),
        ["permit", "relay"]),
    "recipient list that opens a relay (module)": (
        lambda: on_both_mx("smtpd_restrictions", {"lists": {
            "smtpd_relay_restrictions": [],
            "smtpd_recipient_restrictions": ["permit_mynetworks", "permit", "reject_unauth_destination"]}}),
        ["permit", "relay"]),
    "malformed map key": (
        lambda: on_both_mx("postfix_map", {"path": "/etc/postfix/access_test", "type": "hash",
                                            "entries": {"bad key": "REJECT"}}),
        ["bad key"]),
    "bad regexp rule": (
        lambda: on_both_mx("postfix_map", {"path": "/etc/postfix/header_checks_test", "type": "regexp",
                                            "rules": [{"pattern": "/^Subject: ok/", "action": "WARN ok"},
                                                      {"pattern": "/^Subject: (unclosed/", "action": "REJECT x"}]}),
        ["(unclosed"]),
    "unknown master.cf service type": (
        lambda: on_both_mx("postfix_master", {"services": [{"name": "smtp2", "type": "tcp",
                                                             "command": "smtpd"}]}),
        ["smtp2"]),
}


CASES.update({
    "submission TLS version that does not exist": (
        lambda: site_on_both_mx({"sasl_auth_submission_tls_min_version": "TLSv1.1"}),
        ["sasl_auth_submission_tls_min_version"]),
    "AUTH rate limit that is not a number": (
        lambda: site_on_both_mx({"sasl_auth_client_auth_rate_limit": "lots"}),
        ["sasl_auth_client_auth_rate_limit"]),
    "a domain to sign that the fleet does not handle": (
        lambda: site_on_both_mx({"dkim_signing_domains": ["falcot.test", "elsewhere.test"]}),
        ["elsewhere.test"]),
    "a DKIM verifier on the signer's socket": (
        lambda: site_on_both_mx({"dkim_signing_verify_socket":
                                 "unix:/var/spool/postfix/dkimpy-milter/dkimpy-milter.sock"}),
        ["dkim_signing_verify_socket"]),
    "an internal network the milter table cannot list": (
        lambda: site_on_both_mx({"milters_internal_networks": ["198.18.0.16/28", "office.falcot.test"]}),
        ["office.falcot.test"]),
    "SASL mechanism list that is not a list": (
        lambda: site_on_both_mx({"sasl_auth_mechanisms": {"PLAIN": True}}),
        ["sasl_auth_mechanisms"]),
    # The fail2ban role is on in the lab: its checks run on both MX hosts.
    "fail2ban ban time that is no duration": (
        lambda: site_on_both_mx({"fail2ban_bantime": "forever"}),
        ["fail2ban_bantime", "forever"]),
    "fail2ban ignored entry that is no address": (
        lambda: site_on_both_mx({"fail2ban_ignoreip": ["127.0.0.1/8", "outside.elsewhere.test"]}),
        ["fail2ban_ignoreip", "outside.elsewhere.test"]),
    "fail2ban retry count below one": (
        lambda: site_on_both_mx({"fail2ban_maxretry": 0}),
        ["fail2ban_maxretry"]),
})
# The greylisting database's input: refused on greydb, before anything changes there or on the MX hosts.
DATABASE_CASES = {
    "database client that is not a network": (
        {"greylist_db_clients": ["198.18.0.10", "the MX hosts"]}, ["the MX hosts"]),
    "database password too short": (
        {"greylist_db_password": "short"}, ["greylist_db_password must have at least 16"]),
    "database listen address that is not an address": (
        {"greylist_db_listen_addresses": ["greydb.falcot.test"]}, ["greydb.falcot.test"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_and_nothing_changes(case, unchanged):
    call, culprits = CASES[case]
    failed_with(call(), *culprits, hosts=BOTH_MX)


@pytest.mark.parametrize("case", sorted(DATABASE_CASES))
def test_bad_database_input_is_refused_and_nothing_changes(case, unchanged):
    extra_vars, culprits = DATABASE_CASES[case]
    failed_with(site_with(extra_vars, limit="greydb," + ",".join(BOTH_MX)), *culprits, hosts=("greydb",))
