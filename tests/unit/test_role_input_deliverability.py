"""The deliverability roles' input checks that need no host (module_utils/role_input_deliverability.py, reached
through role_input): dkim_signing, spf_policy, dmarc and milters, each refusing bad input naming the culprit."""
import pytest
import yaml

from ansible_collections.mailforge.postfix.plugins.module_utils import role_input
from test_role_input import TOP, found, lab_mx, spf_check

KEYS_FILE = '/srv/mailforge-secrets/dkim_keys.vault.yml'
RECIPIENT = ['permit_mynetworks', 'permit_sasl_authenticated', 'reject_unauth_destination',
             'reject_unlisted_recipient', 'reject_non_fqdn_recipient']


def deliverable(**overrides):
    """An MX of the lab with the three roles on, as the lab integration turns them on."""
    settings = dict(
        dkim_signing_enabled=True, spf_policy_enabled=True, dmarc_enabled=True, dkim_keys_file=KEYS_FILE,
        dkim_keys_domains={'falcot.test': [{'selector': 'mf2026r', 'algorithm': 'rsa', 'bits': 2048},
                                           {'selector': 'mf2026e', 'algorithm': 'ed25519'}],
                           'partners.falcot.test': [{'selector': 'mf2026r'}]},
        smtpd_restrictions_recipient=RECIPIENT + [spf_check('accept')],
        dns_records_dmarc={'policy': 'quarantine', 'rua': ['mailto:dmarc@falcot.test']})
    settings.update(overrides)
    return lab_mx(**settings)


@pytest.mark.parametrize('role', ['dkim_signing', 'spf_policy', 'dmarc', 'milters', 'smtpd_restrictions',
                                  'sasl_auth'])
def test_the_lab_mx_with_deliverability_on_is_accepted(role):
    assert role_input.problems(role, deliverable()) == []


@pytest.mark.parametrize('role', ['dkim_signing', 'spf_policy', 'dmarc', 'milters'])
def test_the_roles_off_by_default_are_accepted_with_nothing_set(role):
    variables = lab_mx()
    assert not variables.get('dkim_signing_enabled') and not variables.get('spf_policy_enabled')
    assert not variables.get('dmarc_enabled')
    assert role_input.problems(role, variables) == []


@pytest.mark.parametrize('overrides, culprits', [
    # dkim_keys_domains: what playbooks/dkim_keys.yml would refuse, refused before any host changes.
    (dict(dkim_keys_domains={'falcot.test': [{'selector': 'bad.selector'}]}),
     ["selector 'bad.selector' is not a DNS label"]),
    (dict(dkim_keys_domains={'falcot.test': [{'selector': 'mf2026r', 'bits': 1024}]}),
     ['falcot.test selector mf2026r: RSA key size 1024 is below 2048 bits']),
    (dict(dkim_keys_domains={'falcot.test': [{'selector': 'a', 'algorithm': 'dsa'}]}), ["unknown algorithm 'dsa'"]),
    (dict(dkim_keys_domains={'elsewhere.test': [{'selector': 'a'}]}),
     ["dkim_keys_domains: 'elsewhere.test' is not a domain the fleet handles"]),
    (dict(dkim_signing_domains=['falcot.test', 'elsewhere.test']),
     ["dkim_signing_domains: 'elsewhere.test' is not a domain the fleet handles"]),
    (dict(dkim_signing_socket='inet:8891@127.0.0.1'), ['dkim_signing_socket inet:8891@127.0.0.1 must be unix:']),
    (dict(dkim_signing_verify_socket='local:/run/verify.sock'),
     ['dkim_signing_verify_socket local:/run/verify.sock must be unix:']),
    (dict(dkim_signing_verify_socket='unix:/var/spool/postfix/dkimpy-milter/dkimpy-milter.sock'),
     ['dkim_signing_verify_socket and dkim_signing_socket are both']),
    (dict(dkim_keys_file='dkim_keys.vault.yml'), ['dkim_signing_keys_file (dkim_keys.vault.yml) must be the absolute']),
    (dict(dkim_keys_file=''), ['dkim_signing_keys_file (not set)']),
    (dict(dkim_signing_authserv_id='mx1 falcot'), ["dkim_signing_authserv_id 'mx1 falcot' must be a host name"]),
    (dict(dkim_signing_canonicalization='loose'), ['dkim_signing_canonicalization loose']),
    (dict(dkim_signing_minimum_key_bits=512), ['dkim_signing_minimum_key_bits 512']),
])
def test_bad_dkim_input_is_refused_naming_the_culprit(overrides, culprits):
    message = found('dkim_signing', deliverable(**overrides))
    assert message.startswith('dkim_signing: ')
    for culprit in culprits:
        assert culprit in message, message


@pytest.mark.parametrize('overrides, culprits', [
    (dict(smtpd_restrictions_recipient=RECIPIENT),
     ['spf_policy_enabled is true but spf_policy_check (check_policy_service { unix:private/policyd-spf,']),
    (dict(smtpd_restrictions_recipient=['permit_mynetworks', spf_check('accept'), 'reject_unauth_destination']),
     ['spf_policy_check comes before reject_unauth_destination']),
    # The literal of another outage choice is not the check the role derives.
    (dict(smtpd_restrictions_recipient=RECIPIENT + [spf_check('tempfail')]), ['is not an item of']),
    (dict(spf_policy_enabled=False),
     ['spf_policy_enabled is false but smtpd_restrictions_recipient still asks the SPF policy service']),
    (dict(spf_policy_skip_addresses=['127.0.0.0/8', 'localhost']), ['(refused: localhost)']),
    (dict(spf_policy_authserv_id='mx1_falcot!'), ["spf_policy_authserv_id 'mx1_falcot!'"]),
])
def test_bad_spf_input_is_refused_naming_the_culprit(overrides, culprits):
    message = found('spf_policy', deliverable(**overrides))
    for culprit in culprits:
        assert culprit in message, message


def test_the_spf_check_folded_over_lines_is_the_same_check():
    variables = deliverable(spf_policy_check='check_policy_service { unix:private/policyd-spf,\n  default_action=DUNNO }')
    assert role_input.problems('spf_policy', variables) == []


def test_the_spf_check_passes_the_restriction_model_in_both_supported_postfix():
    variables = deliverable()
    assert spf_check('accept') in variables['smtpd_restrictions__lists']['smtpd_recipient_restrictions']
    assert role_input.problems('smtpd_restrictions', variables) == []


@pytest.mark.parametrize('overrides, culprits', [
    (dict(dns_records_dmarc={'policy': 'rejekt'}), ["dmarc: dns_records_dmarc policy 'rejekt' is not a DMARC policy"]),
    (dict(dns_records_dmarc={'policy': 'reject', 'pct': 150}), ['dns_records_dmarc pct 150']),
    (dict(dns_records_dmarc={'policy': 'reject', 'rua': ['dmarc@falcot.test']}), ["rua 'dmarc@falcot.test'"]),
    (dict(dns_records_dmarc='reject'), ['dns_records_dmarc must be a mapping']),
    (dict(dmarc_socket='unix:/run/opendmarc/opendmarc.sock'), ['dmarc_socket unix:/run/opendmarc/opendmarc.sock']),
    (dict(dmarc_trusted_authserv_ids=['mx1.falcot.test', 'bad id']), ['(refused: bad id)']),
    (dict(dmarc_trusted_authserv_ids=['mx9.falcot.test']),
     ['lacks dkim_signing_authserv_id mx1.falcot.test', 'lacks spf_policy_authserv_id mx1.falcot.test']),
    (dict(dmarc__ignore_hosts=['198.18.0.16/28', 'office']), ['dmarc_ignore_hosts entries', '(refused: office)']),
    (dict(dkim_signing_enabled=False), ['dmarc_reject_failures needs the DKIM results']),
    (dict(dkim_signing_verify=False), ['dmarc_reject_failures needs the DKIM results']),
])
def test_bad_dmarc_input_is_refused_naming_the_culprit(overrides, culprits):
    message = found('dmarc', deliverable(**overrides))
    for culprit in culprits:
        assert culprit in message, message


def test_dmarc_trusts_an_spf_header_only_when_there_is_one():
    variables = deliverable(dmarc_trusted_authserv_ids=['mx1.falcot.test'], spf_policy_header='SPF',
                            spf_policy_authserv_id='other.falcot.test')
    assert role_input.problems('dmarc', variables) == []


def test_dmarc_without_rejecting_needs_no_dkim_results():
    assert role_input.problems('dmarc', deliverable(dkim_signing_enabled=False, dmarc_reject_failures=False)) == []


@pytest.mark.parametrize('entry, culprits', [
    (dict(name='opendkim', socket='unix:/x', default_action='accept'), ["milter 'opendkim' is not one of"]),
    (dict(name='dmarc', socket='unix:/clamav/clamav-milter.ctl', default_action='accept'),
     ['milters antivirus and dmarc share the socket unix:/clamav/clamav-milter.ctl']),
    (dict(name='dmarc', socket='local:/x', default_action='accept'), ["milter dmarc: socket 'local:/x'"]),
    (dict(name='dmarc', socket='unix:/x', default_action='ignore'), ["milter dmarc: default_action 'ignore'"]),
])
def test_a_bad_milter_chain_is_refused_naming_the_milter(entry, culprits):
    variables = deliverable()
    variables['milters_entries'] = variables['milters_entries'][:2] + [entry]
    message = found('milters', variables)
    assert message.startswith('milters: ')
    for culprit in culprits:
        assert culprit in message, message


def test_the_signer_needs_internal_networks_postfix_can_look_up_by_address():
    variables = deliverable(milters_internal_networks=['127.0.0.0/8', 'office.falcot.test'])
    assert "internal network 'office.falcot.test' (mynetworks) is not an address or network" in found(
        'milters', variables)
    # DKIM off: one chain for everyone, nothing to look up.
    assert role_input.problems('milters', dict(variables, dkim_signing_milter=None, milters_entries=[
        entry for entry in variables['milters_entries'] if entry['name'] != 'dkim_signing'])) == []


def test_without_verification_the_verifier_socket_is_not_checked():
    variables = deliverable(dkim_signing_verify=False, dkim_signing_verify_socket='nonsense', dmarc_enabled=False)
    assert role_input.problems('dkim_signing', variables) == []
    assert role_input.problems('milters', variables) == []


def test_an_unknown_global_milter_action_is_refused():
    assert 'milters_default_action (ignore)' in found('milters', deliverable(milters_default_action='ignore'))


def test_a_disabled_milter_role_is_not_checked():
    variables = deliverable(dkim_signing_enabled=False, dmarc_enabled=False, dkim_signing_socket='nonsense',
                            dmarc_socket='nonsense')
    assert role_input.problems('milters', variables) == []
    assert role_input.problems('dkim_signing', variables) == []


def test_the_labs_deliverability_settings_are_accepted_and_on():
    lab = yaml.safe_load((TOP / 'inventory/lab/group_vars/mx_hosts.yml').read_text())
    assert lab['lab_deliverability'] is True
    assert all('lab_deliverability' in lab[name] for name in ('dkim_signing_enabled', 'spf_policy_enabled',
                                                              'dmarc_enabled', 'smtpd_restrictions_recipient'))
    static = {name: value for name, value in lab.items() if '{{' not in str(value)}
    variables = deliverable(**static)
    for role in ('dkim_signing', 'spf_policy', 'dmarc', 'milters', 'smtpd_restrictions'):
        assert role_input.problems(role, variables) == [], role
