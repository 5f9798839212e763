import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.smtpd_restrictions import (
    RESTRICTIONS, RestrictionError, access_action_kind, parse_item, parse_version, tokens, validate)

V37 = '3.7.11'
V310 = '3.10.13'
PARAMETER_NAMES = ('smtpd_banner', 'relayhost', 'mydestination', 'smtpd_restriction_classes')
GUARDED_RELAY = ['permit_mynetworks', 'permit_sasl_authenticated', 'reject_unauth_destination']

# Debian Handbook 11.1.3, examples 11.6 to 11.10 (as in the book's source, en-US/11_network-services.xml).
HANDBOOK_LISTS = {
    'smtpd_client_restrictions': ['permit_mynetworks', 'warn_if_reject reject_unknown_client',
                                  'check_client_access hash:/etc/postfix/access_clientip',
                                  'reject_rbl_client sbl-xbl.spamhaus.org', 'reject_rbl_client list.dsbl.org'],
    'smtpd_helo_restrictions': ['permit_mynetworks', 'reject_invalid_hostname',
                                'check_helo_access hash:/etc/postfix/access_helo', 'reject_non_fqdn_hostname',
                                'warn_if_reject reject_unknown_hostname'],
    'smtpd_sender_restrictions': ['check_sender_access hash:/etc/postfix/access_sender',
                                  'reject_unknown_sender_domain', 'reject_unlisted_sender',
                                  'reject_non_fqdn_sender'],
    'smtpd_recipient_restrictions': ['permit_mynetworks', 'reject_unauth_destination',
                                     'reject_unlisted_recipient', 'reject_non_fqdn_recipient'],
    'smtpd_data_restrictions': ['reject_unauth_pipelining'],
}
HANDBOOK_TABLES = ['hash:/etc/postfix/access_clientip', 'hash:/etc/postfix/access_helo',
                   'hash:/etc/postfix/access_sender', 'hash:/etc/postfix/recipient_access']
HANDBOOK_RENAMED = ["'warn_if_reject reject_unknown_client': reject_unknown_client is the old name of "
                    'reject_unknown_client_hostname',
                    "'reject_invalid_hostname': reject_invalid_hostname is the old name of "
                    'reject_invalid_helo_hostname',
                    "'reject_non_fqdn_hostname': reject_non_fqdn_hostname is the old name of "
                    'reject_non_fqdn_helo_hostname',
                    "'warn_if_reject reject_unknown_hostname': reject_unknown_hostname is the old name of "
                    'reject_unknown_helo_hostname']

# Debian Handbook 11.1.5, examples 11.13 and 11.14.
HANDBOOK_CLASSES = {
    'greylisting': ['check_policy_service inet:127.0.0.1:10023'],
    'aggressive': ['reject_rbl_client sbl-xbl.spamhaus.org', 'check_policy_service inet:127.0.0.1:10023'],
    'permissive': ['permit'],
}
HANDBOOK_RECIPIENT_ACCESS = {'hash:/etc/postfix/recipient_access': [
    'permissive', 'permissive', 'permissive', 'aggressive', 'reject_unverified_sender', 'greylisting']}


def problems_of(*args, **kwargs):
    with pytest.raises(RestrictionError) as caught:
        validate(*args, **kwargs)
    return caught.value.problems


@pytest.mark.parametrize('version', [V37, V310])
def test_handbook_11_1_3_passes_with_renamed_warnings(version):
    parameters, warnings = validate(HANDBOOK_LISTS, tables=HANDBOOK_TABLES, version=version)
    assert parameters == {
        'smtpd_client_restrictions': 'permit_mynetworks, warn_if_reject reject_unknown_client, '
                                     'check_client_access hash:/etc/postfix/access_clientip, '
                                     'reject_rbl_client sbl-xbl.spamhaus.org, reject_rbl_client list.dsbl.org',
        'smtpd_helo_restrictions': 'permit_mynetworks, reject_invalid_hostname, '
                                   'check_helo_access hash:/etc/postfix/access_helo, reject_non_fqdn_hostname, '
                                   'warn_if_reject reject_unknown_hostname',
        'smtpd_sender_restrictions': 'check_sender_access hash:/etc/postfix/access_sender, '
                                     'reject_unknown_sender_domain, reject_unlisted_sender, reject_non_fqdn_sender',
        'smtpd_recipient_restrictions': 'permit_mynetworks, reject_unauth_destination, reject_unlisted_recipient, '
                                        'reject_non_fqdn_recipient',
        'smtpd_data_restrictions': 'reject_unauth_pipelining',
    }
    assert len(warnings) == len(HANDBOOK_RENAMED)
    for expected, warning in zip(HANDBOOK_RENAMED, warnings):
        assert expected in warning


@pytest.mark.parametrize('version', [V37, V310])
def test_handbook_11_1_5_restriction_classes(version):
    lists = {'smtpd_recipient_restrictions': ['permit_mynetworks', 'reject_unauth_destination',
                                              'check_recipient_access hash:/etc/postfix/recipient_access']}
    parameters, warnings = validate(lists, HANDBOOK_CLASSES, HANDBOOK_TABLES, HANDBOOK_RECIPIENT_ACCESS, version,
                                    PARAMETER_NAMES)
    assert parameters == {
        'smtpd_recipient_restrictions': 'permit_mynetworks, reject_unauth_destination, '
                                        'check_recipient_access hash:/etc/postfix/recipient_access',
        'smtpd_restriction_classes': 'greylisting, aggressive, permissive',
        'greylisting': 'check_policy_service inet:127.0.0.1:10023',
        'aggressive': 'reject_rbl_client sbl-xbl.spamhaus.org, check_policy_service inet:127.0.0.1:10023',
        'permissive': 'permit',
    }
    assert warnings == []


def test_handbook_11_1_5_without_reject_unauth_destination_is_an_open_relay():
    """Example 11.13 as the damaged plain-text copy of the Handbook prints it (one line lost)."""
    lists = {'smtpd_recipient_restrictions': ['permit_mynetworks',
                                              'check_recipient_access hash:/etc/postfix/recipient_access']}
    [problem] = problems_of(lists, HANDBOOK_CLASSES, HANDBOOK_TABLES, HANDBOOK_RECIPIENT_ACCESS, V37, PARAMETER_NAMES)
    assert problem.startswith('open relay: smtpd_relay_restrictions is not given')
    assert ("smtpd_recipient_restrictions item 2 'check_recipient_access hash:/etc/postfix/recipient_access' "
            "can answer 'permissive' for any client, and then class permissive item 1 'permit' permits every "
            'request') in problem


@pytest.mark.parametrize('lists, classes, table_actions, culprits', [
    # permit first
    ({'smtpd_relay_restrictions': [], 'smtpd_recipient_restrictions': ['permit', 'reject_unauth_destination']},
     {}, {}, ['smtpd_relay_restrictions is empty', "smtpd_recipient_restrictions item 1 'permit' permits every "
                                                   'request; no relay guard']),
    # check_sender_access that answers OK, before reject_unauth_destination
    ({'smtpd_relay_restrictions': [],
      'smtpd_recipient_restrictions': ['permit_mynetworks', 'check_sender_access hash:/etc/postfix/access_sender',
                                       'reject_unauth_destination']},
     {}, {'hash:/etc/postfix/access_sender': ['OK', 'REJECT spammer']},
     ["smtpd_recipient_restrictions item 2 'check_sender_access hash:/etc/postfix/access_sender' can answer 'OK' "
      'for any client', 'smtpd_relay_restrictions is empty']),
    # ... and with unknown contents
    ({'smtpd_relay_restrictions': [],
      'smtpd_recipient_restrictions': ['check_sender_access hash:/etc/postfix/access_sender',
                                       'reject_unauth_destination']},
     {}, {}, ["item 1 'check_sender_access hash:/etc/postfix/access_sender' can answer OK for any client (what "
              'hash:/etc/postfix/access_sender answers is unknown; list its actions in table_actions)']),
    # an all-numerical answer is OK too
    ({'smtpd_relay_restrictions': [],
      'smtpd_recipient_restrictions': ['check_helo_access hash:/etc/postfix/access_helo', 'reject_unauth_destination']},
     {}, {'hash:/etc/postfix/access_helo': ['REJECT', '1234']}, ["can answer '1234' for any client"]),
    # class permissive = permit before reject_unauth_destination in both lists
    ({'smtpd_relay_restrictions': ['permissive', 'reject_unauth_destination'],
      'smtpd_recipient_restrictions': ['permit_mynetworks', 'permissive', 'reject_unauth_destination']},
     {'permissive': ['permit']}, {},
     ["smtpd_relay_restrictions item 1 'permissive' (class permissive item 1 'permit') permits every request",
      "smtpd_recipient_restrictions item 2 'permissive' (class permissive item 1 'permit') permits every request"]),
    # warn_if_reject reject_unauth_destination guards nothing
    ({'smtpd_relay_restrictions': ['permit_mynetworks', 'warn_if_reject reject_unauth_destination'],
      'smtpd_recipient_restrictions': ['permit_mynetworks', 'warn_if_reject reject_unauth_destination']},
     {}, {}, ['smtpd_relay_restrictions has no relay guard', 'not behind warn_if_reject',
              "ends with Postfix's implicit permit"]),
    # ... also when the class is behind warn_if_reject
    ({'smtpd_relay_restrictions': ['warn_if_reject strict'], 'smtpd_recipient_restrictions': []},
     {'strict': ['reject_unauth_destination']}, {}, ['smtpd_relay_restrictions has no relay guard']),
    # a policy service can answer OK
    ({'smtpd_relay_restrictions': ['check_policy_service inet:127.0.0.1:10023', 'reject_unauth_destination'],
      'smtpd_recipient_restrictions': ['permit_sasl_authenticated']},
     {}, {}, ["smtpd_relay_restrictions item 1 'check_policy_service inet:127.0.0.1:10023' can answer OK for any "
              'client (a policy server may permit)', 'smtpd_recipient_restrictions has no relay guard']),
    # permit_mx_backup
    ({'smtpd_relay_restrictions': ['permit_mx_backup', 'reject_unauth_destination'],
      'smtpd_recipient_restrictions': []},
     {}, {}, ["item 1 'permit_mx_backup' permits mail for any domain whose DNS lists this host as a backup MX"]),
    # a table answer that names a class that permits, nested
    ({'smtpd_relay_restrictions': ['check_recipient_access hash:/etc/postfix/recipient_access',
                                   'reject_unauth_destination'],
      'smtpd_recipient_restrictions': []},
     {'outer': ['inner'], 'inner': ['permit_mynetworks', 'permit']},
     {'hash:/etc/postfix/recipient_access': ['REJECT', 'outer']},
     ["can answer 'outer' for any client, and then class outer item 1 'inner' (class inner item 2 'permit') "
      'permits every request']),
    # a static: table carries its own answer
    ({'smtpd_relay_restrictions': ['check_sender_access static:OK', 'reject_unauth_destination'],
      'smtpd_recipient_restrictions': []}, {}, {}, ["can answer 'OK' for any client"]),
    # recipient list given alone: the relay list is not trusted blindly
    ({'smtpd_recipient_restrictions': ['permit_mynetworks', 'check_policy_service unix:private/policy',
                                       'reject_unauth_destination']},
     {}, {}, ['smtpd_relay_restrictions is not given (its live value is not checked here; pass it as well)']),
])
def test_open_relays_are_refused(lists, classes, table_actions, culprits):
    tables = ['hash:/etc/postfix/access_sender', 'hash:/etc/postfix/access_helo',
              'hash:/etc/postfix/recipient_access']
    problems = problems_of(lists, classes, tables, table_actions, V37, PARAMETER_NAMES)
    relay = [problem for problem in problems if problem.startswith('open relay: ')]
    assert len(relay) == 1, problems
    for culprit in culprits:
        assert culprit in relay[0]


@pytest.mark.parametrize('lists, classes, table_actions', [
    # relay restrictions guarded, recipient list may permit anything
    ({'smtpd_relay_restrictions': GUARDED_RELAY, 'smtpd_recipient_restrictions': ['permit']}, {}, {}),
    ({'smtpd_relay_restrictions': GUARDED_RELAY,
      'smtpd_recipient_restrictions': ['check_policy_service inet:127.0.0.1:10023', 'permit']}, {}, {}),
    # relay restrictions empty, recipient list guarded after trusted permits only
    ({'smtpd_relay_restrictions': [],
      'smtpd_recipient_restrictions': ['permit_mynetworks', 'permit_sasl_authenticated', 'permit_tls_clientcerts',
                                       'permit_tls_all_clientcerts', 'permit_inet_interfaces',
                                       'permit_auth_destination', 'check_client_access hash:/etc/postfix/clients',
                                       'check_ccert_access hash:/etc/postfix/clients',
                                       'check_sasl_access hash:/etc/postfix/clients',
                                       'permit_dnswl_client list.dnswl.example',
                                       'check_client_mx_access hash:/etc/postfix/clients',
                                       'reject_rbl_client zen.example=127.0.0.2', 'defer_unauth_destination',
                                       'check_policy_service inet:127.0.0.1:10023']}, {}, {}),
    # a table known to answer only REJECT, DUNNO, ... before the guard
    ({'smtpd_relay_restrictions': ['check_sender_access hash:/etc/postfix/access_sender', 'reject_unauth_destination'],
      'smtpd_recipient_restrictions': ['permit']},
     {'strict': ['reject_unauth_destination', 'permit']},
     {'hash:/etc/postfix/access_sender': ['REJECT no', '554 go away', 'DUNNO', 'DEFER_IF_PERMIT later',
                                          'WARN x', 'reject_unverified_sender', 'strict']}),
    # a class that reaches the guard first is a guard
    ({'smtpd_relay_restrictions': ['permit_mynetworks', 'strict', 'permit'], 'smtpd_recipient_restrictions': []},
     {'strict': ['reject_unknown_sender_domain', 'reject_unauth_destination']}, {}),
    # an unconditional reject guards too
    ({'smtpd_relay_restrictions': ['permit_sasl_authenticated', 'reject'], 'smtpd_recipient_restrictions': ['permit']},
     {}, {}),
])
def test_guarded_configurations_pass(lists, classes, table_actions):
    tables = ['hash:/etc/postfix/access_sender', 'hash:/etc/postfix/clients']
    parameters, _warnings = validate(lists, classes, tables, table_actions, V310, PARAMETER_NAMES)
    assert set(parameters) >= set(lists)


@pytest.mark.parametrize('lists, classes, culprit', [
    # unknown names, with a hint
    ({'smtpd_client_restrictions': ['permit_mynetwork']}, {},
     "smtpd_client_restrictions item 1 'permit_mynetwork': unknown restriction 'permit_mynetwork'"),
    ({'smtpd_client_restrictions': ['permit_mynetwork']}, {}, 'did you mean permit_mynetworks?'),
    # undefined class, in a list and in a table action
    ({'smtpd_client_restrictions': ['permit_mynetworks', 'greylisting']}, {},
     "smtpd_client_restrictions item 2 'greylisting': unknown restriction 'greylisting'"),
    ({'smtpd_client_restrictions': ['Permissive']}, {'permissive': ['permit']},
     'restriction class names are case-sensitive; did you mean permissive?'),
    # class names that collide
    ({}, {'smtpd_banner': ['permit']}, "classes: class name 'smtpd_banner' is a Postfix parameter name"),
    ({}, {'permit_mynetworks': ['permit']}, "class name 'permit_mynetworks' is the name of a Postfix restriction"),
    ({}, {'Reject': ['permit']}, "class name 'Reject' is the name of a Postfix restriction"),
    ({}, {'bad name': ['permit']}, "class name 'bad name' is not a valid name"),
    # class recursion, direct and indirect
    ({}, {'loop': ['permit_mynetworks', 'loop']}, 'restriction class recursion loop -> loop'),
    ({}, {'a': ['b'], 'b': ['c'], 'c': ['a']}, 'restriction class recursion a -> b -> c -> a'),
    ({}, {'empty': []}, 'class empty is empty'),
    # arity and argument form
    ({'smtpd_helo_restrictions': ['check_helo_access']}, {},
     "smtpd_helo_restrictions item 1 'check_helo_access': check_helo_access needs an argument (type:table)"),
    ({'smtpd_helo_restrictions': ['check_helo_access /etc/postfix/access_helo']}, {},
     'check_helo_access needs a lookup table as type:name'),
    ({'smtpd_client_restrictions': ['reject_rbl_client']}, {}, 'reject_rbl_client needs an argument'),
    ({'smtpd_client_restrictions': ['reject_rbl_client zen.example=127.0.0']}, {},
     "needs rbl_domain or rbl_domain=d.d.d.d, got 'zen.example=127.0.0'"),
    ({'smtpd_client_restrictions': ['permit_mynetworks reject']}, {},
     'permit_mynetworks takes no argument (one restriction per item)'),
    ({'smtpd_client_restrictions': ['permit_mynetworks, reject']}, {}, 'permit_mynetworks takes no argument'),
    ({'smtpd_recipient_restrictions': GUARDED_RELAY + ['check_policy_service 127.0.0.1:10023']}, {},
     "check_policy_service needs inet:host:port or unix:path, got '127.0.0.1:10023'"),
    ({'smtpd_recipient_restrictions': GUARDED_RELAY + ['check_policy_service { inet:127.0.0.1:10023, colour=red }']},
     {}, "unknown policy client setting 'colour=red'"),
    ({'smtpd_client_restrictions': ['sleep']}, {}, 'sleep needs an argument (a number of seconds)'),
    ({'smtpd_client_restrictions': ['']}, {}, "smtpd_client_restrictions item 1 '': is empty"),
    ({'smtpd_client_restrictions': ['permit\nreject']}, {}, 'contains a line break'),
    ({'smtpd_client_restrictions': [5]}, {}, 'item 1 5: is not a string'),
    ({'smtpd_client_restrictions': ['check_client_access {hash:/x']}, {}, 'unbalanced "{"'),
    # warn_if_reject
    ({'smtpd_client_restrictions': ['warn_if_reject']}, {}, 'warn_if_reject must be followed, in the same item'),
    ({'smtpd_client_restrictions': ['warn_if_reject permit_mynetworks']}, {},
     'warn_if_reject has no effect on permit_mynetworks'),
    ({'smtpd_client_restrictions': ['warn_if_reject defer_if_reject']}, {},
     'warn_if_reject has no effect on defer_if_reject'),
    # undefined tables, including regexp/pcre/cidr
    ({'smtpd_helo_restrictions': ['check_helo_access pcre:/etc/postfix/helo.pcre']}, {},
     'table pcre:/etc/postfix/helo.pcre is referenced but not defined'),
    ({'smtpd_client_restrictions': ['check_client_access cidr:/etc/postfix/clients.cidr']}, {},
     'table cidr:/etc/postfix/clients.cidr is referenced but not defined'),
    ({'smtpd_client_restrictions': ['check_client_access unionmap:{hash:/etc/postfix/a, cidr:/etc/postfix/b}']}, {},
     'is referenced but not defined'),
    # a bare table where Postfix has no default check
    ({'smtpd_data_restrictions': ['hash:/etc/postfix/access_sender']}, {},
     'Postfix has no default access check for a bare lookup table here'),
    ({}, {'c': ['hash:/etc/postfix/access_sender']}, 'a bare lookup table in a restriction class'),
    # wrong list names
    ({'smtpd_recipent_restrictions': ['permit']}, {},
     "lists: 'smtpd_recipent_restrictions' is not a restriction list"),
    ({'smtpd_recipient_restrictions': 'permit_mynetworks'}, {}, 'smtpd_recipient_restrictions must be a list'),
])
def test_bad_input_names_list_position_and_item(lists, classes, culprit):
    problems = problems_of(lists, classes, ['hash:/etc/postfix/access_sender', 'cidr:/etc/postfix/b'], {}, V310,
                           PARAMETER_NAMES)
    assert any(culprit in problem for problem in problems), problems


def test_all_problems_are_reported_together():
    lists = {'smtpd_client_restrictions': ['permit_mynetworkz', 'check_client_access hash:/nowhere', 'nosuchclass'],
             'smtpd_relay_restrictions': [], 'smtpd_recipient_restrictions': ['permit']}
    with pytest.raises(RestrictionError) as caught:
        validate(lists, {'smtpd_banner': ['permit']}, [], {}, V37, PARAMETER_NAMES)
    problems = caught.value.problems
    assert len(problems) == 5, problems
    assert str(caught.value).startswith('restriction lists refused (5 problems): ')
    for problem in problems:
        assert problem in str(caught.value)


@pytest.mark.parametrize('table_actions, culprit', [
    ({'hash:/etc/postfix/recipient_access': ['permissive', 'RELAY']},
     "table_actions hash:/etc/postfix/recipient_access action 'RELAY': RELAY is not an access(5) action"),
    ({'hash:/etc/postfix/recipient_access': ['nosuchclass']}, 'a class referenced but not defined'),
    ({'hash:/etc/postfix/elsewhere': ['OK']}, 'table_actions: hash:/etc/postfix/elsewhere is not in tables'),
    ({'hash:/etc/postfix/recipient_access': ['']}, 'an action must be a non-empty string'),
])
def test_table_actions_are_checked(table_actions, culprit):
    lists = {'smtpd_relay_restrictions': GUARDED_RELAY,
             'smtpd_recipient_restrictions': ['check_recipient_access hash:/etc/postfix/recipient_access']}
    problems = problems_of(lists, {'permissive': ['permit']}, ['hash:/etc/postfix/recipient_access'], table_actions,
                           V37, PARAMETER_NAMES)
    assert any(culprit in problem for problem in problems), problems


def test_recursion_through_a_table_is_refused():
    problems = problems_of({}, {'loop': ['check_recipient_access hash:/etc/postfix/r']}, ['hash:/etc/postfix/r'],
                           {'hash:/etc/postfix/r': ['DUNNO', 'loop']}, V37, PARAMETER_NAMES)
    assert problems == ['classes: restriction class recursion loop -> loop']


def test_dns_based_tables_must_not_answer_ok():
    lists = {'smtpd_client_restrictions': ['check_client_mx_access hash:/etc/postfix/mx',
                                           'check_reverse_client_hostname_access inline:{ example.com=OK }']}
    problems = problems_of(lists, {}, ['hash:/etc/postfix/mx'], {'hash:/etc/postfix/mx': ['REJECT', 'permit']}, V310)
    assert len(problems) == 2
    assert "table hash:/etc/postfix/mx can answer 'permit', but check_client_mx_access does not allow OK" in problems[0]
    assert "can answer 'OK', but check_reverse_client_hostname_access does not allow OK" in problems[1]


@pytest.mark.parametrize('item', [
    'check_client_access inline:{ 192.0.2.1=OK, {192.0.2.2 = REJECT go away} }',
    'check_client_access static:REJECT',
    'check_client_access proxy:hash:/etc/postfix/clients',
    'check_client_access unionmap:{ hash:/etc/postfix/clients, inline:{ a=OK } }',
    'check_ccert_access { hash:/etc/postfix/clients, { search_order = cert_fingerprint } }',
])
def test_self_contained_and_listed_tables_are_defined(item):
    parameters, _warnings = validate({'smtpd_client_restrictions': [item]}, tables=['hash:/etc/postfix/clients'],
                                     version=V310)
    assert parameters == {'smtpd_client_restrictions': item}


@pytest.mark.parametrize('item, v37, v310', [
    # removed in 3.9: a warning on 3.7, refused on 3.10
    ('check_relay_domains', 'check_relay_domains is deprecated and was removed in Postfix 3.9; use '
                            'reject_unauth_destination',
     'check_relay_domains was removed in Postfix 3.9 (this host runs 3.10.13'),
    ('reject_maps_rbl', 'use reject_rbl_client domain-name', 'reject_maps_rbl was removed in Postfix 3.9'),
    ('permit_naked_ip_address', 'use permit_mynetworks or permit_sasl_authenticated',
     'permit_naked_ip_address was removed in Postfix 3.9'),
    # deprecated in 3.9: nothing on 3.7, a warning on 3.10
    ('permit_mx_backup', None, 'permit_mx_backup is deprecated as of Postfix 3.9 (this host runs 3.10.13)'),
])
def test_version_dependent_history(item, v37, v310):
    lists = {'smtpd_relay_restrictions': ['permit_mynetworks', item, 'reject_unauth_destination'],
             'smtpd_recipient_restrictions': ['permit_mynetworks', 'reject_unauth_destination']}
    if item in ('permit_naked_ip_address', 'permit_mx_backup'):
        lists['smtpd_relay_restrictions'] = ['permit_mynetworks', 'reject_unauth_destination', item]
    _parameters, warnings = validate(lists, version=V37)
    assert [w for w in warnings if item in w] == ([] if v37 is None else [w for w in warnings if v37 in w])
    if v37 is not None:
        assert len(warnings) == 1 and v37 in warnings[0]
    if item == 'permit_mx_backup':
        _parameters, warnings = validate(lists, version=V310)
        assert len(warnings) == 1 and v310 in warnings[0]
    else:
        problems = problems_of(lists, version=V310)
        assert len(problems) == 1 and v310 in problems[0]


def test_warnings_for_shorthand_and_unreachable_items():
    lists = {'smtpd_client_restrictions': ['permit_mynetworks', 'hash:/etc/postfix/clients', 'reject',
                                           'reject_unknown_client_hostname'],
             'smtpd_relay_restrictions': GUARDED_RELAY, 'smtpd_recipient_restrictions': ['permit', 'reject']}
    _parameters, warnings = validate(lists, tables=['hash:/etc/postfix/clients'], version=V37)
    assert warnings == [
        "smtpd_client_restrictions item 2 'hash:/etc/postfix/clients': a bare lookup table means "
        '"check_client_access hash:/etc/postfix/clients" here; write that instead',
        "smtpd_client_restrictions item 4 'reject_unknown_client_hostname' and the items after it are never "
        'evaluated: reject decides first',
        "smtpd_recipient_restrictions item 2 'reject' and the items after it are never evaluated: permit decides "
        'first',
    ]


def test_nothing_to_validate():
    assert validate({}, version=V310) == ({}, [])
    assert validate({}, {}, [], {}, V37, ()) == ({}, [])


def test_lists_render_in_postfix_order_with_empty_lists_kept():
    lists = {'smtpd_recipient_restrictions': ['permit_mynetworks', ' reject_unauth_destination '],
             'smtpd_relay_restrictions': [], 'smtpd_client_restrictions': ['permit_mynetworks']}
    parameters, _warnings = validate(lists, version=V37)
    assert list(parameters.items()) == [
        ('smtpd_client_restrictions', 'permit_mynetworks'),
        ('smtpd_relay_restrictions', ''),
        ('smtpd_recipient_restrictions', 'permit_mynetworks, reject_unauth_destination')]


@pytest.mark.parametrize('text, expected', [
    ('3.7.11', (3, 7, 11)), ('3.10.13', (3, 10, 13)), ('3.11-20250101', (3, 11)), (' 3.9.0\n', (3, 9, 0))])
def test_parse_version(text, expected):
    assert parse_version(text) == expected
    assert parse_version('3.10.1') > parse_version('3.9.4') > parse_version('3.7.11')


def test_bad_version_is_refused():
    with pytest.raises(ValueError, match='cannot read a Postfix version'):
        validate({}, version='unknown')


@pytest.mark.parametrize('text, words', [
    ('check_client_access hash:/x', ['check_client_access', 'hash:/x']),
    ('a, b\tc', ['a', 'b', 'c']),
    ('check_policy_service { inet:h:1, timeout=10s }', ['check_policy_service', '{ inet:h:1, timeout=10s }']),
    ('x inline:{ a=b, {c = d e} }', ['x', 'inline:{ a=b, {c = d e} }']),
])
def test_tokens_keep_braces_together(text, words):
    assert tokens(text) == (words, 0)


def test_parse_item():
    item = parse_item('  WARN_IF_REJECT reject_unknown_helo_hostname ')
    assert (item.warn, item.name, item.args, item.text) == (True, 'reject_unknown_helo_hostname', [],
                                                            'WARN_IF_REJECT reject_unknown_helo_hostname')


@pytest.mark.parametrize('action, kind', [
    ('OK', 'permit'), ('ok', 'permit'), ('12345', 'permit'), ('REJECT no thanks', 'stop'), ('450 later', 'stop'),
    ('DEFER_IF_PERMIT x', 'stop'), ('DUNNO', 'none'), ('PREPEND X-Foo: bar', 'none'), ('permissive', None),
    ('permit', None), ('250 fine', None),
])
def test_access_action_kind(action, kind):
    assert access_action_kind(action) == kind


def test_restriction_names_are_lower_case_and_consistent():
    for name, spec in RESTRICTIONS.items():
        assert name == name.lower()
        assert (spec.replacement is None) == (spec.status == 'current'), name
        assert (spec.since is None) == (spec.status in ('current', 'renamed')), name


def test_recursive_class_in_a_relay_list_is_reported_not_followed_forever():
    lists = {'smtpd_relay_restrictions': ['loop', 'reject_unauth_destination'], 'smtpd_recipient_restrictions': []}
    problems = problems_of(lists, {'loop': ['permit_mynetworks', 'loop']}, version=V37)
    assert problems == ['classes: restriction class recursion loop -> loop']
