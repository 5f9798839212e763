import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils import main_cf
from fakes import POSTCONF_D_37, POSTCONF_N_37, POSTCONF_N_310


@pytest.mark.parametrize('value, expected', [
    ('[smtp.example.net]:587', '[smtp.example.net]:587'),
    ('  padded  ', 'padded'),
    ('', ''),
    (52428800, '52428800'),
    (True, 'yes'),
    (False, 'no'),
    (['$myhostname', 'localhost'], '$myhostname, localhost'),
    (['permit_mynetworks', ' reject '], 'permit_mynetworks, reject'),
    ([], ''),
    ([1, True, 'x'], '1, yes, x'),
])
def test_render_value(value, expected):
    assert main_cf.render_value(value, 'p') == expected


@pytest.mark.parametrize('parameters, culprit', [
    ({'my host': 'x'}, "'my host'"),
    ({'relay=host': 'x'}, "'relay=host'"),
    ({'': 'x'}, "''"),
    ({'-leading': 'x'}, "'-leading'"),
    ({'smtpd_banner': 'a\nb'}, 'smtpd_banner'),
    ({'smtpd_banner': ['ok', 'a\rb']}, 'smtpd_banner'),
    ({'mynetworks': {'a': 1}}, 'mynetworks'),
    ({'mynetworks': 1.5}, 'mynetworks'),
    ({'config_directory': '/etc/postfix'}, 'config_directory'),
])
def test_bad_parameters_name_the_culprit(parameters, culprit):
    with pytest.raises(ValueError, match=None) as caught:
        main_cf.desired_values(parameters)
    assert culprit in str(caught.value)


def test_desired_values_keeps_none_for_removal():
    assert main_cf.desired_values({'biff': None, 'relay-out_destination_rate_delay': '1s'}) == {
        'biff': None, 'relay-out_destination_rate_delay': '1s'}


@pytest.mark.parametrize('output, expected', [
    ('', {}),
    (POSTCONF_N_310, {
        'alias_database': 'hash:/etc/aliases', 'biff': 'no', 'compatibility_level': '3.9',
        'inet_protocols': 'all', 'mailbox_command': '', 'mailbox_size_limit': '51200000',
        'mydestination': '$myhostname, localhost.$mydomain, localhost', 'mynetworks': '127.0.0.0/8',
        'relayhost': '', 'smtpd_banner': '$myhostname ESMTP $mail_name (Debian)'}),
    # config_directory comes from -c, not from main.cf.
    (POSTCONF_N_37, {
        'append_dot_mydomain': 'no', 'biff': 'no', 'compatibility_level': '3.6',
        'readme_directory': 'no', 'smtpd_banner': '$myhostname ESMTP $mail_name (Debian/GNU)'}),
    ('a = x = y\n', {'a': 'x = y'}),
])
def test_parse_non_default(output, expected):
    assert main_cf.parse_non_default(output) == expected


LIVE = main_cf.parse_non_default(POSTCONF_N_310)


@pytest.mark.parametrize('desired, unused, to_set, to_remove', [
    # nothing to do
    ({}, (), {}, []),
    ({'biff': 'no', 'relayhost': '', 'mydestination': '$myhostname, localhost.$mydomain, localhost'},
     (), {}, []),
    ({'relayhost': '[mx]:587'}, (), {'relayhost': '[mx]:587'}, []),
    ({'message_size_limit': '52428800'}, (), {'message_size_limit': '52428800'}, []),
    # strings compare exactly: "no" is not "No"
    ({'biff': 'No'}, (), {'biff': 'No'}, []),
    ({'biff': None, 'relayhost': None}, (), {}, ['biff', 'relayhost']),
    ({'not_there': None}, (), {}, []),
    # written in main.cf but hidden from -n because Postfix does not use it
    ({'myhostnme': None}, ('myhostnme',), {}, ['myhostnme']),
])
def test_plan(desired, unused, to_set, to_remove):
    changes = main_cf.plan(desired, LIVE, unused)
    assert changes.set == to_set
    assert changes.remove == to_remove


@pytest.mark.parametrize('to_set, to_remove, expected', [
    ({}, [], False),
    ({'relayhost': 'x', 'mydestination': 'y'}, [], False),
    ({'inet_interfaces': 'loopback-only'}, [], True),
    ({}, ['inet_protocols'], True),
    ({'queue_directory': '/srv/q'}, [], True),
    ({'mail_owner': 'postfix'}, [], True),
])
def test_restart_required(to_set, to_remove, expected):
    assert main_cf.restart_required(main_cf.Plan(to_set, to_remove)) is expected


def test_unused_parameters_only_counts_main_cf():
    warnings = ['/etc/postfix/main.cf: unused parameter: myhostnme=x',
                '/etc/postfix/master.cf: unused parameter: smtpd_foo=1',
                'something else']
    assert main_cf.unused_parameters(warnings) == ['myhostnme']


@pytest.mark.parametrize('baseline, staged, touched, failing, ignored', [
    ([], [], ['relayhost'], [], []),
    ([], ['/stage/main.cf: unused parameter: myhostnme=x'], ['myhostnme'],
     ['/etc/postfix/main.cf: unused parameter: myhostnme=x'], []),
    # a new warning fails even when it names nothing we touched
    ([], ['/stage/master.cf: unused parameter: foo=1'], ['relayhost'],
     ['/etc/postfix/master.cf: unused parameter: foo=1'], []),
    # an old mistake elsewhere does not block our change
    (['/etc/postfix/main.cf: unused parameter: old_typo=1'],
     ['/stage/main.cf: unused parameter: old_typo=1'], ['relayhost'],
     [], ['/etc/postfix/main.cf: unused parameter: old_typo=1']),
    # but it does when it is about a key we touch
    (['/etc/postfix/main.cf: support for parameter "disable_dns_lookups" will be removed'],
     ['/stage/main.cf: support for parameter "disable_dns_lookups" will be removed'],
     ['disable_dns_lookups'],
     ['/etc/postfix/main.cf: support for parameter "disable_dns_lookups" will be removed'], []),
    # a key that merely contains a touched name is not named by the warning
    (['/etc/postfix/main.cf: unused parameter: relayhost_x=1'],
     ['/stage/main.cf: unused parameter: relayhost_x=1'], ['relayhost'],
     [], ['/etc/postfix/main.cf: unused parameter: relayhost_x=1']),
])
def test_judge_warnings(baseline, staged, touched, failing, ignored):
    assert main_cf.judge_warnings(baseline, staged, '/stage', '/etc/postfix', touched) == (failing, ignored)


@pytest.mark.parametrize('warnings, names', [
    ([], []),
    (['/etc/postfix/main.cf: unused parameter: myhostnme=x',
      '/etc/postfix/master.cf: unused parameter: smtpd_tls_securty_level=encrypt',
      '/etc/postfix/main.cf: unused parameter: myhostnme=x'], ['myhostnme', 'smtpd_tls_securty_level']),
    (['/etc/postfix/main.cf: support for parameter "disable_dns_lookups" will be removed; '
      'instead, specify "smtp_dns_support_level"'], ['disable_dns_lookups']),
    (['bad numerical configuration: message_size_limit = lots',
      'bad boolean configuration: smtputf8_enable = maybe',
      'parameter ipc_timeout: bad time value or unit: abc',
      'something without a name'], ['message_size_limit', 'smtputf8_enable', 'ipc_timeout']),
])
def test_offending_parameters(warnings, names):
    assert main_cf.offending_parameters(warnings) == names


def test_diff_text_lists_only_given_names_with_values():
    values = {'relayhost': '', 'biff': 'no', 'other': 'x'}
    assert main_cf.diff_text(values, ['biff', 'gone', 'relayhost']) == 'biff = no\nrelayhost =\n'


DEFAULTS = main_cf.parse_parameters(POSTCONF_D_37)


@pytest.mark.parametrize('values, problems', [
    ({}, []),
    ({'smtpd_helo_required': 'yes', 'biff': 'NO', 'message_size_limit': '52428800',
      'smtpd_client_connection_count_limit': '-1'}, []),
    ({'smtpd_helo_required': 'maybe'}, ["parameter smtpd_helo_required: 'maybe' is not yes or no"]),
    # Postfix accepts only yes and no, in any case
    ({'smtpd_sasl_auth_enable': 'true'}, ["parameter smtpd_sasl_auth_enable: 'true' is not yes or no"]),
    ({'message_size_limit': 'lots'}, ["parameter message_size_limit: 'lots' is not a whole number"]),
    ({'message_size_limit': '10m'}, ["parameter message_size_limit: '10m' is not a whole number"]),
    ({'message_size_limit': ''}, ["parameter message_size_limit: '' is not a whole number"]),
    # expansions are Postfix's business
    ({'message_size_limit': '$mailbox_size_limit', 'smtpd_helo_required': '${x?yes}'}, []),
    # integer or yes/no defaults of parameters that take other words
    ({'compatibility_level': '3.6', 'lmtp_tcp_port': 'lmtp', 'smtpd_forbid_bare_newline': 'normalize'}, []),
    # parameters without a default of a known kind, or unknown ones, are not judged here
    ({'relayhost': 'anything', 'ipc_timeout': 'abc', 'myhostnme': 'x'}, []),
])
def test_value_problems(values, problems):
    assert main_cf.value_problems(values, DEFAULTS) == problems
