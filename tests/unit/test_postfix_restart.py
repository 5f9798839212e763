"""postfix_restart: defer delivery, wait until no delivery agent runs, put main.cf back, restart.

The pure parts from tables of real output (Debian 12's Postfix 3.7.11); the
drain against a fake host: run_command answers as postconf and postfix do,
and the process table is a script of snapshots, one per poll.
"""
import json

import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils import postfix_drain
from fakes import FakeRun

# postconf -M on a converged lab MX (extract, with Debian's pipe services).
SERVICES = """\
smtp       inet  n       -       y       -       -       smtpd
qmgr       unix  n       -       n       300     1       qmgr
smtp       unix  -       -       y       -       -       smtp
relay      unix  -       -       y       -       -       smtp -o syslog_name=postfix/$service_name
error      unix  -       -       y       -       -       error
retry      unix  -       -       y       -       -       error
discard    unix  -       -       y       -       -       discard
local      unix  -       n       n       -       -       local
virtual    unix  -       n       n       -       -       virtual
lmtp       unix  -       -       y       -       -       lmtp
postlog    unix-dgram n  -       n       -       1       postlogd
maildrop   unix  -       n       n       -       -       pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
dovecot    unix  -       n       n       -       -       /usr/lib/postfix/sbin/pipe flags=DRhu user=vmail argv=x
submission inet  n       -       y       -       -       smtpd -o smtpd_sasl_auth_enable=yes
"""


def test_delivery_transports_are_the_unix_services_that_run_a_delivery_agent():
    assert postfix_drain.delivery_transports(SERVICES) == [
        'smtp', 'relay', 'local', 'virtual', 'lmtp', 'maildrop', 'dovecot']


@pytest.mark.parametrize('current, transports, expected', [
    ('', ['smtp', 'relay'], 'smtp relay'),
    ('uucp', ['smtp', 'uucp'], 'uucp smtp'),
    (' smtp,  relay ', ['smtp', 'relay', 'local'], 'smtp relay local'),
])
def test_defer_list_keeps_what_main_cf_defers(current, transports, expected):
    assert postfix_drain.defer_list(current, transports) == expected


@pytest.mark.parametrize('text, expected', [
    ('4808 (master) S 1 4808 4808 0 -1 4194624 1021 0', (4808, 'master', 1)),
    ('4811 (smtp) S 4808 4808 4808 0 -1 4194560', (4811, 'smtp', 4808)),
    ('77 (a (b) c) R 12 77 77 0', (77, 'a (b) c', 12)),
])
def test_parse_stat(text, expected):
    assert postfix_drain.parse_stat(text) == expected


def test_children_are_the_parents_own_with_those_commands():
    stats = [(1, 'systemd', 0), (10, 'master', 1), (11, 'smtp', 10), (12, 'qmgr', 10), (13, 'smtp', 99),
             (14, 'local', 10)]
    assert postfix_drain.children(stats, 10, postfix_drain.DELIVERY_AGENTS) == {11, 14}
    assert postfix_drain.children(stats, 10, {'qmgr'}) == {12}


def queue_line(name, queue_id):
    return json.dumps(dict(queue_name=name, queue_id=queue_id, recipients=[dict(address='a@b.test')]))


def test_deferred_ids_from_postqueue_json():
    output = '\n'.join([queue_line('deferred', 'A1'), queue_line('active', 'B2'), queue_line('deferred', 'C3'), ''])
    assert postfix_drain.deferred_ids(output) == {'A1', 'C3'}
    assert postfix_drain.deferred_ids('') == set()


# --- the drain against a fake host --------------------------------------------------------------------------

MAIN_CF = '# the admin\'s comment\nmyhostname = mx1.falcot.test\n\ninet_protocols = ipv4\n'
MASTER = 10


class Exited(Exception):
    pass


class FakeModule:
    def __init__(self, config_dir, respond, drain_timeout=5):
        self.params = dict(config_dir=str(config_dir), unit='postfix.service', drain_timeout=drain_timeout)
        self.run_command = FakeRun(respond)
        self.warnings = []

    def get_bin_path(self, name, required=False):
        return name

    def fail_json(self, **result):
        raise Exited(result)

    def warn(self, text):
        self.warnings.append(text)


def host(tmp_path, reload_rc=0):
    """A config dir holding MAIN_CF, and a respond() that edits it as postconf -e does."""
    main_cf = tmp_path / 'main.cf'
    main_cf.write_text(MAIN_CF)

    def respond(argv):
        args = argv[3:]
        if argv[0] == 'postconf' and args == ['-h', 'defer_transports']:
            return 0, '\n', ''
        if argv[0] == 'postconf' and args[0] == '-e':
            with open(main_cf, 'a') as handle:
                handle.write(''.join('%s\n' % setting.replace('=', ' = ', 1) for setting in args[1:]))
        if argv[0] == 'postfix' and args == ['reload']:
            return reload_rc, '', '' if reload_rc == 0 else 'postfix: fatal: reload failed'
        return None
    return main_cf, respond


def script(monkeypatch, *snapshots):
    """running_stats answers each snapshot in turn, then the last one again."""
    answers = list(snapshots)
    monkeypatch.setattr(postfix_drain, 'running_stats', lambda: answers.pop(0) if len(answers) > 1 else answers[0])
    monkeypatch.setattr(postfix_drain, 'POLL_SECONDS', 0.001)


BUSY = [(MASTER, 'master', 1), (11, 'qmgr', MASTER), (12, 'smtp', MASTER), (13, 'local', MASTER)]
NEW_QMGR = [(MASTER, 'master', 1), (21, 'qmgr', MASTER), (12, 'smtp', MASTER)]
IDLE = [(MASTER, 'master', 1), (21, 'qmgr', MASTER), (22, 'scache', MASTER)]


def test_drain_defers_reloads_waits_for_agents_and_puts_main_cf_back(tmp_path, monkeypatch):
    main_cf, respond = host(tmp_path)
    module = FakeModule(tmp_path, respond)
    for _run in range(2):   # a second restart leaves main.cf as the first did: as it was
        script(monkeypatch, BUSY, BUSY, NEW_QMGR, NEW_QMGR, IDLE)
        assert postfix_drain.PostfixRestart(module, str(tmp_path)).drain(MASTER, ['smtp', 'relay', 'local'], 5) is True
        assert main_cf.read_text() == MAIN_CF
    edits = [argv[3:] for argv in module.run_command.calls if argv[0] != 'postconf' or argv[3] == '-e']
    assert edits == [['-e', 'defer_transports=smtp relay local'], ['reload'], ['reload']] * 2


def test_drain_gives_up_at_the_bound_and_still_puts_main_cf_back(tmp_path, monkeypatch):
    main_cf, respond = host(tmp_path)
    script(monkeypatch, BUSY)       # the agents never end
    assert postfix_drain.PostfixRestart(FakeModule(tmp_path, respond), str(tmp_path)).drain(MASTER, ['smtp'], 0.05) is False
    assert main_cf.read_text() == MAIN_CF


def test_a_failed_reload_puts_main_cf_back(tmp_path, monkeypatch):
    main_cf, respond = host(tmp_path, reload_rc=1)
    script(monkeypatch, BUSY)
    with pytest.raises(Exited, match='reload failed'):
        postfix_drain.PostfixRestart(FakeModule(tmp_path, respond), str(tmp_path)).drain(MASTER, ['smtp'], 5)
    assert main_cf.read_text() == MAIN_CF


# --- the whole restart ---------------------------------------------------------------------------------------

def restart_host(tmp_path, master_running=True, queue_before=('A1',), queue_after=('A1', 'B2', 'C3')):
    """host(), also answering postconf -h queue_directory and -M, postqueue -j (before, then after) and -i."""
    main_cf, respond_main = host(tmp_path)
    (tmp_path / 'pid').mkdir()
    if master_running:
        (tmp_path / 'pid' / 'master.pid').write_text('%10d\n' % MASTER)
    queues = [queue_before, queue_after]

    def respond(argv):
        args = argv[3:]
        if argv[0] == 'postconf' and args == ['-h', 'queue_directory']:
            return 0, '%s\n' % tmp_path, ''
        if argv[0] == 'postconf' and args == ['-M']:
            return 0, SERVICES, ''
        if argv[0] == 'postqueue' and args == ['-j']:
            ids = queues.pop(0)
            return 0, ''.join(queue_line('deferred', queue_id) + '\n' for queue_id in ids), ''
        if argv[0] == 'postqueue' and args[0] == '-i':
            return (0, '', '') if args[1] == 'B2' else (69, '', 'postqueue: fatal: C3: no such file')
        return respond_main(argv)
    return main_cf, respond


def test_restart_drains_then_sends_at_once_only_what_came_in_meanwhile(tmp_path, monkeypatch):
    main_cf, respond = restart_host(tmp_path)
    script(monkeypatch, BUSY, BUSY, NEW_QMGR, IDLE)
    module = FakeModule(tmp_path, respond)
    result = postfix_drain.PostfixRestart(module, str(tmp_path)).restart('postfix.service', 5)
    assert result == dict(drained=True, flushed=['B2'], deferred_transports=[
        'smtp', 'relay', 'local', 'virtual', 'lmtp', 'maildrop', 'dovecot'])
    calls = [argv for argv in module.run_command.calls if argv[0] in ('postfix', 'systemctl') or '-i' in argv]
    assert calls == [['postfix', '-c', str(tmp_path), 'reload'], ['postfix', '-c', str(tmp_path), 'reload'],
                     ['systemctl', 'restart', 'postfix.service'],
                     ['postqueue', '-c', str(tmp_path), '-i', 'B2'], ['postqueue', '-c', str(tmp_path), '-i', 'C3']]
    assert main_cf.read_text() == MAIN_CF and module.warnings == []


def test_restart_that_could_not_wait_says_so(tmp_path, monkeypatch):
    _main_cf, respond = restart_host(tmp_path, queue_after=('A1',))
    script(monkeypatch, BUSY)
    module = FakeModule(tmp_path, respond, drain_timeout=0.05)
    result = postfix_drain.PostfixRestart(module, str(tmp_path)).restart('postfix.service', 0.05)
    assert result['drained'] is False and result['flushed'] == []
    assert ['systemctl', 'restart', 'postfix.service'] in module.run_command.calls
    assert len(module.warnings) == 1 and 'delivered twice' in module.warnings[0]


@pytest.mark.parametrize('master_running, timeout', [(False, 60), (True, 0)])
def test_restart_without_a_drain_when_postfix_is_down_or_asked_not_to(tmp_path, monkeypatch, master_running, timeout):
    main_cf, respond = restart_host(tmp_path, master_running=master_running)
    script(monkeypatch, BUSY)
    module = FakeModule(tmp_path, respond)
    result = postfix_drain.PostfixRestart(module, str(tmp_path)).restart('postfix@-.service', timeout)
    assert result == dict(drained=False, deferred_transports=[], flushed=[])
    assert [argv[0] for argv in module.run_command.calls if argv[0] != 'postconf'] == ['systemctl']
    assert main_cf.read_text() == MAIN_CF and module.warnings == []


# --- the same restart through pyinfra's host driver (no AnsibleModule on the host) --------------------------

def test_pyinfra_host_driver_restarts_the_same_way(tmp_path, monkeypatch):
    from pyinfra_mailforge import host_driver
    main_cf, respond = restart_host(tmp_path)
    fake = FakeRun(respond)
    monkeypatch.setattr(host_driver, 'run', fake)
    monkeypatch.setattr(host_driver, 'binary', lambda name, required=True: name)
    script(monkeypatch, BUSY, BUSY, NEW_QMGR, IDLE)
    result = host_driver.restart_postfix(dict(config_dir=str(tmp_path), unit='postfix.service', drain_timeout=5))
    assert result['drained'] is True and result['flushed'] == ['B2'] and result['warnings'] == []
    assert ['systemctl', 'restart', 'postfix.service'] in fake.calls
    assert main_cf.read_text() == MAIN_CF


def test_pyinfra_host_driver_reports_a_failed_reload_with_main_cf_put_back(tmp_path, monkeypatch):
    from pyinfra_mailforge import host_driver
    main_cf, respond = host(tmp_path, reload_rc=1)
    (tmp_path / 'pid').mkdir()
    (tmp_path / 'pid' / 'master.pid').write_text('%d\n' % MASTER)

    def answers(argv):
        if argv[0] == 'postconf' and argv[3:] == ['-h', 'queue_directory']:
            return 0, '%s\n' % tmp_path, ''
        if argv[0] == 'postconf' and argv[3:] == ['-M']:
            return 0, SERVICES, ''
        return respond(argv)
    monkeypatch.setattr(host_driver, 'run', FakeRun(answers))
    monkeypatch.setattr(host_driver, 'binary', lambda name, required=True: name)
    script(monkeypatch, BUSY)
    with pytest.raises(ValueError, match='reload failed'):
        host_driver.restart_postfix(dict(config_dir=str(tmp_path), unit='postfix.service', drain_timeout=5))
    assert main_cf.read_text() == MAIN_CF
