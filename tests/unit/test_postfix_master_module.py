import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import StagedValidationError
from ansible_collections.mailforge.postfix.plugins.modules.postfix_master import converge
from fakes import FakePostconf, FakeRun

MASTER_CF = """\
smtp       inet  n       -       y       -       -       smtpd
pickup     unix  n       -       y       60      1       pickup
smtps      inet  n       -       y       -       -       smtpd -o smtpd_tls_wrappermode=yes
"""
SMTP = {'name': 'smtp', 'type': 'inet', 'private': 'n', 'chroot': 'y', 'command': 'smtpd'}
SUBMISSION = {'name': 'submission', 'type': 'inet', 'private': 'n', 'chroot': 'y', 'command': 'smtpd',
              'options': {'syslog_name': 'postfix/submission', 'smtpd_sasl_auth_enable': True}}
SUBMISSION_ENTRY = ('submission inet n - y - - smtpd -o syslog_name=postfix/submission '
                    '-o smtpd_sasl_auth_enable=yes')


@pytest.fixture
def live(tmp_path):
    (tmp_path / 'main.cf').write_text('biff = no\n')
    (tmp_path / 'master.cf').write_text(MASTER_CF)
    return tmp_path


def stage_calls(run, live_dir):
    return [argv[3:] for argv in run.calls if argv[2] != str(live_dir)]


@pytest.mark.parametrize('services', [
    [SMTP],
    [SMTP, {'name': 'smtps', 'type': 'inet', 'private': 'n', 'chroot': 'y', 'command': 'smtpd',
            'options': {'smtpd_tls_wrappermode': True}}],
    [{'name': 'gone', 'type': 'unix', 'state': 'absent'}],
])
def test_nothing_to_do_runs_only_the_read(live, services):
    run = FakeRun(FakePostconf())
    result = converge(Postconf(run, 'postconf', str(live)), services)
    assert result['changed'] is False
    assert result['changed_services'] == []
    assert run.calls == [['postconf', '-c', str(live), '-M']]


@pytest.mark.parametrize('services, staged_args, changed, removed, restart, master_cf_after', [
    ([SUBMISSION], [['-M', 'submission/inet=' + SUBMISSION_ENTRY]],
     ['submission/inet'], [], True, MASTER_CF + SUBMISSION_ENTRY + '\n'),
    ([dict(SMTP, options={'smtpd_sasl_auth_enable': 'no'})],
     [['-M', 'smtp/inet=smtp inet n - y - - smtpd -o smtpd_sasl_auth_enable=no']],
     ['smtp/inet'], [], False,
     MASTER_CF.split('\n', 1)[1] + 'smtp inet n - y - - smtpd -o smtpd_sasl_auth_enable=no\n'),
    ([{'name': 'smtps', 'type': 'inet', 'state': 'absent'}], [['-MX', 'smtps/inet']],
     ['smtps/inet'], ['smtps/inet'], True, MASTER_CF.rsplit('smtps', 1)[0]),
])
def test_changes_are_staged_validated_and_installed(live, services, staged_args, changed, removed,
                                                    restart, master_cf_after):
    run = FakeRun(FakePostconf())
    result = converge(Postconf(run, 'postconf', str(live)), services)
    assert result['changed'] is True
    assert result['changed_services'] == changed
    assert result['removed_services'] == removed
    assert result['restart_required'] is restart
    assert run.calls_in(str(live)) == [['-M'], ['-d'], ['-n']]
    assert stage_calls(run, live) == staged_args + [['-n'], ['-M']]
    assert all(env == {'LC_ALL': 'C'} for env in run.environments)
    assert (live / 'master.cf').read_text() == master_cf_after
    assert (live / 'main.cf').read_text() == 'biff = no\n'


def test_check_mode_validates_but_does_not_write(live):
    run = FakeRun(FakePostconf())
    result = converge(Postconf(run, 'postconf', str(live)), [SUBMISSION], check_mode=True)
    assert result['changed'] is True
    assert stage_calls(run, live) == [['-M', 'submission/inet=' + SUBMISSION_ENTRY], ['-n'], ['-M']]
    assert (live / 'master.cf').read_text() == MASTER_CF


@pytest.mark.parametrize('check_mode', [False, True])
def test_new_warning_fails_and_names_the_service(live, check_mode):
    before = (live / 'master.cf').read_bytes()
    typo = dict(SUBMISSION, options={'smtpd_tls_securty_level': 'encrypt'})

    def respond(argv):
        # Postfix reports a misspelt -o only once the entry is in master.cf.
        if argv[2] != str(live) and argv[3:] in (['-n'], ['-M']):
            return (0, '', 'postconf: warning: %s/master.cf: unused parameter: smtpd_tls_securty_level=encrypt\n'
                    % argv[2])
        return FakePostconf()(argv)

    with pytest.raises(StagedValidationError) as caught:
        converge(Postconf(FakeRun(respond), 'postconf', str(live)), [typo], check_mode=check_mode)
    assert 'smtpd_tls_securty_level (set by submission/inet)' in str(caught.value)
    assert (live / 'master.cf').read_bytes() == before


def test_rejected_entry_names_the_service(live):
    before = (live / 'master.cf').read_bytes()
    run = FakeRun(FakePostconf(reject_service='submission/inet'))
    with pytest.raises(StagedValidationError, match='service submission/inet: postconf rejected the entry'):
        converge(Postconf(run, 'postconf', str(live)), [SUBMISSION])
    assert (live / 'master.cf').read_bytes() == before


def test_old_warning_is_ignored(live):
    run = FakeRun(FakePostconf(master_warning='{dir}/master.cf: unused parameter: old=1'))
    result = converge(Postconf(run, 'postconf', str(live)), [SUBMISSION])
    assert result['warnings_ignored'] == ['%s/master.cf: unused parameter: old=1' % live]
    assert SUBMISSION_ENTRY in (live / 'master.cf').read_text()


@pytest.mark.parametrize('options, culprit', [
    ({'smtpd_sasl_auth_enable': 'maybe'}, "service submission/inet: option smtpd_sasl_auth_enable: 'maybe'"),
    ({'smtpd_client_connection_count_limit': 'ten'},
     "service submission/inet: option smtpd_client_connection_count_limit: 'ten'"),
])
def test_option_values_postfix_cannot_convert_fail_before_staging(live, options, culprit):
    run = FakeRun(FakePostconf())
    with pytest.raises(ValueError) as caught:
        converge(Postconf(run, 'postconf', str(live)), [dict(SUBMISSION, options=options)])
    assert culprit in str(caught.value)
    assert run.calls_in(str(live)) == [['-M'], ['-d']]
    assert len(run.calls) == 2
    assert (live / 'master.cf').read_text() == MASTER_CF


def test_bad_input_fails_before_any_command(live):
    run = FakeRun(FakePostconf())
    with pytest.raises(ValueError, match='service submission/inet: maxproc'):
        converge(Postconf(run, 'postconf', str(live)), [dict(SUBMISSION, maxproc='lots')])
    assert run.calls == []
