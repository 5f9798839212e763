"""Every module, run twice against the fakes: the second run finds nothing to do (issue 13, point 5).

In the style of pyinfra's operation tests: a table of inputs per module. The
first converge, in a temporary configuration directory, reports a change; the
second, on the state the first left behind, reports changed=False, issues no
command that writes and leaves every file byte-identical. Modules that never
change anything give the same result twice; a service brought in line is not
stale any more.
"""
import os
import socket
import threading

import pytest

from ansible_collections.mailforge.postfix.plugins.action.dkim_keys import apply_step
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf
from ansible_collections.mailforge.postfix.plugins.module_utils.service_sync import stale
from ansible_collections.mailforge.postfix.plugins.modules import file_set as file_set_module
from ansible_collections.mailforge.postfix.plugins.modules import pg_login_check
from ansible_collections.mailforge.postfix.plugins.modules import postconf as postconf_module
from ansible_collections.mailforge.postfix.plugins.modules import postfix_map as postfix_map_module
from ansible_collections.mailforge.postfix.plugins.modules import postfix_master as postfix_master_module
from ansible_collections.mailforge.postfix.plugins.modules import sasldb_users as sasldb_users_module
from ansible_collections.mailforge.postfix.plugins.modules.service_sync import file_times, touch
from ansible_collections.mailforge.postfix.plugins.modules.smtpd_restrictions import check as restrictions_check
from ansible_collections.mailforge.postfix.plugins.modules.virtual_domains import check as domains_check
from ansible_collections.mailforge.postfix.plugins.plugin_utils import dkim_keyfile
from fakes import FakePostconf, FakeRun
from test_dkim_keys_action import ARGS as DKIM_ARGS
from test_dkim_keys_action import DAY as DKIM_DAY
from test_dkim_keys_action import FLEET as DKIM_FLEET
from test_dkim_keys_action import SECRETS as DKIM_SECRETS
from test_file_set import GROUP as FILE_GROUP
from test_file_set import KEY
from test_file_set import OWNER as FILE_OWNER
from test_pg_login_check import scram_server
from test_postconf_module import MAIN_CF, MASTER_CF
from test_postconf_module import run_converge as postconf_converge
from test_postfix_map_module import FakePostmap, install_virtual
from test_postfix_map_module import converge_maps as maps_converge
from test_postfix_map_module import item as map_item
from test_postfix_map_module import params as map_params
from test_postfix_map_module import run_converge as map_converge
from test_postfix_master_module import MASTER_CF as MASTER_CF_SERVICES
from test_postfix_master_module import SMTP, SUBMISSION
from test_postfix_restart import test_drain_defers_reloads_waits_for_agents_and_puts_main_cf_back as restart_twice
from test_sasldb_users_module import SEED, db_path, snapshot, user
from test_sasldb_users_module import params as sasldb_params
from test_service_sync import SERVICE
from test_smtpd_restrictions_module import SAFE
from test_smtpd_restrictions_module import respond as restrictions_respond
from test_virtual_domains import HANDBOOK, PostconfAnswers

# Arguments after ``-c DIR`` that change a configuration (postconf) or build a table (postmap).
WRITING_POSTCONF = ('-e', '-X', '-MX')


def writes(run):
    """The calls in ``run`` that would change something on the host."""
    def writing(argv):
        if argv[0] == 'postmap':
            return argv[3] != '-q'
        return argv[3] in WRITING_POSTCONF or (argv[3] == '-M' and len(argv) > 4)
    return [argv for argv in run.calls if writing(argv)]


def contents(directory):
    """Every file under ``directory``, as bytes, with its inode (a rename shows as a new inode)."""
    found = {}
    for parent, _dirs, names in os.walk(directory):
        for name in names:
            path = os.path.join(parent, name)
            if os.path.islink(path):
                found[path] = ('->', os.readlink(path))
            else:
                with open(path, 'rb') as handle:
                    found[path] = (handle.read(), os.stat(path).st_ino, os.stat(path).st_mode)
    return found


def twice_with(make_run, directory, converge_once):
    """Converge twice, each time with a new ``make_run()``: (first, second, first run, second run)."""
    first_run = make_run()
    first = converge_once(first_run)
    assert first['changed'] is True, first
    before = contents(directory)
    second_run = make_run()
    second = converge_once(second_run)
    assert second['changed'] is False, second
    assert writes(second_run) == []
    assert contents(directory) == before
    return first, second, first_run, second_run


# --- postconf -----------------------------------------------------------------------------------------------

POSTCONF_CASES = {
    'add a list and a word': {'mynetworks': ['127.0.0.0/8', '[::1]/128'], 'inet_interfaces': 'loopback-only'},
    'change': {'relayhost': '[mx.example.net]:587'},
    'remove': {'biff': None},
    'change list, remove, keep': {'mydestination': ['$myhostname', 'localhost', 'mail.example.org'],
                                  'biff': None, 'relayhost': ''},
    'boolean and number': {'smtpd_helo_required': True, 'message_size_limit': 52428800},
}


@pytest.mark.parametrize('parameters', POSTCONF_CASES.values(), ids=POSTCONF_CASES.keys())
def test_postconf_twice(tmp_path, parameters):
    (tmp_path / 'main.cf').write_text(MAIN_CF)
    (tmp_path / 'master.cf').write_text(MASTER_CF)
    _first, second, first_run, run = twice_with(lambda: FakeRun(FakePostconf()), tmp_path,
                                                lambda run: postconf_converge(run, tmp_path, parameters))
    assert writes(first_run)
    assert (second['changed_keys'], second['removed_keys']) == ([], [])
    assert run.calls == [['postconf', '-c', str(tmp_path), '-n']]


# --- postfix_master -----------------------------------------------------------------------------------------

MASTER_CASES = {
    'add': [SUBMISSION],
    'change options': [dict(SMTP, options={'smtpd_sasl_auth_enable': 'no'})],
    'remove': [{'name': 'smtps', 'type': 'inet', 'state': 'absent'}],
    'milters in braces': [dict(SUBMISSION, options=dict(SUBMISSION['options'], smtpd_milters=[
        'unix:/clamav/clamav-milter.ctl', '{ unix:/dkimpy-milter/dkimpy-milter.sock, default_action=accept }']))],
    'add, change and remove': [dict(SMTP, maxproc=50), SUBMISSION, {'name': 'pickup', 'type': 'unix',
                                                                     'state': 'absent'}],
}


@pytest.mark.parametrize('services', MASTER_CASES.values(), ids=MASTER_CASES.keys())
def test_postfix_master_twice(tmp_path, services):
    (tmp_path / 'main.cf').write_text('biff = no\n')
    (tmp_path / 'master.cf').write_text(MASTER_CF_SERVICES)

    def once(run):
        return postfix_master_module.converge(Postconf(run, 'postconf', str(tmp_path)), services)
    _first, second, first_run, run = twice_with(lambda: FakeRun(FakePostconf()), tmp_path, once)
    assert writes(first_run)
    assert (second['changed_services'], second['removed_services']) == ([], [])
    assert run.calls == [['postconf', '-c', str(tmp_path), '-M']]


# --- postfix_map --------------------------------------------------------------------------------------------

def _existing(tmp_path):
    return install_virtual(tmp_path)[0]


MAP_CASES = {
    'new hash table': (lambda tmp: tmp / 'virtual', dict(type='hash')),
    'new lmdb table': (lambda tmp: tmp / 'virtual', dict(type='lmdb')),
    'default type from postconf': (lambda tmp: tmp / 'virtual', dict(type=None)),
    'add an entry': (_existing, dict(entries={'postmaster@example.org': 'root', 'abuse@example.org': 'root',
                                              'new@example.org': 'x'})),
    'change an entry': (_existing, dict(entries={'postmaster@example.org': 'root', 'abuse@example.org': 'admin'})),
    'remove an entry': (_existing, dict(entries={'postmaster@example.org': 'root'})),
    'mode only': (_existing, dict(mode='0600')),
    'new secret table': (lambda tmp: tmp / 'sasl_passwd', dict(mode='0600', hide_values=True,
                                                               entries={'[relay]:587': 'u:p'})),
    'cidr table': (lambda tmp: tmp / 'milters.cidr',
                   dict(type='cidr', entries=[
                       {'key': '198.18.0.16/28', 'value': 'unix:/a, { unix:/b, default_action=accept }'},
                       {'key': '::1/128', 'value': 'DISABLE'}])),
    'rule table': (lambda tmp: tmp / 'header_checks',
                   dict(type='regexp', entries=None, rules=[{'pattern': '/^Subject: good/', 'action': 'REJECT ok'}])),
}


@pytest.mark.parametrize('make_path, overrides', MAP_CASES.values(), ids=MAP_CASES.keys())
def test_postfix_map_twice(tmp_path, make_path, overrides):
    values = map_params(make_path(tmp_path), **overrides)
    twice_with(lambda: FakeRun(FakePostmap()), tmp_path, lambda run: map_converge(run, values))


def test_several_postfix_maps_twice(tmp_path):
    """One call for a role's tables (maps): the second changes none of them."""
    source = _existing(tmp_path)
    maps = [map_item(source, entries={'postmaster@example.org': 'root'}),
            map_item(tmp_path / 'transport', entries={'example.org': 'relay:[mx.example.org]'}),
            map_item(tmp_path / 'milters.cidr', type='cidr', entries=[{'key': '::1/128', 'value': 'DISABLE'}])]

    def converge_once(run):
        results = maps_converge(run, maps, type='hash')
        return dict(changed=any(result['changed'] for result in results), results=results)

    first, second, _first_run, _run = twice_with(lambda: FakeRun(FakePostmap()), tmp_path, converge_once)
    assert [result['changed'] for result in first['results']] == [True, True, True]


def test_postfix_map_stale_index_is_rebuilt_once(tmp_path):
    source, _index = install_virtual(tmp_path, index_age=10)
    _first, second, first_run, _run = twice_with(lambda: FakeRun(FakePostmap()), tmp_path,
                                                  lambda run: map_converge(run, map_params(source)))
    assert len(writes(first_run)) == 1
    assert second['rebuilt'] is False


# --- file_set -----------------------------------------------------------------------------------------------

def _opendmarc_like(tmp):
    """The dmarc role's set: a directory, two files in and beside it, a socket directory."""
    return [
        dict(path=str(tmp / 'opendmarc'), state='directory', mode='0755'),
        dict(path=str(tmp / 'opendmarc' / 'ignore.hosts'), content='127.0.0.0/8\n::1/128\n', mode='0644'),
        dict(path=str(tmp / 'spool'), state='directory', mode='0750'),
        dict(path=str(tmp / 'opendmarc.conf'), content='AuthservID mx1.falcot.test\n', mode='0644'),
    ]


def _seed(tmp):
    (tmp / 'opendmarc').mkdir(mode=0o700)
    (tmp / 'opendmarc.conf').write_text('AuthservID old\n')
    os.chmod(tmp / 'opendmarc.conf', 0o600)
    (tmp / 'retired.key').write_text('old key\n')
    (tmp / 'gone').mkdir()
    (tmp / 'gone' / 'file').write_text('x')
    (tmp / 'keys').mkdir()
    (tmp / 'keys' / 'retired.key').write_text('old key\n')


FILE_SET_CASES = {
    'fresh host': (None, _opendmarc_like),
    'content, mode and directory mode': (_seed, _opendmarc_like),
    'secret and absent': (_seed, lambda tmp: [
        dict(path=str(tmp / 'keys'), state='directory', mode='0700', purge=True),
        dict(path=str(tmp / 'keys' / 'a.key'), content=KEY, mode='0600', secret=True),
        dict(path=str(tmp / 'retired.key'), state='absent'),
        dict(path=str(tmp / 'gone'), state='absent'),
        dict(path=str(tmp / 'never-there'), state='absent')]),
}


@pytest.mark.parametrize('seed, make_entries', FILE_SET_CASES.values(), ids=FILE_SET_CASES.keys())
def test_file_set_twice(tmp_path, seed, make_entries):
    if seed:
        seed(tmp_path)
    entries = [dict(entry, owner=FILE_OWNER, group=FILE_GROUP) if entry.get('state') != 'absent' else entry
               for entry in make_entries(tmp_path)]

    def directories():
        found = {}
        for parent, _dirs, _names in os.walk(tmp_path):
            info = os.stat(parent)
            found[parent] = (info.st_ino, info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns, info.st_ctime_ns)
        return found
    first, second, _run1, _run = twice_with(lambda: FakeRun(), tmp_path,
                                            lambda run: file_set_module.converge(entries))
    assert first['changed_paths']
    assert (second['changed_paths'], second['changes'], second['diff']) == ([], [], [])
    before = directories()
    assert file_set_module.converge(entries, check_mode=True)['changed'] is False
    assert file_set_module.converge(entries)['changed'] is False
    assert directories() == before


# --- sasldb_users -------------------------------------------------------------------------------------------

SASLDB_CASES = {
    'new database': (None, [user('alice', 'a-pw'), user('bob', 'b-pw')], {}),
    'add a user': (SEED, [user('carol')], {}),
    'change a password': (SEED, [user('bob', 'new-pw')], {}),
    'remove a user': (SEED, [dict(name='bob', realm=None, password=None, state='absent')], {}),
    'exclusive': (SEED, [user('alice', 'a-pw'), user('dave')], dict(exclusive=True)),
    'other realm': (SEED, [user('erin', realm='other.example')], {}),
    'mode': (SEED, [user('alice', 'a-pw')], dict(mode='0600')),
    'link': (SEED, [user('alice', 'a-pw')], dict(link='{tmp}/sasldb2')),
}


@pytest.mark.parametrize('seed, users, overrides', SASLDB_CASES.values(), ids=SASLDB_CASES.keys())
def test_sasldb_users_twice(tmp_path, seed, users, overrides):
    path = db_path(tmp_path, seed)
    overrides = {name: value.format(tmp=tmp_path) if isinstance(value, str) else value
                 for name, value in overrides.items()}
    values = sasldb_params(path, users, **overrides)
    # No commands at all: the realm is given, so postconf is never asked.
    twice_with(lambda: FakeRun(), tmp_path, lambda run: sasldb_users_module.converge(values))
    before = snapshot(path)
    assert sasldb_users_module.converge(values)['changed'] is False
    assert snapshot(path) == before


def test_sasldb_users_realm_from_postconf_twice(tmp_path):
    answers = {'smtpd_sasl_local_domain': '', 'myhostname': 'mx.example.org'}
    make_run = lambda: FakeRun(lambda argv: (0, answers[argv[-1]] + '\n', ''))  # noqa: E731
    values = sasldb_params(db_path(tmp_path), [user('alice')], realm=None)
    _first, second, _run1, run = twice_with(
        make_run, tmp_path,
        lambda run: sasldb_users_module.converge(values, postconf=Postconf(run, 'postconf', '/etc/postfix')))
    assert second['realm'] == 'mx.example.org'
    assert all(argv[3:5] == ['-x', '-h'] for argv in run.calls)


# --- modules that only check: the same answer twice, never a change ------------------------------------------

def same_twice(call):
    first, second = call(), call()
    assert first['changed'] is False
    assert second == first
    return first


DOMAINS_PARAMS = dict(alias_domains=[], aliases={}, mailbox_domains=[], mailboxes={}, mailbox_base='/var/mail/vhosts',
                      uid=5000, gid=5000, map_type=None, config_dir='/etc/postfix', elsewhere_domains=[])
DOMAINS_CASES = {
    'handbook': HANDBOOK,
    'nothing': {},
    'lmdb elsewhere': dict(alias_domains=['a.test'], aliases={'postmaster@a.test': 'root'}, map_type='lmdb',
                           config_dir='/etc/postfix-out', elsewhere_domains=['b.test']),
}


@pytest.mark.parametrize('params', DOMAINS_CASES.values(), ids=DOMAINS_CASES.keys())
def test_virtual_domains_twice(params):
    run = PostconfAnswers({'mydestination': 'mx1.falcot.test, localhost', 'virtual_minimum_uid': '100',
                           'default_database_type': 'hash'})
    same_twice(lambda: domains_check(Postconf(run, 'postconf', '/etc/postfix'), dict(DOMAINS_PARAMS, **params)))
    # reads only (-h, -x -h), the same ones both times
    assert all('-h' in argv[:2] for argv in run.argv)
    half = len(run.argv) // 2
    assert run.argv[:half] == run.argv[half:]


RESTRICTIONS_CASES = {
    'nothing': ({}, {}),
    'safe lists': (SAFE, {}),
    'given version': (SAFE, dict(postfix_version='3.10.13')),
    'classes': (SAFE, dict(classes={'permissive': ['permit']})),
    'deprecated on 3.10': (dict(SAFE, smtpd_recipient_restrictions=['permit_mynetworks', 'reject_unauth_destination',
                                                                    'permit_mx_backup']), {}),
}


@pytest.mark.parametrize('version', ['3.7.11', '3.10.13'])
@pytest.mark.parametrize('lists, options', RESTRICTIONS_CASES.values(), ids=RESTRICTIONS_CASES.keys())
def test_smtpd_restrictions_twice(lists, options, version):
    run = FakeRun(restrictions_respond(version))
    same_twice(lambda: restrictions_check(Postconf(run, 'postconf', '/etc/postfix'), lists, **options))
    assert writes(run) == []
    half = len(run.calls) // 2
    assert run.calls[:half] == run.calls[half:]


class ModuleExit(Exception):
    pass


class FakeModule:
    """Just enough AnsibleModule for pg_login_check.main: the params in, exit_json/fail_json out."""

    def __init__(self, params):
        self.params = dict(dict(host='db.example.org', port=5432, database='sqlgrey', timeout=5), **params)
        self.check_mode = False

    def __call__(self, **_spec):
        return self

    def exit_json(self, **result):
        raise ModuleExit(dict(result, failed=False))

    def fail_json(self, **result):
        raise ModuleExit(dict(result, failed=True, changed=False))


def run_pg_login_check(monkeypatch, params, server):
    ours, theirs = socket.socketpair()
    thread = threading.Thread(target=server, args=(theirs,), daemon=True)
    thread.start()
    monkeypatch.setattr(pg_login_check, 'AnsibleModule', FakeModule(params))
    monkeypatch.setattr(pg_login_check.socket, 'create_connection', lambda address, timeout: ours)
    try:
        with pytest.raises(ModuleExit) as caught:
            pg_login_check.main()
    finally:
        ours.close()
        thread.join(10)
        theirs.close()
    return caught.value.args[0]


PG_CASES = {
    'right password': ('right-password-123', 'right-password-123', False),
    'wrong password': ('right-password-123', 'wrong-password-123', True),
}


@pytest.mark.parametrize('server_password, password, failed', PG_CASES.values(), ids=PG_CASES.keys())
def test_pg_login_check_twice(monkeypatch, server_password, password, failed):
    params = dict(user='sqlgrey', password=password)
    result = same_twice(lambda: run_pg_login_check(monkeypatch, params,
                                                   lambda sock: scram_server(sock, server_password)))
    assert result['failed'] is failed
    if not failed:
        assert result['method'] == 'SCRAM-SHA-256'


# --- service_sync -------------------------------------------------------------------------------------------

SYNC_CASES = {
    'restart after main.cf': (['main.cf'], 'restart'),
    'restart, newest of several': (['main.cf', 'master.cf', 'virtual'], 'restart'),
    'reload with a stamp': (['main.cf', 'master.cf'], 'reload'),
}


@pytest.mark.parametrize('names, action', SYNC_CASES.values(), ids=SYNC_CASES.keys())
def test_service_sync_twice(tmp_path, names, action):
    paths = [str(tmp_path / name) for name in names]
    for age, path in enumerate(paths):
        (tmp_path / os.path.basename(path)).write_text('x\n')
        os.utime(path, (1000.0 + age, 1000.0 + age))
    stamp = str(tmp_path / 'stamps' / 'reloaded') if action == 'reload' else None
    service = dict(SERVICE, files=paths, action=action, stamp=stamp)
    started = 500.0
    # First call: written after the last load, so stale, naming the newest file.
    assert stale(service, file_times(paths), started, None) == paths[-1]
    # "Acting" on it: a restart moves active_since past the files; a reload touches the stamp.
    if action == 'restart':
        started = max(file_times(paths).values()) + 1
    else:
        touch(stamp)
    stamp_time = file_times([stamp]).get(stamp) if stamp else None
    assert stale(service, file_times(paths), started, stamp_time) is None
    assert stale(service, file_times(paths), started, stamp_time) is None


# dkim_keys (an action plugin on the controller): each step through the key file, as the action does it:
# read, apply, write only on a change. The second run of a step changes nothing and leaves the file as it was.
@pytest.mark.parametrize('step', [
    dict(step='ensure'),
    dict(step='publish', domain='falcot.test', selector='r2'),
    dict(step='switch', domain='falcot.test', selector='r1'),
    dict(step='retire', domain='falcot.test', selector='e1'),
])
def test_dkim_keys_twice(tmp_path, step):
    path = str(tmp_path / 'dkim_keys.vault.yml')
    if step['step'] != 'ensure':    # the other steps start from the ensured key set; ensure from no file
        dkim_keyfile.write(path, apply_step({}, DKIM_ARGS, DKIM_FLEET, DKIM_DAY)[0], DKIM_SECRETS)

    def converge():
        keys, changes = apply_step(dkim_keyfile.read(path, DKIM_SECRETS), dict(DKIM_ARGS, **step), DKIM_FLEET, DKIM_DAY)
        if changes:
            dkim_keyfile.write(path, keys, DKIM_SECRETS)
        return changes

    assert converge(), 'the first run changes the key file'
    before = open(path, 'rb').read()
    assert converge() == []
    assert open(path, 'rb').read() == before


# postfix_restart is a handler: every call restarts, so "changes nothing the second time" means that each
# restart leaves main.cf byte for byte as it found it (test_postfix_restart runs two drains in a row, and checks
# a drain that gives up or fails too).
def test_postfix_restart_twice(tmp_path, monkeypatch):
    restart_twice(tmp_path, monkeypatch)
