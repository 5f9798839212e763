"""sasldb_users against real Berkeley DB files written and read through dbm.ndbm."""

import dbm.ndbm
import grp
import os
import pwd
import stat

import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils import sasldb
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf
from ansible_collections.mailforge.postfix.plugins.modules import sasldb_users
from ansible_collections.mailforge.postfix.plugins.modules.sasldb_users import converge, read_records, _users_from_json
from fakes import FakeRun

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
REALM = 'mail.example.org'


def test_this_python_writes_berkeley_db():
    # scripts/setup builds .venv on Debian's python3 for this; any other
    # build would make every test below meaningless.
    assert dbm.ndbm.library.startswith('Berkeley DB'), dbm.ndbm.library


def key(user, realm=REALM, prop='userPassword'):
    return ('%s\0%s\0%s' % (user, realm, prop)).encode()


SEED = {key('alice'): b'a-pw', key('bob'): b'b-pw', key('bob', prop='cmusaslsecretOTP'): b'otp'}


def write_db(path, records, mode=0o640):
    """A database as saslpasswd2 leaves it: Berkeley DB hash, no .db suffix."""
    stem = str(path) + '-seed'
    database = dbm.ndbm.open(stem, 'n', 0o600)
    for k, v in records.items():
        database[k] = v
    database.close()
    os.rename(stem + '.db', path)
    os.chmod(path, mode)
    return path


def db_path(tmp_path, records=None):
    directory = tmp_path / 'spool' / 'etc'
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / 'sasldb2'
    return write_db(path, records) if records is not None else path


def user(name, password='pw', **extra):
    return dict(dict(name=name, realm=None, password=password, state='present'), **extra)


def params(path, users, **overrides):
    values = dict(path=str(path), link=None, users=users, exclusive=False, realm=REALM, owner=OWNER,
                  group=GROUP, mode='0640', config_dir='/etc/postfix')
    values.update(overrides)
    return values


def snapshot(path):
    info = os.stat(path)
    return path.read_bytes(), info.st_ino, info.st_mtime_ns


def test_new_database_is_created_with_directory_and_attributes(tmp_path):
    path = tmp_path / 'spool' / 'etc' / 'sasldb2'
    (tmp_path / 'spool').mkdir()
    result = converge(params(path, [user('alice', 'a-pw'), user('bob', 'b-pw')]))
    assert result['changed'] is True
    assert (result['added_users'], result['changed_users'], result['removed_users']) == (
        ['alice@' + REALM, 'bob@' + REALM], [], [])
    assert result['counts'] == dict(added=2, changed=0, removed=0, unchanged=0, total=2)
    assert read_records(str(path)) == {key('alice'): b'a-pw', key('bob'): b'b-pw'}
    info = os.stat(path)
    assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o640, os.getgid())
    assert os.listdir(path.parent) == ['sasldb2']
    # the exact format: hash, 4096-byte pages, consistent metadata page
    header = path.read_bytes()[:sasldb.HEADER_SIZE]
    assert sasldb.parse_header(header)[0] == 4096
    assert sasldb.read_problem(header, info.st_size, 2) is None


def test_nothing_to_do_leaves_the_file_alone(tmp_path):
    path = db_path(tmp_path, SEED)
    before = snapshot(path)
    result = converge(params(path, [user('alice', 'a-pw'), user('bob', 'b-pw')]))
    assert result['changed'] is False
    assert (result['added_users'], result['changed_users'], result['removed_users']) == ([], [], [])
    assert result['counts'] == dict(added=0, changed=0, removed=0, unchanged=2, total=2)
    assert snapshot(path) == before


def test_password_change_keeps_other_records(tmp_path):
    path = db_path(tmp_path, SEED)
    result = converge(params(path, [user('bob', 'new-pw')]))
    assert (result['changed'], result['changed_users']) == (True, ['bob@' + REALM])
    assert read_records(str(path)) == {**SEED, key('bob'): b'new-pw'}


def test_absent_removes_all_records_of_the_user(tmp_path):
    path = db_path(tmp_path, SEED)
    result = converge(params(path, [dict(name='bob', realm=None, password=None, state='absent')]))
    assert (result['changed'], result['removed_users']) == (True, ['bob@' + REALM])
    assert read_records(str(path)) == {key('alice'): b'a-pw'}


def test_exclusive_revokes_unlisted_users_in_every_realm(tmp_path):
    path = db_path(tmp_path, {**SEED, key('carol', 'other.example'): b'c', b'odd': b'kept'})
    result = converge(params(path, [user('alice', 'a-pw'), user('dave')], exclusive=True))
    assert result['added_users'] == ['dave@' + REALM]
    assert result['removed_users'] == ['bob@' + REALM, 'carol@other.example']
    assert result['counts'] == dict(added=1, changed=0, removed=2, unchanged=1, total=2)
    assert read_records(str(path)) == {key('alice'): b'a-pw', key('dave'): b'pw', b'odd': b'kept'}


def test_diff_names_users_never_passwords(tmp_path):
    path = db_path(tmp_path, SEED)
    result = converge(params(path, [user('alice', 'hunter2-new')], exclusive=True))
    assert result['diff']['before'] == 'alice@%s\nbob@%s\n' % (REALM, REALM)
    assert result['diff']['after'] == 'alice@%s\n' % REALM
    assert 'hunter2' not in repr(result) and 'a-pw' not in repr(result)


@pytest.mark.parametrize('seed', [None, SEED])
def test_check_mode_writes_nothing(tmp_path, seed):
    path = db_path(tmp_path, seed)
    before = snapshot(path) if seed else None
    link = tmp_path / 'sasldb2-link'
    result = converge(params(path, [user('alice', 'changed'), user('erin')], link=str(link)), check_mode=True)
    assert result['changed'] is True
    assert result['added_users'] == ['erin@' + REALM] if seed else ['alice@' + REALM, 'erin@' + REALM]
    assert result['changed_users'] == (['alice@' + REALM] if seed else [])
    assert (snapshot(path) if seed else path.exists()) == (before if seed else False)
    assert not os.path.lexists(link)
    assert os.listdir(path.parent) == (['sasldb2'] if seed else [])


def btree_lookalike(path):
    """A hash database whose magic number says btree; no btree writer is at hand."""
    write_db(path, SEED)
    data = bytearray(path.read_bytes())
    data[12:16] = (0x053162).to_bytes(4, 'little')
    path.write_bytes(bytes(data))


def garbage_pages(path):
    write_db(path, {key('u%d' % i): b'pw' for i in range(300)})
    data = path.read_bytes()
    path.write_bytes(data[:512] + os.urandom(len(data) - 512))


def truncated(path):
    write_db(path, {key('u%d' % i): b'pw' for i in range(300)})
    path.write_bytes(path.read_bytes()[:4096])


def zeroed_page(path):
    write_db(path, {key('u%d' % i): b'pw' for i in range(300)})
    data = path.read_bytes()
    path.write_bytes(data[:8192] + bytes(4096) + data[12288:])


@pytest.mark.parametrize('damage, problem', [
    (lambda p: p.write_bytes(os.urandom(20000)), 'not a Berkeley DB database'),
    (lambda p: p.write_text('alice:secret\n'), 'too short to be a Berkeley DB file'),
    (btree_lookalike, 'a Berkeley DB btree database, but sasldb2 must be a hash database'),
    (garbage_pages, 'Berkeley DB: '),
    (truncated, 'truncated: 4096 bytes'),
    (zeroed_page, 'damaged: only '),
])
def test_unusable_database_is_left_byte_identical(tmp_path, capfd, damage, problem):
    path = db_path(tmp_path)
    damage(path)
    before = snapshot(path)
    with pytest.raises(ValueError) as caught:
        converge(params(path, [user('alice')], exclusive=True, link=str(tmp_path / 'link')))
    assert str(caught.value).startswith('%s is not a usable sasldb2 (%s' % (path, problem))
    assert str(caught.value).endswith('; nothing was changed')
    assert snapshot(path) == before
    assert os.listdir(path.parent) == ['sasldb2']
    assert not os.path.lexists(tmp_path / 'link')
    # Berkeley DB's complaints went into the message, not onto the module's stderr
    assert capfd.readouterr().err == ''


def test_database_still_readable_after_a_damaged_one(tmp_path):
    garbage_pages(tmp_path / 'bad')
    with pytest.raises(ValueError):
        read_records(str(tmp_path / 'bad'))
    assert read_records(str(write_db(tmp_path / 'good', SEED))) == SEED


def test_directory_in_place_of_the_database_is_refused(tmp_path):
    path = db_path(tmp_path)
    path.mkdir()
    with pytest.raises(ValueError, match='%s cannot be read' % path):
        converge(params(path, [user('alice')]))


def test_permission_denied_is_refused_even_as_root(tmp_path, monkeypatch):
    path = db_path(tmp_path, SEED)
    before = snapshot(path)

    def denied(name, *args, **kwargs):
        raise PermissionError(13, 'Permission denied', name)
    monkeypatch.setattr(sasldb_users, 'open', denied, raising=False)
    with pytest.raises(ValueError) as caught:
        converge(params(path, [user('alice')], exclusive=True))
    assert str(caught.value) == '%s cannot be read (Permission denied); nothing was changed' % path
    assert snapshot(path) == before


def test_failed_rename_leaves_the_old_database_and_no_temp_files(tmp_path, monkeypatch):
    path = db_path(tmp_path, SEED)
    before = snapshot(path)

    def failing_rename(src, dst):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(os, 'rename', failing_rename)
    with pytest.raises(OSError):
        converge(params(path, [user('alice', 'new')]))
    assert snapshot(path) == before
    assert os.listdir(path.parent) == ['sasldb2']


@pytest.mark.parametrize('users, message', [
    ([user('alice', '')], 'password must be a non-empty string'),
    ([user('alice', 'a\0b')], 'must not contain a NUL'),
    ([user('al@ice')], "user name 'al@ice'"),
    ([user('alice', realm='bad realm')], "realm 'bad realm'"),
    ([user('alice'), user('alice', realm=REALM.upper())], 'listed twice'),
])
@pytest.mark.parametrize('seed', [None, SEED])
def test_bad_input_writes_nothing(tmp_path, users, message, seed):
    path = db_path(tmp_path, seed)
    before = snapshot(path) if seed else None
    with pytest.raises(ValueError, match=message):
        converge(params(path, users, link=str(tmp_path / 'link')))
    assert (snapshot(path) if seed else path.exists()) == (before if seed else False)
    assert not os.path.lexists(tmp_path / 'link')


def test_wrong_mode_alone_is_fixed_without_rewriting(tmp_path):
    path = write_db(db_path(tmp_path), SEED, mode=0o644)
    inode = os.stat(path).st_ino
    result = converge(params(path, [user('alice', 'a-pw')]))
    assert result['changed'] is True
    assert (stat.S_IMODE(os.stat(path).st_mode), os.stat(path).st_ino) == (0o640, inode)


def test_zero_byte_file_becomes_a_database(tmp_path):
    path = db_path(tmp_path)
    path.write_bytes(b'')
    assert converge(params(path, []))['changed'] is True
    assert sasldb.parse_header(path.read_bytes()[:sasldb.HEADER_SIZE])
    assert converge(params(path, []))['changed'] is False


def test_link_is_created_then_left_then_corrected(tmp_path):
    path, link = db_path(tmp_path, SEED), tmp_path / 'sasldb2'
    result = converge(params(path, [], link=str(link)))
    assert (result['changed'], os.readlink(link)) == (True, str(path))
    assert converge(params(path, [], link=str(link)))['changed'] is False
    link.unlink()
    link.symlink_to('/elsewhere/sasldb2')
    assert converge(params(path, [], link=str(link)))['changed'] is True
    assert os.readlink(link) == str(path)
    assert sorted(os.listdir(tmp_path)) == ['sasldb2', 'spool']


def test_database_with_users_at_link_is_refused_before_writing(tmp_path):
    path, link = db_path(tmp_path), tmp_path / 'sasldb2'
    write_db(link, SEED)
    before = snapshot(link)
    with pytest.raises(ValueError, match='%s is not a symlink and holds 2 user' % link):
        converge(params(path, [user('alice')], link=str(link)))
    assert not path.exists()
    assert snapshot(link) == before


@pytest.mark.parametrize('placeholder', [{}, None])
def test_empty_database_at_link_is_replaced_by_the_symlink(tmp_path, placeholder):
    # sasl2-bin's postinst leaves an empty /etc/sasldb2 (or an empty file).
    path, link = db_path(tmp_path), tmp_path / 'sasldb2'
    if placeholder is None:
        link.write_bytes(b'')
    else:
        write_db(link, placeholder)
    result = converge(params(path, [user('alice')], link=str(link)))
    assert result['changed'] is True
    assert os.readlink(link) == str(path)


def test_unreadable_thing_at_link_is_refused(tmp_path):
    path, link = db_path(tmp_path), tmp_path / 'sasldb2'
    link.write_bytes(b'not a database at all' * 300)
    with pytest.raises(ValueError, match='is not a usable sasldb2'):
        converge(params(path, [user('alice')], link=str(link)))
    assert not path.exists()


def test_symlink_as_path_is_refused(tmp_path):
    real = db_path(tmp_path, SEED)
    (tmp_path / 'alias').symlink_to(real)
    with pytest.raises(ValueError, match='is a symlink'):
        converge(params(tmp_path / 'alias', [user('alice')]))


@pytest.mark.parametrize('local_domain, realm', [('', 'mx.example.org'), ('sasl.example.org', 'sasl.example.org')])
def test_default_realm_comes_from_postconf(tmp_path, local_domain, realm):
    answers = {'smtpd_sasl_local_domain': local_domain, 'myhostname': 'mx.example.org'}
    run = FakeRun(lambda argv: (0, answers[argv[-1]] + '\n', ''))
    result = converge(params(db_path(tmp_path), [user('alice')], realm=None), postconf=Postconf(
        run, 'postconf', '/etc/postfix'))
    assert (result['realm'], result['added_users']) == (realm, ['alice@' + realm])
    assert run.calls[0] == ['postconf', '-c', '/etc/postfix', '-x', '-h', 'smtpd_sasl_local_domain']


def test_no_realm_and_no_postconf_is_an_error(tmp_path):
    with pytest.raises(ValueError, match='set the option realm'):
        converge(params(db_path(tmp_path), [user('alice')], realm=None))
    result = converge(params(db_path(tmp_path), [user('alice', realm='x.example')], realm=None))
    assert result['realm'] is None


def test_python_without_berkeley_db_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sasldb_users, 'ndbm', None)
    with pytest.raises(ValueError, match='no dbm.ndbm on Berkeley DB'):
        converge(params(db_path(tmp_path), [user('alice')]))


def test_ten_thousand_users_round_trip(tmp_path):
    path = db_path(tmp_path)
    users = [user('user%05d' % i, 'password-%d' % i) for i in range(10000)]
    result = converge(params(path, users))
    assert result['counts']['added'] == 10000
    records = read_records(str(path))
    assert len(records) == 10000
    assert records[key('user04711')] == b'password-4711'
    before = snapshot(path)
    assert converge(params(path, users))['changed'] is False
    assert snapshot(path) == before
    users[4711]['password'] = 'new'
    assert converge(params(path, users))['changed_users'] == ['user04711@' + REALM]


@pytest.mark.parametrize('text, problem', [
    ('[{"name": "alice", "password": "s3cret-x"', 'users_json is not valid JSON (line 1, column'),
    ('{"name": "alice", "password": "s3cret-x"}', 'users_json must be a JSON list'),
])
def test_users_json_errors_never_quote_the_text(text, problem):
    with pytest.raises(ValueError) as caught:
        _users_from_json(text)
    assert problem in str(caught.value) and 's3cret' not in str(caught.value)


def test_users_json_gives_the_same_users_as_the_list(tmp_path):
    path = db_path(tmp_path)
    users = _users_from_json('[{"name": "alice", "password": "pw-1"}, {"name": "bob", "password": "pw-2"}]')
    assert converge(params(path, users))['added_users'] == ['alice@' + REALM, 'bob@' + REALM]
