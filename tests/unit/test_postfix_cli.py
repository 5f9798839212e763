import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import (
    Postconf, Postmap, PostfixCommandError, diagnostics)
from fakes import FakeRun


@pytest.mark.parametrize('stderr, level, expected', [
    ('', 'warning', []),
    ('postconf: warning: /etc/postfix/main.cf: unused parameter: foo=bar\n', 'warning',
     ['/etc/postfix/main.cf: unused parameter: foo=bar']),
    # argv[0] is printed as given, so a full path when run via get_bin_path.
    ('/usr/sbin/postconf: warning: /etc/postfix/main.cf: unused parameter: foo=bar\n'
     '/usr/sbin/postconf: warning: /etc/postfix/main.cf: unused parameter: foo=bar\n', 'warning',
     ['/etc/postfix/main.cf: unused parameter: foo=bar']),
    ('postmap: warning: unsupported dictionary type: bogus. Is the postfix-bogus package installed?\n'
     'postmap: fatal: unsupported dictionary type: bogus\n', 'fatal',
     ['unsupported dictionary type: bogus']),
    ('postconf: fatal: bad field count: "t5/unix=t5 unix - n"\n', 'warning', []),
    ('some other noise\n', 'warning', []),
])
def test_diagnostics(stderr, level, expected):
    assert diagnostics(stderr, level) == expected


@pytest.mark.parametrize('call, expected_args', [
    (lambda p: p.non_default(), ['-n']),
    (lambda p: p.services(), ['-M']),
    (lambda p: p.value('default_database_type'), ['-h', 'default_database_type']),
    (lambda p: p.expanded_value('smtpd_sasl_local_domain'), ['-xh', 'smtpd_sasl_local_domain']),
    (lambda p: p.set_parameters({'relayhost': '[mx]:587', 'mydestination': 'a, b'}),
     ['-e', 'relayhost=[mx]:587', 'mydestination=a, b']),
    (lambda p: p.remove_parameters(['biff', 'relayhost']), ['-X', 'biff', 'relayhost']),
    (lambda p: p.set_service('submission/inet', 'submission inet n - y - - smtpd'),
     ['-M', 'submission/inet=submission inet n - y - - smtpd']),
    (lambda p: p.remove_service('smtps/inet'), ['-MX', 'smtps/inet']),
])
def test_postconf_argv_and_locale(call, expected_args):
    run = FakeRun()
    call(Postconf(run, '/usr/sbin/postconf', '/etc/postfix'))
    assert run.calls == [['/usr/sbin/postconf', '-c', '/etc/postfix'] + expected_args]
    assert run.environments == [{'LC_ALL': 'C'}]


def test_postconf_at_points_at_another_directory():
    run = FakeRun()
    Postconf(run, 'postconf', '/etc/postfix').at('/tmp/stage').non_default()
    assert run.calls == [['postconf', '-c', '/tmp/stage', '-n']]


def test_postconf_check_runs_n_and_m_and_merges_warnings():
    def respond(argv):
        return 0, '', 'postconf: warning: /x/master.cf: unused parameter: a=b\n'
    run = FakeRun(respond)
    warnings = Postconf(run, 'postconf', '/x').check()
    assert run.calls_in('/x') == [['-n'], ['-M']]
    assert warnings == ['/x/master.cf: unused parameter: a=b']


def test_failure_raises_with_stderr():
    run = FakeRun(lambda argv: (1, '', 'postconf: fatal: open /nope/main.cf: No such file or directory\n'))
    with pytest.raises(PostfixCommandError) as caught:
        Postconf(run, 'postconf', '/nope').non_default()
    assert caught.value.rc == 1
    assert 'No such file or directory' in str(caught.value)


@pytest.mark.parametrize('rc, stderr, outcome', [
    (1, '', []),  # key not found: the table parsed fine
    (0, '', []),
    (1, 'postmap: warning: regexp map /t, line 2: Unmatched ( or \\(\n', ['regexp map /t, line 2: Unmatched ( or \\(']),
    (1, 'postmap: fatal: open /t: No such file or directory\n', PostfixCommandError),
    (2, '', PostfixCommandError),
])
def test_postmap_probe(rc, stderr, outcome):
    run = FakeRun(lambda argv: (rc, '', stderr))
    postmap = Postmap(run, 'postmap', '/etc/postfix')
    if outcome is PostfixCommandError:
        with pytest.raises(PostfixCommandError):
            postmap.probe('regexp', '/t')
    else:
        assert postmap.probe('regexp', '/t') == outcome
    assert run.calls == [['postmap', '-c', '/etc/postfix', '-q', Postmap.PROBE, 'regexp:/t']]
    assert run.environments == [{'LC_ALL': 'C'}]


def test_postmap_build_argv():
    run = FakeRun()
    assert Postmap(run, 'postmap', '/etc/postfix').build('lmdb', '/etc/postfix/virtual') == []
    assert run.calls == [['postmap', '-c', '/etc/postfix', 'lmdb:/etc/postfix/virtual']]


@pytest.mark.parametrize('rc, stderr, errors', [
    (0, '', []),
    (1, 'postmap: fatal: bad numerical configuration: message_size_limit = lots\n',
     ['bad numerical configuration: message_size_limit = lots']),
    (1, 'postmap: fatal: parameter ipc_timeout: bad time value or unit: abc\n',
     ['parameter ipc_timeout: bad time value or unit: abc']),
    (127, 'sh: postmap: not found\n', ['postmap exited with 127: sh: postmap: not found']),
])
def test_global_parameter_errors(rc, stderr, errors):
    run = FakeRun(lambda argv: (rc, Postmap.PROBE + '\n' if rc == 0 else '', stderr))
    assert Postmap(run, 'postmap', '/stage').global_parameter_errors() == errors
    assert run.calls == [['postmap', '-c', '/stage', '-q', Postmap.PROBE, 'static:' + Postmap.PROBE]]
    assert run.environments == [{'LC_ALL': 'C'}]
