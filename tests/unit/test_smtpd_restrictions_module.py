import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf, PostfixCommandError
from ansible_collections.mailforge.postfix.plugins.module_utils.smtpd_restrictions import RestrictionError
from ansible_collections.mailforge.postfix.plugins.modules.smtpd_restrictions import check
from fakes import POSTCONF_D_37, FakeRun

SAFE = {'smtpd_relay_restrictions': ['permit_mynetworks', 'reject_unauth_destination'],
        'smtpd_recipient_restrictions': ['permit_mynetworks', 'reject_unauth_destination']}


def respond(version='3.7.11'):
    def answer(argv):
        if argv[3:] == ['-h', 'mail_version']:
            return 0, version + '\n', ''
        if argv[3:] == ['-d']:
            return 0, POSTCONF_D_37, ''
        raise AssertionError(argv)
    return answer


def run_check(run, *args, **kwargs):
    return check(Postconf(run, 'postconf', '/etc/postfix'), *args, **kwargs)


def test_nothing_to_do_runs_only_the_version_read():
    run = FakeRun(respond())
    result = run_check(run, {})
    assert result == dict(changed=False, parameters={}, maps=[], postfix_version='3.7.11', restriction_warnings=[])
    assert run.calls == [['postconf', '-c', '/etc/postfix', '-h', 'mail_version']]
    assert run.environments == [{'LC_ALL': 'C'}]


def test_given_version_and_no_classes_runs_nothing():
    run = FakeRun(respond())
    result = run_check(run, SAFE, postfix_version='3.10.13')
    assert result['postfix_version'] == '3.10.13'
    assert result['parameters']['smtpd_relay_restrictions'] == 'permit_mynetworks, reject_unauth_destination'
    assert run.calls == []


def test_classes_are_checked_against_postconf_d():
    run = FakeRun(respond())
    with pytest.raises(RestrictionError) as caught:
        run_check(run, SAFE, {'biff': ['permit'], 'relayhost': ['reject'], 'permissive': ['permit']})
    assert caught.value.problems == [
        "classes: class name '%s' is a Postfix parameter name (postconf -d); the class definition would change "
        'that parameter' % name for name in ('biff', 'relayhost')]
    assert caught.value.postfix_version == '3.7.11'
    assert [argv[3:] for argv in run.calls] == [['-h', 'mail_version'], ['-d']]


def test_version_from_the_host_decides_deprecations():
    lists = dict(SAFE, smtpd_recipient_restrictions=['permit_mynetworks', 'reject_unauth_destination',
                                                     'permit_mx_backup'])
    assert run_check(FakeRun(respond('3.7.11')), lists)['restriction_warnings'] == []
    [warning] = run_check(FakeRun(respond('3.10.13')), lists)['restriction_warnings']
    assert 'permit_mx_backup is deprecated as of Postfix 3.9 (this host runs 3.10.13)' in warning


def test_postconf_failure_is_reported():
    run = FakeRun(lambda argv: (1, '', 'postconf: fatal: open /etc/postfix/main.cf: No such file or directory\n'))
    with pytest.raises(PostfixCommandError, match='No such file or directory'):
        run_check(run, SAFE)
