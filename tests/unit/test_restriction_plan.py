"""The restriction model as the roles use it: plan(), the guards, the permits before them, the module's reads."""
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf
from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.facts import (
    GUARD, RELAY_GUARDS, RESTRICTIONS)
from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.syntax import split_value
from ansible_collections.mailforge.postfix.plugins.module_utils.smtpd_restrictions import (
    RestrictionError, plan, validate)
from ansible_collections.mailforge.postfix.plugins.modules.smtpd_restrictions import check
from fakes import POSTCONF_D_37, FakeRun

TOP = Path(__file__).resolve().parents[2]
V37 = '3.7.11'
GUARDED = ['permit_mynetworks', 'permit_sasl_authenticated', 'reject_unauth_destination']
GREYLISTING_CHECK = 'check_policy_service { inet:127.0.0.1:10023, default_action=DUNNO }'


def yaml_of(relative):
    return yaml.safe_load((TOP / relative).read_text())


def problems_of(*args, **kwargs):
    with pytest.raises(RestrictionError) as caught:
        plan(*args, **kwargs)
    return caught.value.problems


# --- what the roles give, and what comes back --------------------------------------------------------

def role_input(overrides=None):
    """The smtpd_restrictions role's task arguments from its defaults, with inventory values over them."""
    variables = dict(yaml_of('roles/smtpd_restrictions/defaults/main.yml'),
                     **yaml_of('roles/restriction_classes/defaults/main.yml'))
    variables.update(overrides or {})
    return dict(
        lists={'smtpd_client_restrictions': variables['smtpd_restrictions_client'],
               'smtpd_helo_restrictions': variables['smtpd_restrictions_helo'],
               'smtpd_sender_restrictions': variables['smtpd_restrictions_sender'],
               'smtpd_recipient_restrictions': variables['smtpd_restrictions_recipient'],
               'smtpd_data_restrictions': variables['smtpd_restrictions_data']},
        other_lists={'smtpd_relay_restrictions': GUARDED},
        access_tables=variables['smtpd_restrictions_access_tables'],
        rbl_domains=variables['smtpd_restrictions_rbl_domains'],
        classes=variables['restriction_classes_definitions'],
        recipient_classes={'table': variables['restriction_classes_table'],
                           'recipients': variables['restriction_classes_recipients'],
                           'default': variables['restriction_classes_default']},
        map_type='hash', version=V37)


def lab_input():
    lab = yaml_of('inventory/lab/group_vars/mail_servers.yml')
    lab['restriction_classes_definitions']['greylisting'] = [GREYLISTING_CHECK]
    return role_input({name: value for name, value in lab.items()
                       if name.startswith(('smtpd_restrictions_', 'restriction_classes_'))})


def before_this_change(arguments):
    """What the role computed in Jinja before the module owned the model (vars/main.yml at 7de4962)."""
    db, tables = arguments['map_type'], arguments['access_tables']
    refs = {name: '%s:/etc/postfix/%s' % (db, name) for name in tables}
    pattern = r'^(\S+) (%s)$' % '|'.join(re.escape(name) for name in tables)

    def swap(items):
        return [re.sub(pattern, r'\1 %s:/etc/postfix/\2' % db, item) for item in items]

    lists = {name: swap(items) for name, items in arguments['lists'].items()}
    lists['smtpd_client_restrictions'] = swap(arguments['lists']['smtpd_client_restrictions']
                                              + ['reject_rbl_client ' + zone for zone in arguments['rbl_domains']])
    lists['smtpd_data_restrictions'] = arguments['lists']['smtpd_data_restrictions']
    lists.update(arguments['other_lists'])
    return lists, list(refs.values()), {refs[name]: list(entries.values()) for name, entries in tables.items()}


@pytest.mark.parametrize('arguments', [role_input(), lab_input()], ids=['role defaults', 'lab inventory'])
def test_the_role_writes_what_it_wrote_before_less_the_relay_list(arguments):
    recipient = arguments['recipient_classes']
    lists, tables, actions = before_this_change(arguments)
    table_ref = 'hash:/etc/postfix/' + recipient['table']
    hook = (['check_recipient_access ' + table_ref] if recipient['recipients'] else []) + (
        [recipient['default']] if recipient['default'] else [])
    lists['smtpd_recipient_restrictions'] = lists['smtpd_recipient_restrictions'] + hook
    if recipient['recipients']:
        tables, actions = tables + [table_ref], dict(actions, **{table_ref: sorted(set(recipient['recipients'].values()))})
    old_parameters, old_warnings = validate(lists, arguments['classes'], tables, actions, V37)
    old_maps = [(name, '/etc/postfix/' + name, 'hash', entries) for name, entries in
                dict(arguments['access_tables'], **{recipient['table']: recipient['recipients']}).items()]

    result = plan(**arguments)
    del old_parameters['smtpd_relay_restrictions']     # the postfix role's alone now
    assert result['parameters'] == old_parameters
    assert [(m['name'], m['path'], m['type'], m['entries']) for m in result['maps']] == old_maps
    assert result['restriction_warnings'] == old_warnings
    assert result['recipient_table'] == (table_ref if recipient['recipients'] else None)


@pytest.mark.parametrize('arguments', [role_input(), lab_input()], ids=['role defaults', 'lab inventory'])
def test_the_plan_is_the_same_the_second_time_and_leaves_its_input_alone(arguments):
    copy = yaml.safe_load(yaml.safe_dump(arguments))
    first = plan(**arguments)
    assert plan(**arguments) == first
    assert arguments == copy


def test_the_lab_recipient_list_ends_with_the_class_table():
    # tests/host/test_restriction_classes.py reads the same from main.cf.
    items = plan(**lab_input())['parameters']['smtpd_recipient_restrictions'].split(', ')
    assert items[-1] == 'check_recipient_access hash:/etc/postfix/recipient_classes'


@pytest.mark.parametrize('given, rbl, expected', [
    # a table named by its name, also behind warn_if_reject (the old regex missed that one)
    ({'smtpd_helo_restrictions': ['check_helo_access helo']}, [],
     {'smtpd_helo_restrictions': 'check_helo_access lmdb:/etc/pf/helo'}),
    ({'smtpd_client_restrictions': ['warn_if_reject check_client_access helo']}, [],
     {'smtpd_client_restrictions': 'warn_if_reject check_client_access lmdb:/etc/pf/helo'}),
    # a reference stays as written, and so does a word that is not an access check's argument
    ({'smtpd_helo_restrictions': ['check_helo_access lmdb:/etc/pf/helo']}, [],
     {'smtpd_helo_restrictions': 'check_helo_access lmdb:/etc/pf/helo'}),
    ({'smtpd_helo_restrictions': ['reject_rbl_client helo']}, [],
     {'smtpd_helo_restrictions': 'reject_rbl_client helo'}),
    # RBL zones go last in the client list, which they create when it is not given
    ({'smtpd_client_restrictions': ['permit_mynetworks']}, ['rbl.example', 'rbl2.example'],
     {'smtpd_client_restrictions': 'permit_mynetworks, reject_rbl_client rbl.example, reject_rbl_client rbl2.example'}),
    ({}, ['rbl.example'], {'smtpd_client_restrictions': 'reject_rbl_client rbl.example'}),
])
def test_lists_as_written(given, rbl, expected):
    result = plan(given, access_tables={'helo': {'falcot.com': 'REJECT'}}, rbl_domains=rbl, map_type='lmdb',
                  config_dir='/etc/pf', version=V37)
    assert result['parameters'] == expected
    assert result['maps'] == [dict(name='helo', path='/etc/pf/helo', type='lmdb', entries={'falcot.com': 'REJECT'})]


@pytest.mark.parametrize('arguments, culprit', [
    (dict(access_tables={'../etc/shadow': {}}), "access_tables: '../etc/shadow' is not a file name"),
    (dict(access_tables={'helo': ['REJECT']}), 'access_tables: helo must be a dict of lookup key to action'),
    (dict(rbl_domains='rbl.example'), 'rbl_domains must be a list of RBL zones'),
    (dict(rbl_domains=['not a zone']), "'reject_rbl_client not a zone': reject_rbl_client takes one argument"),
    (dict(rbl_domains=['rbl!']), "reject_rbl_client needs rbl_domain or rbl_domain=d.d.d.d, got 'rbl!'"),
    (dict(recipient_classes={'table': 'x/y', 'recipients': {}}), "recipient_classes: table 'x/y' is not a file name"),
    # an access table answering OK to anyone, ahead of the guard, opens the relay
    (dict(lists={'smtpd_recipient_restrictions': ['check_sender_access senders', 'reject_unauth_destination']},
          access_tables={'senders': {'falcot.com': 'OK'}}),
     "item 1 'check_sender_access hash:/etc/postfix/senders' can answer 'OK' for any client"),
    (dict(recipient_classes={'table': 'helo', 'recipients': {'x@falcot.com': 'OK'}},
          access_tables={'helo': {}}),
     'recipient_classes: table hash:/etc/postfix/helo is also one of the access tables'),
])
def test_bad_model_is_refused(arguments, culprit):
    arguments = dict(dict(lists={'smtpd_relay_restrictions': GUARDED}, map_type='hash', version=V37), **arguments)
    assert any(culprit in problem for problem in problems_of(**arguments)), problems_of(**arguments)


# --- one writer of smtpd_relay_restrictions ---------------------------------------------------------

def test_other_lists_are_checked_with_the_lists_but_not_written():
    result = plan({'smtpd_recipient_restrictions': ['permit_mynetworks', 'check_recipient_access inline:{x=OK}']},
                  other_lists={'smtpd_relay_restrictions': GUARDED}, version=V37)
    assert result['parameters'] == {
        'smtpd_recipient_restrictions': 'permit_mynetworks, check_recipient_access inline:{x=OK}'}


@pytest.mark.parametrize('other_lists, culprit', [
    ({'smtpd_relay_restrictions': []}, 'open relay: smtpd_relay_restrictions is empty'),
    ({'smtpd_relay_restrictions': ['permit_mynetworks', 'permissve', 'reject']},
     "smtpd_relay_restrictions item 2 'permissve': unknown restriction"),
    ({'smtpd_recipient_restrictions': GUARDED}, 'other_lists: smtpd_recipient_restrictions is also in lists'),
    ({'smtpd_relay_restriction': GUARDED}, "'smtpd_relay_restriction' is not a restriction list"),
])
def test_other_lists_problems(other_lists, culprit):
    problems = problems_of({'smtpd_recipient_restrictions': ['permit']}, other_lists=other_lists, version=V37)
    assert any(culprit in problem for problem in problems), problems


# --- the relay guards --------------------------------------------------------------------------------

def test_the_guards_are_the_restrictions_that_guard():
    guards = {name for name, spec in RESTRICTIONS.items() if spec.relay == GUARD and spec.status != 'removed'}
    assert guards == set(RELAY_GUARDS)


@pytest.mark.parametrize('guard', RELAY_GUARDS)
def test_each_guard_ends_a_relay_list_that_stops_relaying_on_its_own(guard):
    # The postfix role used to refuse defer and defer_if_permit here; Postfix takes all five.
    parameters, _ = validate({'smtpd_relay_restrictions': ['permit_mynetworks', guard]}, version=V37)
    assert parameters == {'smtpd_relay_restrictions': 'permit_mynetworks, ' + guard}


@pytest.mark.parametrize('relay, culprit', [
    (['permit_mynetworks', 'permit'], "smtpd_relay_restrictions item 2 'permit' permits every request"),
    (['permit_mynetworks', 'permit', 'reject_unauth_destination'], "item 2 'permit' permits every request"),
    (['permit_mynetworks', 'warn_if_reject reject'], 'has no relay guard'),
    (['permit_mynetworks', 'check_relay_domains'], 'check_relay_domains was removed in Postfix 3.9'),
])
def test_relay_lists_that_do_not_stop_relaying(relay, culprit):
    with pytest.raises(RestrictionError) as caught:
        validate({'smtpd_relay_restrictions': relay}, version='3.10.13')
    assert any(culprit in problem for problem in caught.value.problems), caught.value.problems


# --- permits that must come before the guard ---------------------------------------------------------

SASL = ['permit_sasl_authenticated']


@pytest.mark.parametrize('relay, recipient, problems', [
    (GUARDED, GUARDED, []),
    (GUARDED, ['reject_non_fqdn_recipient'], []),                    # no guard, nothing asked
    (GUARDED, ['permit_mynetworks', 'warn_if_reject reject_unauth_destination', 'permit_sasl_authenticated'], []),
    (['permit_mynetworks', 'reject_unauth_destination', 'permit_sasl_authenticated'], GUARDED,
     ["smtpd_relay_restrictions: permit_sasl_authenticated must come before item 2 'reject_unauth_destination', "
      'the first relay guard (reject_unauth_destination, defer_unauth_destination, reject, defer or '
      'defer_if_permit), or the clients it permits cannot relay']),
    (GUARDED, ['permit_mynetworks', 'defer'],
     ["smtpd_recipient_restrictions: permit_sasl_authenticated must come before item 2 'defer'"]),
])
def test_permit_before_guard(relay, recipient, problems):
    lists = {'smtpd_relay_restrictions': relay, 'smtpd_recipient_restrictions': recipient}
    if not problems:
        validate(lists, version=V37, permit_before_guard=SASL)
        plan({}, read_lists={name: ', '.join(items) for name, items in lists.items()}, permit_before_guard=SASL)
        return
    with pytest.raises(RestrictionError) as caught:
        validate(lists, version=V37, permit_before_guard=SASL)
    found = caught.value.problems
    assert [any(problem in text for text in found) for problem in problems] == [True] * len(problems), found
    # the same, read from main.cf
    read = problems_of({}, read_lists={name: ', '.join(items) for name, items in lists.items()},
                       permit_before_guard=SASL)
    assert [any(problem in text for text in read) for problem in problems] == [True] * len(problems), read


@pytest.mark.parametrize('value, items', [
    ('', []),
    ('permit_mynetworks, permit_sasl_authenticated,reject_unauth_destination',
     ['permit_mynetworks', 'permit_sasl_authenticated', 'reject_unauth_destination']),
    ('permit_mynetworks warn_if_reject reject_unknown_client_hostname check_client_access hash:/etc/postfix/a',
     ['permit_mynetworks', 'warn_if_reject reject_unknown_client_hostname', 'check_client_access hash:/etc/postfix/a']),
    ('check_policy_service { inet:127.0.0.1:10023, default_action=DUNNO }, greylisting, hash:/etc/postfix/b',
     ['check_policy_service { inet:127.0.0.1:10023, default_action=DUNNO }', 'greylisting', 'hash:/etc/postfix/b']),
    ('reject_rbl_client', ['reject_rbl_client']),
])
def test_main_cf_values_split_into_items(value, items):
    assert split_value(value) == items


# --- the module's reads --------------------------------------------------------------------------------

def respond(argv):
    answers = {('-h', 'mail_version'): '3.7.11', ('-h', 'default_database_type'): 'lmdb',
               ('-h', 'smtpd_restriction_classes'): '',
               ('-x', '-h', 'smtpd_relay_restrictions'): 'permit_mynetworks, reject',
               ('-x', '-h', 'smtpd_recipient_restrictions'): ', '.join(GUARDED)}
    if argv[3:] == ['-d']:
        return 0, POSTCONF_D_37, ''
    return 0, answers[tuple(argv[3:])] + '\n', ''


@pytest.mark.parametrize('arguments, reads', [
    (dict(lists={}), [['-h', 'mail_version']]),
    (dict(lists={}, access_tables={'helo': {}}), [['-h', 'default_database_type'], ['-h', 'mail_version']]),
    (dict(lists={}, access_tables={'helo': {}}, map_type='hash', postfix_version=V37), []),
    (dict(lists={}, recipient_classes={'table': 'hash:/etc/postfix/rc', 'recipients': {}}, postfix_version=V37),
     [['-h', 'smtpd_restriction_classes']]),
    (dict(lists={}, read_lists=['smtpd_relay_restrictions'], postfix_version=V37),
     [['-x', '-h', 'smtpd_relay_restrictions']]),
])
def test_the_module_reads_only_what_the_input_needs(arguments, reads):
    run = FakeRun(respond)
    check(Postconf(run, 'postconf', '/etc/postfix'), **arguments)
    assert [argv[3:] for argv in run.calls] == reads


def test_the_module_names_tables_with_the_hosts_default_type():
    run = FakeRun(respond)
    result = check(Postconf(run, 'postconf', '/etc/postfix'), {'smtpd_helo_restrictions': ['check_helo_access h']},
                   access_tables={'h': {}}, recipient_classes={'table': 'rc', 'recipients': {'x@falcot.com': 'OK'}},
                   other_lists={'smtpd_relay_restrictions': GUARDED})
    assert result['parameters']['smtpd_helo_restrictions'] == 'check_helo_access lmdb:/etc/postfix/h'
    assert [(m['path'], m['type']) for m in result['maps']] == [('/etc/postfix/h', 'lmdb'), ('/etc/postfix/rc', 'lmdb')]
    assert result['recipient_table'] == 'lmdb:/etc/postfix/rc'


def test_sasl_check_reads_the_live_lists():
    run = FakeRun(respond)
    with pytest.raises(RestrictionError) as caught:
        check(Postconf(run, 'postconf', '/etc/postfix'), {}, permit_before_guard=SASL,
              read_lists=['smtpd_relay_restrictions', 'smtpd_recipient_restrictions'])
    assert caught.value.problems == [
        "smtpd_relay_restrictions: permit_sasl_authenticated must come before item 2 'reject', the first relay "
        'guard (reject_unauth_destination, defer_unauth_destination, reject, defer or defer_if_permit), or the '
        'clients it permits cannot relay']


# --- one list in the code, none in the roles ---------------------------------------------------------

def test_no_role_keeps_its_own_guard_list_or_rewrites_table_names():
    for path in sorted((TOP / 'roles').glob('*/*/*.yml')):
        if path.parent.name in ('tasks', 'vars'):
            assert 'defer_unauth_destination' not in path.read_text(), path
    for part in ('vars', 'tasks'):
        assert 'regex_replace' not in (TOP / 'roles/smtpd_restrictions' / part / 'main.yml').read_text()
