import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf
from ansible_collections.mailforge.postfix.plugins.module_utils.restriction_classes import (
    apply, key_problem)
from ansible_collections.mailforge.postfix.plugins.module_utils.smtpd_restrictions import RestrictionError
from ansible_collections.mailforge.postfix.plugins.modules.smtpd_restrictions import check, stale_classes
from fakes import POSTCONF_D_37, FakeRun

TABLE = 'hash:/etc/postfix/recipient_classes'
RELAY = ['permit_mynetworks', 'reject_unauth_destination']
RECIPIENT = ['permit_mynetworks', 'reject_unauth_destination', 'reject_unlisted_recipient']
LISTS = {'smtpd_relay_restrictions': RELAY, 'smtpd_recipient_restrictions': RECIPIENT}
HANDBOOK_CLASSES = {'greylisting': ['check_policy_service inet:127.0.0.1:10023'], 'permissive': ['permit'],
                    'aggressive': ['reject_rbl_client rbl.example', 'reject_unknown_client_hostname']}
HANDBOOK_TABLE = {'postmaster@falcot.com': 'OK', 'private@falcot.com': 'greylisting',
                  'sympa@falcot.com': 'reject_unverified_sender', 'falcot.com': 'greylisting'}


@pytest.mark.parametrize('key, problem', [
    ('jean@falcot.com', None),
    ('postmaster@', None),
    ('falcot.com', None),
    ('a.b-c.falcot.com', None),
    ('first.last+tag@falcot.com', None),
    ('@falcot.com', 'is a bare @domain, which access(5) does not look up; use the domain itself'),
    ('@', 'is not a recipient address, user@ or domain'),
    ('', 'is not a recipient address, user@ or domain'),
    ('jean@falcot..com', 'has an invalid domain'),
    ('je an@falcot.com', 'has an invalid local part'),
    ('.jean@falcot.com', 'has an invalid local part'),
    ('falcot_com', 'is not a domain name'),
    ('-falcot.com', 'is not a domain name'),
])
def test_recipient_keys(key, problem):
    assert key_problem(key) == problem


def test_empty_model_changes_nothing():
    assert apply(LISTS, {}, [], {}, {'table': TABLE, 'recipients': {}, 'default': ''}) == (LISTS, [], {}, None, [])


def test_handbook_model():
    access = 'hash:/etc/postfix/access_helo'
    lists, tables, actions, table, problems = apply(
        LISTS, HANDBOOK_CLASSES, [access], {access: ['REJECT']},
        {'table': TABLE, 'recipients': HANDBOOK_TABLE, 'default': 'permissive'})
    assert problems == []
    assert table == TABLE
    assert tables == [access, TABLE]
    assert lists['smtpd_recipient_restrictions'] == [
        'permit_mynetworks', 'reject_unauth_destination', 'reject_unlisted_recipient',
        'check_recipient_access ' + TABLE, 'permissive']
    assert lists['smtpd_relay_restrictions'] == RELAY
    assert actions == {access: ['REJECT'], TABLE: ['OK', 'greylisting', 'reject_unverified_sender']}


def test_default_class_alone_needs_no_table():
    lists, tables, actions, table, problems = apply(LISTS, HANDBOOK_CLASSES, [], {},
                                                    {'table': TABLE, 'default': 'greylisting'})
    assert (tables, actions, table, problems) == ([], {}, None, [])
    assert lists['smtpd_recipient_restrictions'][-1] == 'greylisting'


@pytest.mark.parametrize('recipients, default, problem', [
    ({'@falcot.com': 'greylisting'}, '',
     "recipient_classes: key '@falcot.com' is a bare @domain, which access(5) does not look up; use the domain "
     "itself"),
    ({'Jean@falcot.com': 'OK', 'jean@falcot.com': 'greylisting'}, '',
     'recipient_classes: Jean@falcot.com and jean@falcot.com differ only in case; Postfix folds keys to lower '
     'case, so one would hide the other'),
    ({'jean@falcot.com': ''}, '', 'recipient_classes: jean@falcot.com must map to a class name or an access action'),
    ({}, 'greyisting',
     "recipient_classes: default class 'greyisting' is not defined in classes (a class referenced but not defined)"),
])
def test_model_problems(recipients, default, problem):
    model = {'table': TABLE, 'recipients': recipients, 'default': default}
    assert apply(LISTS, HANDBOOK_CLASSES, [], {}, model)[4] == [problem]


@pytest.mark.parametrize('live, classes, expected', [
    ('', {}, {'smtpd_restriction_classes': None}),
    ('greylisting, permissive', {'greylisting': ['x']}, {'permissive': None}),
    ('greylisting permissive', {'greylisting': ['x'], 'permissive': ['permit']}, {}),
    ('old', {}, {'old': None, 'smtpd_restriction_classes': None}),
])
def test_stale_classes(live, classes, expected):
    assert stale_classes(live, classes) == expected


def respond(live_classes=''):
    def answer(argv):
        args = argv[3:]
        if args == ['-h', 'mail_version']:
            return 0, '3.7.11\n', ''
        if args == ['-d']:
            return 0, POSTCONF_D_37, ''
        if args == ['-h', 'smtpd_restriction_classes']:
            return 0, live_classes + '\n', ''
        raise AssertionError(argv)
    return answer


def run_check(run, **kwargs):
    return check(Postconf(run, 'postconf', '/etc/postfix'), **kwargs)


def test_module_renders_the_handbook_model():
    run = FakeRun(respond('greylisting, retired'))
    result = run_check(run, lists=LISTS, classes=HANDBOOK_CLASSES,
                       recipient_classes={'table': TABLE, 'recipients': HANDBOOK_TABLE, 'default': ''})
    assert result['recipient_table'] == TABLE
    parameters = result['parameters']
    assert parameters['smtpd_recipient_restrictions'] == (
        'permit_mynetworks, reject_unauth_destination, reject_unlisted_recipient, check_recipient_access %s' % TABLE)
    assert parameters['smtpd_restriction_classes'] == 'greylisting, permissive, aggressive'
    assert parameters['permissive'] == 'permit'
    assert parameters['retired'] is None


def test_module_without_classes_removes_the_live_ones():
    run = FakeRun(respond('greylisting'))
    result = run_check(run, lists=LISTS, recipient_classes={'table': TABLE, 'recipients': {}, 'default': ''})
    assert result['recipient_table'] is None
    assert result['parameters']['greylisting'] is None
    assert result['parameters']['smtpd_restriction_classes'] is None
    assert result['parameters']['smtpd_recipient_restrictions'] == ', '.join(RECIPIENT)


def test_nothing_to_remove_when_classes_are_not_managed():
    run = FakeRun(respond('greylisting'))
    result = run_check(run, lists=LISTS, postfix_version='3.7.11')
    assert 'recipient_table' not in result and run.calls == []


@pytest.mark.parametrize('recipients, classes, fragment', [
    ({'private@falcot.com': 'greylistng'}, HANDBOOK_CLASSES,
     'greylistng is not an access(5) action, a Postfix restriction, or a class defined in classes'),
    ({'falcot.com': 'relayhost'}, {'relayhost': ['permit']},
     "classes: class name 'relayhost' is a Postfix parameter name"),
])
def test_module_refuses_undefined_and_colliding_classes(recipients, classes, fragment):
    run = FakeRun(respond())
    with pytest.raises(RestrictionError) as caught:
        run_check(run, lists=LISTS, classes=classes,
                  recipient_classes={'table': TABLE, 'recipients': recipients, 'default': ''})
    assert any(fragment in problem for problem in caught.value.problems), caught.value.problems


def test_a_class_that_permits_before_the_guard_opens_the_relay():
    lists = {'smtpd_relay_restrictions': ['permit_mynetworks', 'permissive', 'reject_unauth_destination'],
             'smtpd_recipient_restrictions': ['permit_mynetworks', 'permissive', 'reject_unauth_destination']}
    with pytest.raises(RestrictionError) as caught:
        run_check(FakeRun(respond()), lists=lists, classes={'permissive': ['permit']},
                  recipient_classes={'table': TABLE, 'recipients': {}, 'default': ''})
    assert any(problem.startswith('open relay:') for problem in caught.value.problems), caught.value.problems


def test_the_class_table_must_not_be_an_access_table():
    with pytest.raises(RestrictionError) as caught:
        run_check(FakeRun(respond()), lists=LISTS, classes=HANDBOOK_CLASSES, tables=[TABLE],
                  recipient_classes={'table': TABLE, 'recipients': HANDBOOK_TABLE, 'default': ''})
    assert caught.value.problems == ['recipient_classes: table %s is also one of the access tables; give it its '
                                     'own name' % TABLE]
