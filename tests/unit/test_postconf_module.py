import os
import stat

import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf, Postmap
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import (
    ConcurrentChangeError, StagedValidationError)
from ansible_collections.mailforge.postfix.plugins.modules.postconf import converge
from fakes import FakePostconf, FakeRun

MAIN_CF = 'biff = no\nrelayhost =\nmydestination = $myhostname, localhost\n'
MASTER_CF = 'smtp inet n - y - - smtpd\n'
PROBE = ['postmap', '-q', Postmap.PROBE, 'static:' + Postmap.PROBE]


@pytest.fixture
def live(tmp_path):
    (tmp_path / 'main.cf').write_text(MAIN_CF)
    (tmp_path / 'master.cf').write_text(MASTER_CF)
    os.chmod(tmp_path / 'main.cf', 0o640)
    return tmp_path


def run_converge(run, live, parameters, **options):
    return converge(Postconf(run, 'postconf', str(live)), Postmap(run, 'postmap', str(live)), parameters,
                    **options)


def calls(run, live):
    """(live calls, staging calls), each as the tool and its arguments after -c DIR."""
    def pick(for_live):
        return [[argv[0]] + argv[3:] for argv in run.calls if (argv[2] == str(live)) is for_live]
    return pick(True), pick(False)


def test_nothing_to_do_runs_only_the_read(live):
    run = FakeRun(FakePostconf())
    result = run_converge(run, live, {'biff': False, 'relayhost': '', 'absent_key': None,
                                      'mydestination': ['$myhostname', 'localhost']})
    assert result['changed'] is False
    assert result['changed_keys'] == []
    assert run.calls == [['postconf', '-c', str(live), '-n']]
    assert (live / 'main.cf').read_text() == MAIN_CF


@pytest.mark.parametrize('parameters, staged_args, changed, removed, main_cf_after, restart', [
    ({'relayhost': '[mx.example.net]:587', 'biff': None},
     [['postconf', '-e', 'relayhost=[mx.example.net]:587'], ['postconf', '-X', 'biff']],
     ['biff', 'relayhost'], ['biff'],
     'mydestination = $myhostname, localhost\nrelayhost = [mx.example.net]:587\n', False),
    ({'mynetworks': ['127.0.0.0/8', '[::1]/128'], 'inet_interfaces': 'loopback-only'},
     [['postconf', '-e', 'inet_interfaces=loopback-only', 'mynetworks=127.0.0.0/8, [::1]/128']],
     ['inet_interfaces', 'mynetworks'], [],
     MAIN_CF + 'inet_interfaces = loopback-only\nmynetworks = 127.0.0.0/8, [::1]/128\n', True),
])
def test_changes_are_staged_validated_and_installed(live, parameters, staged_args, changed, removed,
                                                    main_cf_after, restart):
    run = FakeRun(FakePostconf())
    result = run_converge(run, live, parameters)
    assert result['changed'] is True
    assert result['changed_keys'] == changed
    assert result['removed_keys'] == removed
    assert result['restart_required'] is restart
    assert calls(run, live) == ([['postconf', '-n'], ['postconf', '-d'], ['postconf', '-M']],
                                staged_args + [['postconf', '-n'], ['postconf', '-M'], PROBE])
    assert all(env == {'LC_ALL': 'C'} for env in run.environments)
    assert (live / 'main.cf').read_text() == main_cf_after
    assert stat.S_IMODE(os.stat(live / 'main.cf').st_mode) == 0o640
    assert (live / 'master.cf').read_text() == MASTER_CF


def test_stage_is_a_private_directory_that_is_removed(live):
    run = FakeRun(FakePostconf())
    run_converge(run, live, {'relayhost': 'x'})
    stage_dirs = {argv[2] for argv in run.calls if argv[2] != str(live)}
    assert len(stage_dirs) == 1
    assert not os.path.exists(stage_dirs.pop())
    assert sorted(os.listdir(live)) == ['main.cf', 'master.cf']


def test_check_mode_validates_but_does_not_write(live):
    run = FakeRun(FakePostconf())
    result = run_converge(run, live, {'relayhost': 'x'}, check_mode=True)
    assert result['changed'] is True
    assert calls(run, live)[1] == [['postconf', '-e', 'relayhost=x'], ['postconf', '-n'], ['postconf', '-M'],
                                   PROBE]
    assert (live / 'main.cf').read_text() == MAIN_CF


def bad_ipc_timeout(main_cf_text):
    """Postfix 3.10's own words for a time value it cannot convert."""
    if 'ipc_timeout = abc' in main_cf_text:
        return 'parameter ipc_timeout: bad time value or unit: abc'
    return None


@pytest.mark.parametrize('fake, parameters, culprit, message', [
    (FakePostconf(unused={'myhostnme'}), {'myhostnme': 'mail.example.org', 'relayhost': 'x'},
     'parameters: myhostnme', '{live}/main.cf: unused parameter: myhostnme=mail.example.org'),
    # a global parameter that Postfix itself fails to convert
    (FakePostconf(global_fatal=bad_ipc_timeout), {'ipc_timeout': 'abc'},
     'parameters: ipc_timeout', 'parameter ipc_timeout: bad time value or unit: abc'),
])
@pytest.mark.parametrize('check_mode', [False, True])
def test_failed_validation_leaves_live_files_byte_identical(live, fake, parameters, culprit, message, check_mode):
    before = {name: (live / name).read_bytes() for name in ('main.cf', 'master.cf')}
    with pytest.raises(StagedValidationError) as caught:
        run_converge(FakeRun(fake), live, parameters, check_mode=check_mode)
    assert culprit in str(caught.value)
    # The message shows the live path, not the throw-away staging path.
    assert message.format(live=live) in str(caught.value)
    assert {name: (live / name).read_bytes() for name in before} == before


@pytest.mark.parametrize('parameters, culprit', [
    ({'smtpd_helo_required': 'maybe'}, "parameter smtpd_helo_required: 'maybe' is not yes or no"),
    ({'message_size_limit': 'lots'}, "parameter message_size_limit: 'lots' is not a whole number"),
    ({'biff': 'true'}, "parameter biff: 'true' is not yes or no"),
])
def test_values_postfix_cannot_convert_fail_before_staging(live, parameters, culprit):
    run = FakeRun(FakePostconf())
    with pytest.raises(ValueError) as caught:
        run_converge(run, live, parameters)
    assert culprit in str(caught.value)
    assert calls(run, live) == ([['postconf', '-n'], ['postconf', '-d']], [])
    assert (live / 'main.cf').read_text() == MAIN_CF


def test_global_error_the_live_config_already_has_is_not_ours(live):
    (live / 'main.cf').write_text(MAIN_CF + 'ipc_timeout = abc\n')
    run = FakeRun(FakePostconf(global_fatal=bad_ipc_timeout))
    run_converge(run, live, {'relayhost': 'x'})
    assert calls(run, live)[0][-1] == PROBE
    assert 'relayhost = x\n' in (live / 'main.cf').read_text()


def test_old_unrelated_warning_does_not_block(live):
    (live / 'main.cf').write_text(MAIN_CF + 'old_typo = 1\n')
    run = FakeRun(FakePostconf(unused={'old_typo'}))
    result = run_converge(run, live, {'relayhost': 'x'})
    assert result['changed'] is True
    assert result['warnings_ignored'] == ['%s/main.cf: unused parameter: old_typo=1' % live]
    assert 'relayhost = x\n' in (live / 'main.cf').read_text()


def test_unused_key_in_main_cf_can_be_removed(live):
    (live / 'main.cf').write_text(MAIN_CF + 'old_typo = 1\n')
    run = FakeRun(FakePostconf(unused={'old_typo'}))
    result = run_converge(run, live, {'old_typo': None})
    assert result['removed_keys'] == ['old_typo']
    assert (live / 'main.cf').read_text() == MAIN_CF


def test_validate_false_skips_the_checks(live):
    run = FakeRun(FakePostconf(unused={'myhostnme'}))
    run_converge(run, live, {'myhostnme': 'x', 'smtpd_helo_required': 'maybe'}, validate=False)
    assert calls(run, live) == ([['postconf', '-n']],
                                [['postconf', '-e', 'myhostnme=x', 'smtpd_helo_required=maybe']])
    assert 'myhostnme = x' in (live / 'main.cf').read_text()


def test_bad_input_fails_before_any_command(live):
    run = FakeRun(FakePostconf())
    with pytest.raises(ValueError, match='smtpd_banner'):
        run_converge(run, live, {'smtpd_banner': 'a\nb'})
    assert run.calls == []


def test_diff_shows_changed_keys_only(live):
    run = FakeRun(FakePostconf())
    result = run_converge(run, live, {'relayhost': '[mx]:25', 'biff': None,
                                      'mydestination': ['$myhostname', 'localhost']})
    assert result['diff'] == {'before': 'biff = no\nrelayhost =\n', 'after': 'relayhost = [mx]:25\n'}


def test_live_edit_during_validation_is_not_overwritten(live):
    fake = FakePostconf()

    def respond(argv):
        if argv[2] != str(live) and argv[3:] == ['-n']:
            (live / 'main.cf').write_text(MAIN_CF + 'edited = by hand\n')
        return fake(argv)

    with pytest.raises(ConcurrentChangeError):
        run_converge(FakeRun(respond), live, {'relayhost': 'x'})
    assert (live / 'main.cf').read_text() == MAIN_CF + 'edited = by hand\n'
