"""pyinfra_mailforge's operations in pyinfra's style: facts in, commands out; a second run yields none.

The tables give the facts a host reports and the operation's arguments, and
the commands expected. The local tests run the facts and the commands for
real on this machine (sasldb2 through Debian's python3 and Berkeley DB,
postconf through tests/unit/fake_postfix), then run the operation again with
the facts that the first run left.
"""
import hashlib
import os
import pwd
import grp
import secrets

import pytest
from pyinfra.api import OperationError, OperationValueError

from pyinfra_harness import LocalHost, commands_of, run_table
from pyinfra_mailforge.operations import postconf, postfix_map, sasldb_users
from pyinfra_mailforge import remote
from ansible_collections.mailforge.postfix.plugins.module_utils import lookup_table, sasldb

POSTCONF_FACTS = {'PostconfNonDefault': {'biff': 'no', 'relayhost': '', 'mydestination': '$myhostname, localhost'},
                  'PostconfUnused': ['old_typo']}


@pytest.mark.parametrize('arguments, commands', [
    # Equal values: nothing to do.
    (dict(parameters={'biff': False, 'relayhost': '', 'mydestination': ['$myhostname', 'localhost']}), []),
    # Removing what is not there: nothing to do.
    (dict(parameters={'smtpd_banner': None}), []),
    (dict(parameters={'relayhost': '[smtp.example.net]:587'}, reload=False),
     [{'converge': 'postconf', 'params': {'config_dir': '/etc/postfix', 'validate': True,
                                          'parameters': {'relayhost': '[smtp.example.net]:587'}}}]),
    # An unused parameter is hidden by -n but still in main.cf: it needs removing.
    (dict(parameters={'old_typo': None}),
     [{'converge': 'postconf', 'params': {'config_dir': '/etc/postfix', 'validate': True,
                                          'parameters': {'old_typo': None}}},
      'postfix -c /etc/postfix check && systemctl reload postfix']),
    (dict(parameters={'inet_interfaces': 'loopback-only', 'biff': False}),
     [{'converge': 'postconf', 'params': {'config_dir': '/etc/postfix', 'validate': True,
                                          'parameters': {'inet_interfaces': 'loopback-only', 'biff': 'no'}}},
      'postfix -c /etc/postfix check',
      {'converge': 'postfix_restart', 'params': {'config_dir': '/etc/postfix', 'unit': 'postfix.service',
                                                 'drain_timeout': 60}}]),
])
def test_postconf_table(arguments, commands):
    produced, host = run_table(postconf.parameters, POSTCONF_FACTS, **arguments)
    assert produced == commands
    assert bool(host.noops) == (not commands)


def test_postconf_refuses_bad_names_before_asking_the_host():
    with pytest.raises(OperationValueError, match='config_directory'):
        run_table(postconf.parameters, {}, parameters={'config_directory': '/srv'})


def _sasldb_facts(records, exists=True, link='/var/spool/postfix/etc/sasldb2', attributes_differ=False):
    """SasldbState as a host holding ``records`` (bytes key -> bytes value) would answer."""
    def answer(digest_key, **_ignored):
        return {'problem': None, 'exists': exists, 'size': 12288 if exists else None, 'link': link,
                'attributes_differ': attributes_differ,
                'records': {key.hex(): sasldb_users.digest(value, digest_key) for key, value in records.items()}}
    return {'SasldbState': answer,
            'PostconfValue': {'smtpd_sasl_local_domain': '', 'myhostname': 'mx1.falcot.test'}}


ALICE = sasldb.encode_key(b'alice', b'mx1.falcot.test')
BOB = sasldb.encode_key(b'bob', b'mx1.falcot.test')
OTP = sasldb.encode_key(b'bob', b'mx1.falcot.test', b'cmusaslsecretOTP')
USERS = [{'name': 'alice', 'password': 'pw-alice'}, {'name': 'bob', 'password': 'pw-bob'}]


def _rollout(users=USERS, exclusive=False, realm='mx1.falcot.test'):
    return [{'converge': 'sasldb_users', 'params': {
        'users': users, 'exclusive': exclusive, 'realm': realm, 'path': '/var/spool/postfix/etc/sasldb2',
        'link': '/etc/sasldb2', 'owner': 'root', 'group': 'sasl', 'mode': '0640', 'config_dir': '/etc/postfix'}}]


@pytest.mark.parametrize('facts, arguments, commands', [
    # Same passwords, other properties kept: nothing to do.
    (_sasldb_facts({ALICE: b'pw-alice', BOB: b'pw-bob', OTP: b'otp'}), dict(users=USERS), []),
    (_sasldb_facts({}, exists=False, link=None), dict(users=USERS), _rollout()),
    # An empty database and no users: nothing to do.
    (_sasldb_facts({}, link='/var/spool/postfix/etc/sasldb2', exists=True), dict(users=[]), []),
    (_sasldb_facts({ALICE: b'pw-alice', BOB: b'old'}), dict(users=USERS), _rollout()),
    (_sasldb_facts({ALICE: b'pw-alice', BOB: b'pw-bob'}), dict(users=USERS[:1]), []),
    (_sasldb_facts({ALICE: b'pw-alice', BOB: b'pw-bob'}), dict(users=USERS[:1], exclusive=True),
     _rollout(USERS[:1], exclusive=True)),
    (_sasldb_facts({ALICE: b'pw-alice'}), dict(users=[{'name': 'bob', 'state': 'absent'}]), []),
    (_sasldb_facts({ALICE: b'pw-alice', BOB: b'pw-bob'}), dict(users=[{'name': 'bob', 'state': 'absent'}]),
     _rollout([{'name': 'bob', 'state': 'absent'}])),
    (_sasldb_facts({ALICE: b'pw-alice', BOB: b'pw-bob'}, link=None), dict(users=USERS), _rollout()),
    (_sasldb_facts({ALICE: b'pw-alice', BOB: b'pw-bob'}, attributes_differ=True), dict(users=USERS), _rollout()),
    # A realm given is not looked up.
    (_sasldb_facts({sasldb.encode_key(b'alice', b'other.test'): b'pw-alice'}),
     dict(users=USERS[:1], realm='other.test'), []),
])
def test_sasldb_users_table(facts, arguments, commands):
    produced, host = run_table(sasldb_users.users, facts, **arguments)
    assert produced == commands
    asked = [name for name, _kwargs in host.asked]
    assert ('PostconfValue' in asked) == ('realm' not in arguments and sasldb.needs_default_realm(arguments['users']))


def test_sasldb_users_zero_byte_database_is_written():
    facts = _sasldb_facts({})
    state = facts['SasldbState']
    facts['SasldbState'] = lambda **kwargs: dict(state(**kwargs), size=0)
    assert run_table(sasldb_users.users, facts, users=[])[0] == _rollout([], realm=None)


def test_sasldb_users_refuses_bad_users_without_naming_passwords():
    with pytest.raises(OperationValueError) as refused:
        run_table(sasldb_users.users, _sasldb_facts({}), users=[{'name': 'car ol', 'password': 'x-secret-9'}])
    assert 'car ol' in str(refused.value) and 'x-secret-9' not in str(refused.value)


def test_sasldb_users_reports_a_database_the_host_cannot_read():
    facts = {'SasldbState': {'problem': '/x is not a usable sasldb2 (not a Berkeley DB database); nothing was changed'}}
    with pytest.raises(OperationError, match='not a usable sasldb2'):
        run_table(sasldb_users.users, facts, users=USERS, realm='r.test')


def test_sasldb_users_keeps_passwords_out_of_what_pyinfra_prints():
    commands = commands_of(sasldb_users.users, _host := __import__('pyinfra_harness').TableHost(
        _sasldb_facts({}, exists=False)), users=USERS)
    for command in commands:
        for shown in (str(command), repr(command), command.get_raw_value()):
            assert 'pw-alice' not in shown and 'pw-bob' not in shown
    for _name, kwargs in _host.asked:
        assert 'pw-alice' not in repr(kwargs)


MAP_TEXT = lookup_table.render(lookup_table.DEFAULT_HEADER, [('a@example.org', 'b@example.org')])


def _map_facts(text=MAP_TEXT, stale=False, wrong=()):
    return {'PostconfValue': {'default_database_type': 'hash'},
            'PostfixMapState': {'problem': None, 'stale': stale, 'wrong_attributes': list(wrong),
                                'sha256': None if text is None else hashlib.sha256(text.encode()).hexdigest()}}


def _map_write(map_type='hash', **changed):
    params = {'path': '/etc/postfix/virtual', 'type': map_type, 'entries': {'a@example.org': 'b@example.org'},
              'rules': None, 'actions': None, 'owner': 'root', 'group': 'root', 'mode': '0644',
              'hide_values': False, 'header': lookup_table.DEFAULT_HEADER, 'config_dir': '/etc/postfix'}
    return [{'converge': 'postfix_map', 'params': dict(params, **changed)}]


@pytest.mark.parametrize('facts, arguments, commands', [
    (_map_facts(), {}, []),
    (_map_facts(text=None), {}, _map_write()),
    (_map_facts(text=MAP_TEXT + 'c@example.org d\n'), {}, _map_write()),
    (_map_facts(stale=True), {}, _map_write()),
    (_map_facts(wrong=['/etc/postfix/virtual.db']), {}, _map_write()),
    # texthash has no index: staleness does not apply.
    (_map_facts(stale=True), {'type': 'texthash'}, []),
    (_map_facts(), {'mode': '0640'}, []),
])
def test_postfix_map_table(facts, arguments, commands):
    arguments = dict({'path': '/etc/postfix/virtual', 'entries': {'a@example.org': 'b@example.org'}}, **arguments)
    produced, host = run_table(postfix_map.table, facts, **arguments)
    assert produced == commands
    index = [kwargs['index'] for name, kwargs in host.asked if name == 'PostfixMapState']
    assert index == [None if arguments.get('type') == 'texthash' else '/etc/postfix/virtual.db']


def test_postfix_map_checks_input_before_asking_the_host_state():
    with pytest.raises(OperationValueError, match='REJEKT'):
        run_table(postfix_map.table, _map_facts(), path='/etc/postfix/header_checks', type='regexp',
                  rules=[{'pattern': '/x/', 'action': 'REJEKT no'}], actions=['REJECT'])


def test_postfix_map_secret_values_stay_off_command_lines():
    commands = commands_of(postfix_map.table, __import__('pyinfra_harness').TableHost(_map_facts(text=None)),
                           path='/etc/postfix/sasl_passwd', entries={'[relay]:587': 'user:relay-secret-7'},
                           hide_values=True)
    assert commands and all('relay-secret-7' not in command.get_raw_value() for command in commands)


# Local runs: the real facts and the real host-side code on this machine.

def _me():
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


@pytest.fixture
def sasldb_place(tmp_path):
    owner, group = _me()
    (tmp_path / 'etc').mkdir()
    return dict(path=str(tmp_path / 'spool' / 'sasldb2'), link=str(tmp_path / 'etc' / 'sasldb2'), owner=owner,
                group=group, mode='0640')


def test_sasldb_users_local_rollout_then_nothing(sasldb_place):
    local = LocalHost()
    passwords = {'alice': 'A-' + secrets.token_urlsafe(12), 'bob': 'B-' + secrets.token_urlsafe(12)}
    users = [{'name': name, 'password': pw} for name, pw in passwords.items()]
    first = local.converge(sasldb_users.users, users=users, realm='mx1.falcot.test', **sasldb_place)
    assert len(first) == 1
    assert os.readlink(sasldb_place['link']) == sasldb_place['path']
    assert local.converge(sasldb_users.users, users=users, realm='mx1.falcot.test', **sasldb_place) == []
    # A new password is a change again, and then not.
    passwords['alice'] = 'C-' + secrets.token_urlsafe(12)
    users = [{'name': name, 'password': pw} for name, pw in passwords.items()]
    assert len(local.converge(sasldb_users.users, users=users, realm='mx1.falcot.test', **sasldb_place)) == 1
    assert local.converge(sasldb_users.users, users=users, realm='mx1.falcot.test', **sasldb_place) == []
    # Exclusive with alice alone revokes bob.
    assert len(local.converge(sasldb_users.users, users=users[:1], exclusive=True, realm='mx1.falcot.test',
                              **sasldb_place)) == 1
    state = local.get_fact(__import__('pyinfra_mailforge.facts', fromlist=['SasldbState']).SasldbState,
                           digest_key=sasldb_users.DIGEST_KEY, **sasldb_place)
    assert sorted(bytes.fromhex(key) for key in state['records']) == [
        sasldb.encode_key(b'alice', b'mx1.falcot.test')]
    assert state['records'][sasldb.encode_key(b'alice', b'mx1.falcot.test').hex()] == sasldb_users.digest(
        passwords['alice'].encode())
    # Nothing that went through pyinfra's hands or came back from the host shows a password.
    for command, stdout, stderr in local.transcript:
        for password in list(passwords.values()) + ['A-', 'B-']:
            if len(password) > 2:
                assert password not in command + stdout + stderr


def test_sasldb_users_local_refuses_a_damaged_database(sasldb_place):
    os.makedirs(os.path.dirname(sasldb_place['path']))
    with open(sasldb_place['path'], 'wb') as handle:
        handle.write(os.urandom(8192))
    with pytest.raises(OperationError, match='not a usable sasldb2'):
        LocalHost().converge(sasldb_users.users, users=USERS, realm='r.test', **sasldb_place)


def test_postconf_local_staged_change_then_nothing(tmp_path):
    (tmp_path / 'main.cf').write_text('biff = yes\nold_typo = 1\nrelayhost =\n')
    (tmp_path / 'master.cf').write_text('smtp inet n - y - - smtpd\n')
    local = LocalHost({'FAKE_POSTCONF_UNUSED': 'old_typo'})
    wanted = dict(parameters={'biff': False, 'relayhost': '[smtp.example.net]:587', 'old_typo': None},
                  config_dir=str(tmp_path), reload=False)
    assert len(local.converge(postconf.parameters, **wanted)) == 1
    assert sorted((tmp_path / 'main.cf').read_text().splitlines()) == [
        'biff = no', 'relayhost = [smtp.example.net]:587']
    assert local.converge(postconf.parameters, **wanted) == []
    # The staged copy is gone: nothing but the live files in the directory.
    assert sorted(os.listdir(tmp_path)) == ['main.cf', 'master.cf']


def test_postconf_local_rejected_value_leaves_main_cf_alone(tmp_path):
    (tmp_path / 'main.cf').write_text('biff = yes\n')
    (tmp_path / 'master.cf').write_text('')
    local = LocalHost()
    commands = commands_of(postconf.parameters, local, parameters={'smtpd_helo_required': 'maybe'},
                           config_dir=str(tmp_path), reload=False)
    done = local.execute(commands[0])
    assert done.returncode == 1 and 'smtpd_helo_required' in done.stderr, done.stderr
    assert (tmp_path / 'main.cf').read_text() == 'biff = yes\n'


def test_the_shipped_program_carries_the_collection_code_unchanged():
    program = remote.program()
    for name in remote.SHIPPED:
        folder, module = name.split('.')
        top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(os.path.join(top, folder, module + '.py'), encoding='utf-8') as handle:
            assert repr(handle.read()) in program
