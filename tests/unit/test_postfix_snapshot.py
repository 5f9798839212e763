"""The postconf and postfix_master actions answer from their snapshot option (the host probe's lines) exactly
when their module would change nothing (plugin_utils/postfix_snapshot.py, action plugins postconf and postfix_master), no host.

The snapshots are built as the probe prints them, from a fake Postfix directory; the module's own
converge() on the same directory is the reference."""
import types

import pytest

from ansible_collections.mailforge.postfix.plugins.action import postconf as postconf_action
from ansible_collections.mailforge.postfix.plugins.action import postfix_master as master_action
from ansible_collections.mailforge.postfix.plugins.module_utils import main_cf, master_cf
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf, Postmap
from ansible_collections.mailforge.postfix.plugins.modules import postconf as postconf_module
from ansible_collections.mailforge.postfix.plugins.modules import postfix_master as master_module
from ansible_collections.mailforge.postfix.plugins.plugin_utils import postfix_snapshot
from fakes import FakePostconf, FakeRun

MAIN_CF = 'biff = no\nrelayhost =\nmydestination = $myhostname, localhost\nold_typo = 1\n'
MASTER_CF = ('smtp       inet  n       -       y       -       -       smtpd\n'
             'pickup     unix  n       -       y       60      1       pickup\n'
             'policyd-spf unix -       n       n       -       0       spawn user=nobody '
             'argv=/usr/bin/policyd-spf\n')
TOKEN = '6f1c0e7e-9f55-4b8e-a1c3-2d0b9c1e4a77'


def probe_lines(directory, fake, token=TOKEN, failing=()):
    """The probe's output for ``directory``, as roles/postfix/tasks/main.yml prints it."""
    lines = ['ii  postfix', 'main.cf: present', 'passwd: root:x:0:0:root:/root:/bin/bash']
    for flag in ('-n', '-M'):
        rc, out, err = fake(['postconf', '-c', str(directory), flag])[:3] if flag not in failing \
            else (1, '', 'postconf: fatal: open %s/main.cf: Permission denied\n' % directory)
        lines += ['postconf %s out: %s' % (flag, line) for line in out.splitlines()]
        lines += ['postconf %s err: %s' % (flag, line) for line in err.splitlines()]
    if token and not failing:
        lines.append('postconf snapshot: ' + token)
    return lines


@pytest.fixture
def live(tmp_path):
    (tmp_path / 'main.cf').write_text(MAIN_CF)
    (tmp_path / 'master.cf').write_text(MASTER_CF)
    return tmp_path


FAKE = FakePostconf(unused=['old_typo'])


def snapshot_of(directory):
    return postfix_snapshot.parse(probe_lines(directory, FAKE))


def test_parse_keeps_output_and_warnings_apart(live):
    snapshot = snapshot_of(live)
    assert snapshot.token == TOKEN
    assert main_cf.parse_non_default(snapshot.main_cf) == {
        'biff': 'no', 'relayhost': '', 'mydestination': '$myhostname, localhost'}
    assert snapshot.main_cf_warnings == ['%s/main.cf: unused parameter: old_typo=1' % live]
    assert list(master_cf.parse_services(snapshot.master_cf)) == ['smtp/inet', 'pickup/unix', 'policyd-spf/unix']


@pytest.mark.parametrize('token, failing', [
    (None, ()),          # the probe stopped before its last line
    (TOKEN, ('-n',)),    # postconf -n failed: no token printed
    (TOKEN, ('-M',)),
])
def test_no_snapshot_without_a_complete_read(live, token, failing):
    assert postfix_snapshot.parse(probe_lines(live, FAKE, token, failing)) is None


def test_no_snapshot_from_a_host_without_postfix():
    assert postfix_snapshot.parse(['ii  openssh-server', 'main.cf: absent', 'passwd: root:x:0:0::/root:/bin/sh']) is None


# Each case: parameters; the module's converge() decides whether main.cf changes.
MAIN_CASES = [
    {'biff': False},
    {'biff': 'no', 'relayhost': ''},
    {'mydestination': ['$myhostname', 'localhost']},
    {'mydestination': ['$myhostname', 'localhost', 'falcot.test']},
    {'mydestination': '$myhostname,localhost'},            # same list, other text: main.cf changes
    {'biff': True},
    {'absent_parameter': None},
    {'relayhost': None},                                   # set (empty) in main.cf: removed
    {'old_typo': None},                                    # hidden from -n by Postfix, still in the file
    {'new_parameter': 'x'},
    {'message_size_limit': 10240000},
    {'smtpd_banner': '  $myhostname ESMTP  '},             # Postfix strips it; so does the module
]


@pytest.mark.parametrize('parameters', MAIN_CASES)
def test_postconf_action_answers_exactly_when_the_module_changes_nothing(live, parameters):
    snapshot = snapshot_of(live)
    params = postfix_snapshot.validated({'parameters': parameters}, main_cf.ARGUMENT_SPEC)
    run = FakeRun(FAKE)
    module = postconf_module.converge(Postconf(run, 'postconf', str(live)), Postmap(run, 'postmap', str(live)),
                                      parameters, validate=False, check_mode=True)
    assert postconf_action.unchanged(params, snapshot) is (not module['changed'])


SMTP = {'name': 'smtp', 'type': 'inet', 'private': 'n', 'chroot': 'y', 'command': 'smtpd'}
SPF = {'name': 'policyd-spf', 'type': 'unix', 'unpriv': 'n', 'chroot': 'n', 'maxproc': 0, 'command': 'spawn',
       'args': ['user=nobody', 'argv=/usr/bin/policyd-spf']}
MASTER_CASES = [
    [SMTP],
    [SMTP, SPF],
    [dict(SPF, maxproc='0')],
    [dict(SPF, maxproc=10)],
    [dict(SPF, state='absent')],
    [dict(SMTP, name='submission', options={'syslog_name': 'postfix/submission'})],
    [dict(SMTP, name='submission', state='absent')],
    [dict(SMTP, chroot=True)],                             # rendered y: unchanged
    [dict(SMTP, chroot=False)],
]


@pytest.mark.parametrize('services', MASTER_CASES)
def test_postfix_master_action_answers_exactly_when_the_module_changes_nothing(live, services):
    snapshot = snapshot_of(live)
    params = postfix_snapshot.validated({'services': services}, master_cf.ARGUMENT_SPEC)
    run = FakeRun(FAKE)
    module = master_module.converge(Postconf(run, 'postconf', str(live)), params['services'], check_mode=True)
    assert master_action.unchanged(params, snapshot) is (not module['changed'])


class FakeAction:
    """What postfix_snapshot.run uses of an ActionBase: the task and _execute_module, recorded."""

    def __init__(self, args, module_result, delegate_to=None):
        self._task = types.SimpleNamespace(args=args, delegate_to=delegate_to)
        self.module_result = module_result
        self.module_calls = []

    def _execute_module(self, module_name, module_args, task_vars):
        self.module_calls.append((module_name, module_args))
        return dict(self.module_result)


def task_vars(stale=None):
    return {'ansible_facts': {postfix_snapshot.STALE_FACT: stale} if stale else {}}


def with_snapshot(args, directory):
    """``args`` with the snapshot option as the roles pass it: the probe's lines that start with "postconf "."""
    return dict(args, snapshot=[line for line in probe_lines(directory, FAKE) if line.startswith('postconf ')])


def run_postconf(args, variables, delegate_to=None, module_result=None):
    action = FakeAction(args, module_result or {'changed': True, 'changed_keys': ['biff']}, delegate_to)
    result = postfix_snapshot.run(action, variables, 'mailforge.postfix.postconf', main_cf.ARGUMENT_SPEC,
                                  postconf_action.unchanged, postconf_action.NO_CHANGE)
    return result, action.module_calls


def test_unchanged_is_answered_on_the_controller(live):
    result, calls = run_postconf(with_snapshot({'parameters': {'biff': False}}, live), task_vars())
    assert calls == []
    assert result == dict(changed=False, changed_keys=[], removed_keys=[], restart_required=False,
                          from_snapshot=True)


def test_a_change_runs_the_module_without_the_snapshot_and_makes_it_stale(live):
    result, calls = run_postconf(with_snapshot({'parameters': {'biff': True}}, live), task_vars())
    assert calls == [('mailforge.postfix.postconf', {'parameters': {'biff': True}})]
    assert result['changed'] and result['from_snapshot'] is False
    assert result['ansible_facts'] == {postfix_snapshot.STALE_FACT: TOKEN}


# Unchanged input that still goes to the host, and why.
@pytest.mark.parametrize('args, stale, delegate_to', [
    ({'parameters': {'biff': False}}, TOKEN, None),                        # an earlier task ran its module
    ({'parameters': {'biff': False}, 'snapshot': []}, None, None),         # the probe did not run
    ({'parameters': {'biff': False}, 'snapshot': ['postconf -n out: biff = no']}, None, None),  # no token
    ({'parameters': {'biff': False}}, None, 'mx2'),                        # delegated: another host's files
    ({'parameters': {'biff': False}, 'config_dir': '/etc/postfix-out'}, None, None),
    ({'parameters': {'biff': False}, 'bogus': 1}, None, None),             # the module refuses it, with its message
    ({'parameters': {'bad name': 1}}, None, None),                         # ValueError in the comparison
    ({'parameters': {'biff': False}, 'validate': 'maybe'}, None, None),
])
def test_the_module_runs_when_the_snapshot_cannot_answer(live, args, stale, delegate_to):
    given = args if 'snapshot' in args else with_snapshot(args, live)
    result, calls = run_postconf(given, task_vars(stale), delegate_to, module_result={'changed': False})
    assert calls == [('mailforge.postfix.postconf', {k: v for k, v in given.items() if k != 'snapshot'})]
    assert result['from_snapshot'] is False


def test_without_the_option_the_module_runs_as_before(live):
    result, calls = run_postconf({'parameters': {'biff': False}}, task_vars(), module_result={'changed': False})
    assert calls == [('mailforge.postfix.postconf', {'parameters': {'biff': False}})]
    assert 'ansible_facts' not in result


def test_a_stale_mark_of_an_earlier_probe_does_not_count(live):
    result, calls = run_postconf(with_snapshot({'parameters': {'biff': False}}, live), task_vars('token-of-last-run'))
    assert calls == [] and result['from_snapshot'] is True


def test_postfix_master_action_answers_unchanged_services(live):
    action = FakeAction(with_snapshot({'services': [SMTP, SPF]}, live), {'changed': True})
    result = postfix_snapshot.run(action, task_vars(), 'mailforge.postfix.postfix_master',
                                  master_cf.ARGUMENT_SPEC, master_action.unchanged, master_action.NO_CHANGE)
    assert action.module_calls == []
    assert result == dict(changed=False, changed_services=[], removed_services=[], restart_required=False,
                          from_snapshot=True)
