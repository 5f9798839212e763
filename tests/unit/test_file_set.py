"""A role's whole set of files in one module call (module file_set, module_utils/file_set)."""
import grp
import json
import os
import pwd
import stat

import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils import file_set
from ansible_collections.mailforge.postfix.plugins.module_utils.file_set import (
    FileSetError, check_entries, diffs, plan, resolve_ids)
from ansible_collections.mailforge.postfix.plugins.modules import file_set as file_set_module
from ansible_collections.mailforge.postfix.plugins.modules.file_set import PartlyApplied, converge

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
ROOT = os.getuid() == 0
KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n'


def entry(path, content=None, state='file', mode='0644', **extra):
    values = dict(path=path, state=state, mode=mode if state != 'absent' else None, **extra)
    if state == 'file':
        values['content'] = 'x\n' if content is None else content
    return values


# --- check_entries ------------------------------------------------------------------------------------------

def test_entries_are_normalised():
    checked = check_entries([
        {'path': '/etc/opendmarc', 'state': 'directory', 'mode': '0755', 'owner': 'root', 'group': 'root'},
        {'path': '/etc/opendmarc/ignore.hosts', 'content': 'ünïcode\n', 'mode': 0o644},
        {'path': '/etc/old', 'state': 'absent'},
        {'path': '/etc/key', 'content': KEY, 'mode': '600', 'secret': True, 'owner': 0},
    ])
    assert checked == [
        dict(path='/etc/opendmarc', state='directory', content=None, owner='root', group='root', mode=0o755,
             secret=False, purge=False),
        dict(path='/etc/opendmarc/ignore.hosts', state='file', content='ünïcode\n'.encode(), owner=None, group=None,
             mode=0o644, secret=False, purge=False),
        dict(path='/etc/old', state='absent', content=None, owner=None, group=None, mode=None, secret=False,
             purge=False),
        dict(path='/etc/key', state='file', content=KEY.encode(), owner=0, group=None, mode=0o600, secret=True,
             purge=False),
    ]
    assert check_entries([entry('/etc/k', state='directory', purge=True)])[0]['purge'] is True


def test_a_missing_state_is_a_file():
    assert check_entries([{'path': '/a', 'content': '', 'mode': '0644', 'state': None}])[0]['state'] == 'file'


@pytest.mark.parametrize('entries, culprit', [
    ('/etc/x', 'entries must be a list'),
    (['/etc/x'], 'entries[0] must be a dict'),
    ([entry('etc/x')], 'path must be an absolute, normalised path'),
    ([entry('/etc/x/')], 'path must be an absolute, normalised path'),
    ([entry('/etc//x')], 'path must be an absolute, normalised path'),
    ([entry('/etc/../x')], 'path must be an absolute, normalised path'),
    ([entry('/', state='directory')], 'path must be an absolute, normalised path other than /'),
    ([{'content': 'x', 'mode': '0644'}], 'path must be an absolute'),
    ([entry('/etc/x'), entry('/etc/x', state='absent')], 'entries[1] (/etc/x): the path is listed twice'),
    ([entry('/etc/x', state='link')], 'state must be one of file, directory, absent'),
    ([dict(entry('/etc/x'), content=None)], 'a file needs its content, a string'),
    ([dict(entry('/etc/x'), content=b'bytes')], 'a file needs its content, a string'),
    ([dict(entry('/etc/x', state='directory'), content='x')], 'only a file has content'),
    ([dict(entry('/etc/x', state='absent'), content='x')], 'only a file has content'),
    ([dict(entry('/etc/x', state='absent'), mode='0644', owner='root')], 'mode, owner mean nothing'.replace(
        'mode, owner', 'owner, mode')),
    ([entry('/etc/x', mode=None)], 'a file needs its mode'),
    ([entry('/etc/x', state='directory', mode=None)], 'a directory needs its mode'),
    ([entry('/etc/x', mode='u=rw')], 'give an octal string'),
    ([entry('/etc/x', mode='0644 ')], 'give an octal string'),
    ([entry('/etc/x', mode=True)], 'give an octal string'),
    ([entry('/etc/x', mode='17777')], 'out of range'),
    ([entry('/etc/x', owner='')], 'owner must be a name or a number'),
    ([entry('/etc/x', group=True)], 'group must be a name or a number'),
    ([entry('/etc/x', group=['root'])], 'group must be a name or a number'),
    ([entry('/etc/x', secret='yes')], 'secret must be true or false'),
    ([entry('/etc/x', state='directory', purge='yes')], 'purge must be true or false'),
    ([entry('/etc/x', purge=True)], 'entries[0] (/etc/x): only a directory is purged'),
    ([entry('/etc/x', state='absent', purge=True)], 'only a directory is purged'),
    ([entry('/etc/d'), entry('/etc/d/x')], '/etc/d/x: it lies below /etc/d, which is listed as file'),
    ([entry('/etc/d', state='absent'), entry('/etc/d/x')], 'it lies below /etc/d, which is listed as absent'),
    ([entry('/etc/d/e/x'), entry('/etc/d', state='absent')], '/etc/d/e/x: it lies below /etc/d'),
    ([entry('/etc/d/x'), entry('/etc/d', state='directory', mode='0755')],
     '/etc/d/x: list its directory /etc/d before it'),
])
def test_bad_entries_are_refused(entries, culprit):
    with pytest.raises(FileSetError) as caught:
        check_entries(entries)
    assert culprit in str(caught.value)


def test_every_problem_is_named_at_once():
    with pytest.raises(FileSetError) as caught:
        check_entries([entry('relative'), entry('/etc/x', mode=None), entry('/etc/y', state='absent', owner='a')])
    assert str(caught.value).count(';') == 2


def test_owner_and_group_are_resolved_and_unknown_ones_named():
    def uid_of(name):
        if name == 'nosuchuser':
            raise ValueError('owner %r: no such user' % name)
        return 7

    def gid_of(name):
        if name == 'nosuchgroup':
            raise ValueError('group %r: no such group' % name)
        return 8
    resolved = resolve_ids(check_entries([entry('/a', owner='mail', group='mail'), entry('/b')]), uid_of, gid_of)
    assert [(e['uid'], e['gid']) for e in resolved] == [(7, 8), (None, None)]
    with pytest.raises(FileSetError) as caught:
        resolve_ids(check_entries([entry('/a', owner='nosuchuser', group='nosuchgroup')]), uid_of, gid_of)
    assert str(caught.value) == "/a: owner 'nosuchuser': no such user; /a: group 'nosuchgroup': no such group"


# --- plan ---------------------------------------------------------------------------------------------------

def on_host(**paths):
    """A snapshot function over a fake host: /etc and / are directories (root, 0755)."""
    host = {'/': dict(kind='directory', uid=0, gid=0, mode=0o755, content=None),
            '/etc': dict(kind='directory', uid=0, gid=0, mode=0o755, content=None)}
    for name, state in paths.items():
        host['/etc/' + name.replace('__', '/')] = state
    return host.get


def a_file(content=b'x\n', uid=0, gid=0, mode=0o644):
    return dict(kind='file', uid=uid, gid=gid, mode=mode, content=content)


def a_directory(uid=0, gid=0, mode=0o755):
    return dict(kind='directory', uid=uid, gid=gid, mode=mode, content=None)


def steps_of(entries, snapshot):
    checked = resolve_ids(check_entries(entries), lambda name: {'root': 0, 'opendmarc': 112}[name],
                          lambda name: {'root': 0, 'opendmarc': 120}[name])
    return [(step['path'], step['action'], step['changes']) for step in plan(checked, snapshot)]


ROOT_OWNED = dict(owner='root', group='root')
PLANS = {
    'all right': ([entry('/etc/a', **ROOT_OWNED), entry('/etc/d', state='directory', mode='0755', **ROOT_OWNED)],
                  on_host(a=a_file(), d=a_directory()), []),
    'new file': ([entry('/etc/a')], on_host(), [('/etc/a', 'create', ['created'])]),
    'content': ([entry('/etc/a', 'y\n')], on_host(a=a_file()), [('/etc/a', 'write', ['content'])]),
    'trailing newline counts': ([entry('/etc/a', 'x')], on_host(a=a_file(b'x\n')), [('/etc/a', 'write', ['content'])]),
    'content and mode': ([entry('/etc/a', 'y\n', mode='0600')], on_host(a=a_file()),
                         [('/etc/a', 'write', ['content', 'mode'])]),
    'mode only': ([entry('/etc/a', mode='0640')], on_host(a=a_file()), [('/etc/a', 'attributes', ['mode'])]),
    'owner only': ([entry('/etc/a', owner='opendmarc')], on_host(a=a_file()), [('/etc/a', 'attributes', ['owner'])]),
    'group only': ([entry('/etc/a', group='opendmarc')], on_host(a=a_file()), [('/etc/a', 'attributes', ['group'])]),
    'owner not given: any owner will do': ([entry('/etc/a')], on_host(a=a_file(uid=112, gid=120)), []),
    'absent, there': ([entry('/etc/a', state='absent')], on_host(a=a_file()), [('/etc/a', 'remove', ['removed'])]),
    'absent, gone': ([entry('/etc/a', state='absent')], on_host(), []),
    'absent directory': ([entry('/etc/d', state='absent')], on_host(d=a_directory()),
                         [('/etc/d', 'remove', ['removed'])]),
    'absent link': ([entry('/etc/l', state='absent')], on_host(l=dict(a_file(), kind='link', content=None)),
                    [('/etc/l', 'remove', ['removed'])]),
    'absent in a missing directory': ([entry('/etc/nowhere/a', state='absent')], on_host(), []),
    'new directory': ([entry('/etc/d', state='directory', mode='0750')], on_host(),
                      [('/etc/d', 'create', ['created'])]),
    'directory mode and owner': ([entry('/etc/d', state='directory', mode='0750', owner='opendmarc')],
                                 on_host(d=a_directory()), [('/etc/d', 'attributes', ['owner', 'mode'])]),
    # Check mode on a fresh host: the directory is not there yet, its entry comes first.
    'file in a directory to make': ([entry('/etc/d', state='directory', mode='0755'), entry('/etc/d/a')], on_host(),
                                    [('/etc/d', 'create', ['created']), ('/etc/d/a', 'create', ['created'])]),
    'nested directories': ([entry('/etc/d', state='directory', mode='0755'),
                            entry('/etc/d/e', state='directory', mode='0700'), entry('/etc/d/e/a', mode='0600')],
                           on_host(d=a_directory()),
                           [('/etc/d/e', 'create', ['created']), ('/etc/d/e/a', 'create', ['created'])]),
    'order is kept': ([entry('/etc/b', 'b'), entry('/etc/a', state='absent'), entry('/etc/c', 'c')],
                      on_host(a=a_file(), b=a_file(), c=a_file()),
                      [('/etc/b', 'write', ['content']), ('/etc/a', 'remove', ['removed']),
                       ('/etc/c', 'write', ['content'])]),
}


@pytest.mark.parametrize('entries, snapshot, expected', PLANS.values(), ids=PLANS.keys())
def test_plan(entries, snapshot, expected):
    assert steps_of(entries, snapshot) == expected


KEYS = dict(keys=a_directory(mode=0o700), keys__a=a_file(b'key a'), keys__b=a_file(b'key b'),
            keys__sub=a_directory(), keys__link=dict(a_file(), kind='link', content=None))
PURGES = {
    'unlisted files go, after the rest': (
        [entry('/etc/keys', state='directory', mode='0700', purge=True), entry('/etc/keys/a', 'key a'),
         entry('/etc/keys/c', 'key c')], on_host(**KEYS), ['a', 'b', 'c', 'sub', 'link'],
        [('/etc/keys/c', 'create', ['created']), ('/etc/keys/b', 'remove', ['removed'])]),
    'hidden files too': (
        [entry('/etc/keys', state='directory', mode='0700', purge=True)],
        on_host(keys=a_directory(mode=0o700), **{'keys__.a.key.x1y2': a_file()}), ['.a.key.x1y2'],
        [('/etc/keys/.a.key.x1y2', 'remove', ['removed'])]),
    'without purge nothing goes': (
        [entry('/etc/keys', state='directory', mode='0700'), entry('/etc/keys/a', 'key a')], on_host(**KEYS),
        ['a', 'b', 'sub', 'link'], []),
    'an absent entry is not removed twice': (
        [entry('/etc/keys', state='directory', mode='0700', purge=True), entry('/etc/keys/b', state='absent', secret=True)],
        on_host(**KEYS), ['a', 'b'], [('/etc/keys/b', 'remove', ['removed']), ('/etc/keys/a', 'remove', ['removed'])]),
    'a directory still to make': (
        [entry('/etc/keys', state='directory', mode='0700', purge=True), entry('/etc/keys/a', 'key a')], on_host(),
        [], [('/etc/keys', 'create', ['created']), ('/etc/keys/a', 'create', ['created'])]),
}


@pytest.mark.parametrize('entries, snapshot, names, expected', PURGES.values(), ids=PURGES.keys())
def test_purge(entries, snapshot, names, expected):
    checked = resolve_ids(check_entries(entries), int, int)
    listed = []

    def listing(path):
        listed.append(path)
        return names
    steps = plan(checked, snapshot, listing)
    assert [(step['path'], step['action'], step['changes']) for step in steps] == expected
    assert listed == ([] if not any(e.get('purge') for e in entries) else ['/etc/keys'])
    # A purged file's content is never shown.
    assert 'key b' not in json.dumps(diffs(steps))


@pytest.mark.parametrize('entries, snapshot, culprit', [
    ([entry('/etc/d/a')], on_host(), '/etc/d/a (file): its directory /etc/d does not exist'),
    ([entry('/etc/d/a')], on_host(d=a_file()), 'its directory /etc/d does not exist'),
    ([entry('/etc/d', state='directory', mode='0755')], on_host(d=a_file()), '/etc/d (directory): /etc/d is a file'),
    ([entry('/etc/a')], on_host(a=a_directory()), '/etc/a (file): /etc/a is a directory'),
    ([entry('/etc/a')], on_host(a=dict(a_file(), kind='link', content=None)),
     '/etc/a is a symbolic link; the module neither follows nor replaces it'),
    ([entry('/etc/a', state='directory', mode='0755')], on_host(a=dict(a_file(), kind='link', content=None)),
     'is a symbolic link'),
    ([entry('/etc/a')], on_host(a=dict(a_file(), kind='other', content=None)), '/etc/a is a special file'),
])
def test_impossible_plans_are_refused(entries, snapshot, culprit):
    with pytest.raises(FileSetError) as caught:
        steps_of(entries, snapshot)
    assert culprit in str(caught.value)


def test_check_mode_takes_a_missing_directory_to_be_made_before_the_real_run():
    # A fresh host in check mode: the package that makes /etc/dkimpy-milter was not installed.
    entries = resolve_ids(check_entries([entry('/etc/dkimpy-milter/keys', state='directory', mode='0700', purge=True),
                                         entry('/etc/dkimpy-milter/keys/a.key', 'key', mode='0600'),
                                         entry('/etc/dkimpy-milter/KeyTable'), entry('/etc/mailname')]), int, int)
    steps = plan(entries, on_host(), lambda path: [], check_mode=True)
    assert [(step['path'], step['action'], step.get('assumes')) for step in steps] == [
        ('/etc/dkimpy-milter/keys', 'create', '/etc/dkimpy-milter'),
        ('/etc/dkimpy-milter/keys/a.key', 'create', None),
        ('/etc/dkimpy-milter/KeyTable', 'create', '/etc/dkimpy-milter'),
        ('/etc/mailname', 'create', None)]
    with pytest.raises(FileSetError) as caught:
        plan(entries, on_host(), lambda path: [])
    assert 'its directory /etc/dkimpy-milter does not exist' in str(caught.value)
    # A file where the directory should be is refused in check mode too.
    with pytest.raises(FileSetError):
        plan(entries, on_host(**{'dkimpy-milter': a_file()}), lambda path: [], check_mode=True)


def test_a_refused_plan_names_every_problem():
    with pytest.raises(FileSetError) as caught:
        steps_of([entry('/etc/ok', 'changed'), entry('/etc/d/a'), entry('/etc/e/b')], on_host(ok=a_file()))
    assert '/etc/d/a' in str(caught.value) and '/etc/e/b' in str(caught.value)


# --- diffs --------------------------------------------------------------------------------------------------

def diffs_of(entries, snapshot):
    checked = resolve_ids(check_entries(entries), int, int)
    return diffs(plan(checked, snapshot))


def test_diff_of_a_changed_file_shows_the_text():
    assert diffs_of([entry('/etc/a', 'new\n')], on_host(a=a_file(b'old\n'))) == [
        dict(before_header='/etc/a', after_header='/etc/a', before='old\n', after='new\n')]


def test_diff_of_a_new_file_shows_its_text_and_attributes():
    assert diffs_of([entry('/etc/a', 'new\n', owner='0', group='0', mode='0640')], on_host()) == [
        dict(before_header='/etc/a', after_header='/etc/a', before='', after='new\n'),
        dict(before_header='/etc/a (attributes)', after_header='/etc/a (attributes)',
             before={'path': '/etc/a', 'state': 'absent'},
             after={'path': '/etc/a', 'state': 'file', 'owner': 0, 'group': 0, 'mode': '0640'})]


def test_diff_of_attributes_only():
    assert diffs_of([entry('/etc/a', mode='0600', owner='112')], on_host(a=a_file())) == [
        dict(before_header='/etc/a (attributes)', after_header='/etc/a (attributes)',
             before={'path': '/etc/a', 'state': 'file', 'owner': 0, 'group': 0, 'mode': '0644'},
             after={'path': '/etc/a', 'state': 'file', 'owner': 112, 'group': 0, 'mode': '0600'})]


def test_diff_of_a_removed_file_and_directory():
    assert diffs_of([entry('/etc/a', state='absent'), entry('/etc/d', state='absent')],
                    on_host(a=a_file(b'gone\n'), d=a_directory())) == [
        dict(before_header='/etc/a', after_header='/etc/a', before='gone\n', after=''),
        dict(before_header='/etc/a (attributes)', after_header='/etc/a (attributes)',
             before={'path': '/etc/a', 'state': 'file', 'owner': 0, 'group': 0, 'mode': '0644'},
             after={'path': '/etc/a', 'state': 'absent'}),
        dict(before_header='/etc/d (attributes)', after_header='/etc/d (attributes)',
             before={'path': '/etc/d', 'state': 'directory', 'owner': 0, 'group': 0, 'mode': '0755'},
             after={'path': '/etc/d', 'state': 'absent'})]


OLD_KEY = KEY.replace('MIIE', 'OLDK').encode()


@pytest.mark.parametrize('entries, snapshot', [
    ([entry('/etc/k', KEY, mode='0600', secret=True)], on_host(k=a_file(OLD_KEY, mode=0o600))),
    ([entry('/etc/k', KEY, mode='0600', secret=True)], on_host()),
    ([entry('/etc/k', KEY, mode='0640', secret=True)], on_host(k=a_file(OLD_KEY))),
    ([entry('/etc/k', state='absent', secret=True)], on_host(k=a_file(OLD_KEY))),
])
def test_diff_of_a_secret_never_shows_its_content(entries, snapshot):
    found = diffs_of(entries, snapshot)
    assert found
    text = json.dumps(found)
    for secret in (KEY, OLD_KEY.decode()):
        for line in secret.splitlines():
            assert line not in text
    assert file_set.SECRET_TEXT.strip() in text


def test_diff_of_a_changed_secret_shows_that_it_changed():
    [found] = diffs_of([entry('/etc/k', KEY, mode='0644', secret=True)], on_host(k=a_file(OLD_KEY)))
    assert found['before'] != found['after']
    assert 'changed' in found['after']


@pytest.mark.parametrize('old', [b'\x00\x01binary', b'\xff\xfe latin-1 \xe9'])
def test_diff_of_content_that_is_not_text(old):
    [found] = diffs_of([entry('/etc/a', 'text\n')], on_host(a=a_file(old)))
    assert found['before'] == '(binary content, %d bytes)\n' % len(old)


# --- the module on a real directory -------------------------------------------------------------------------

def attributes(path):
    found = os.lstat(path)
    return found.st_uid, found.st_gid, stat.S_IMODE(found.st_mode)


def mine(values):
    return dict(values, owner=OWNER, group=GROUP)


def test_a_set_is_written(tmp_path):
    d, a, b = tmp_path / 'd', tmp_path / 'd' / 'a', tmp_path / 'b'
    result = converge([mine(entry(str(d), state='directory', mode='0750')),
                       mine(entry(str(a), 'alpha\n', mode='0640')),
                       mine(entry(str(b), 'beta\n', mode='0600', secret=True))])
    assert result['changed'] is True
    assert result['changed_paths'] == [str(d), str(a), str(b)]
    assert result['changes'] == [dict(path=str(p), changes=['created']) for p in (d, a, b)]
    assert (a.read_text(), b.read_text()) == ('alpha\n', 'beta\n')
    assert [attributes(p)[2] for p in (d, a, b)] == [0o750, 0o640, 0o600]
    assert sorted(os.listdir(tmp_path)) == ['b', 'd'] and os.listdir(d) == ['a']


def test_nothing_to_do_touches_nothing(tmp_path):
    path = tmp_path / 'a'
    path.write_text('alpha\n')
    os.chmod(path, 0o644)
    os.utime(path, (1000, 1000))
    before = os.stat(path)
    result = converge([mine(entry(str(path), 'alpha\n'))])
    assert (result['changed'], result['changed_paths'], result['diff']) == (False, [], [])
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime, after.st_ctime) == (before.st_ino, before.st_mtime, before.st_ctime)


def test_new_content_replaces_the_file_by_a_rename(tmp_path):
    path = tmp_path / 'a'
    path.write_text('old\n')
    os.chmod(path, 0o644)
    os.utime(path, (1000, 1000))
    inode = os.stat(path).st_ino
    result = converge([mine(entry(str(path), 'new\n'))])
    assert result['changes'] == [dict(path=str(path), changes=['content'])]
    assert path.read_text() == 'new\n'
    assert os.stat(path).st_ino != inode
    # service_sync sees the new file as newer than the service's last start.
    assert os.stat(path).st_mtime > 1000
    assert os.listdir(tmp_path) == ['a']


def test_a_mode_change_keeps_the_content_and_its_time(tmp_path):
    path = tmp_path / 'a'
    path.write_text('same\n')
    os.chmod(path, 0o644)
    os.utime(path, (1000, 1000))
    inode = os.stat(path).st_ino
    result = converge([mine(entry(str(path), 'same\n', mode='0600'))])
    assert result['changes'] == [dict(path=str(path), changes=['mode'])]
    assert (os.stat(path).st_ino, os.stat(path).st_mtime, attributes(path)[2]) == (inode, 1000, 0o600)


def test_a_directory_mode_change(tmp_path):
    path = tmp_path / 'd'
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)
    result = converge([mine(entry(str(path), state='directory', mode='2750'))])
    assert result['changes'] == [dict(path=str(path), changes=['mode'])]
    assert attributes(path)[2] == 0o2750


@pytest.mark.skipif(not ROOT, reason='changing owners needs root')
def test_owner_and_group_are_set_on_new_and_existing_paths(tmp_path):
    existing, new, directory = tmp_path / 'existing', tmp_path / 'new', tmp_path / 'd'
    existing.write_text('same\n')
    os.chmod(existing, 0o644)
    nobody, nogroup = pwd.getpwnam('nobody').pw_uid, grp.getgrgid(pwd.getpwnam('nobody').pw_gid).gr_name
    spec = [entry(str(existing), 'same\n', owner='nobody', group=nogroup),
            entry(str(new), 'new\n', owner='nobody', group=nogroup, mode='0600'),
            entry(str(directory), state='directory', mode='0750', owner='nobody', group=nogroup)]
    result = converge(spec)
    assert result['changes'] == [dict(path=str(existing), changes=['owner', 'group']),
                                 dict(path=str(new), changes=['created']),
                                 dict(path=str(directory), changes=['created'])]
    gid = grp.getgrnam(nogroup).gr_gid
    assert [attributes(p) for p in (existing, new, directory)] == [(nobody, gid, 0o644), (nobody, gid, 0o600),
                                                                  (nobody, gid, 0o750)]
    assert converge(spec)['changed'] is False


@pytest.mark.skipif(not ROOT, reason='changing owners needs root')
def test_a_file_without_owner_keeps_its_owner_when_rewritten(tmp_path):
    path = tmp_path / 'a'
    path.write_text('old\n')
    os.chown(path, pwd.getpwnam('nobody').pw_uid, -1)
    os.chmod(path, 0o644)
    converge([entry(str(path), 'new\n')])
    assert (path.read_text(), os.stat(path).st_uid) == ('new\n', pwd.getpwnam('nobody').pw_uid)


def test_absent_removes_files_links_and_directories(tmp_path):
    (tmp_path / 'a').write_text('x')
    (tmp_path / 'd' / 'e').mkdir(parents=True)
    (tmp_path / 'd' / 'e' / 'f').write_text('x')
    os.symlink('/etc/passwd', tmp_path / 'l')
    result = converge([entry(str(tmp_path / name), state='absent') for name in ('a', 'd', 'l', 'never')])
    assert result['changed_paths'] == [str(tmp_path / name) for name in ('a', 'd', 'l')]
    assert os.listdir(tmp_path) == []
    assert os.path.exists('/etc/passwd')
    assert converge([entry(str(tmp_path / name), state='absent') for name in ('a', 'd', 'l')])['changed'] is False


def test_purge_removes_unlisted_files_only(tmp_path):
    keys = tmp_path / 'keys'
    (keys / 'sub').mkdir(parents=True)
    for name in ('a.key', 'retired.key', '.a.key.tmp123', 'sub/kept'):
        (keys / name).write_text('PRIVATE ' + name)
    os.symlink(tmp_path / 'elsewhere', keys / 'link')
    (tmp_path / 'elsewhere').write_text('kept')
    spec = [mine(entry(str(keys), state='directory', mode='0700', purge=True)),
            mine(entry(str(keys / 'a.key'), 'PRIVATE a.key', mode='0600', secret=True))]
    checked = converge(spec, check_mode=True)
    assert sorted(os.listdir(keys)) == ['.a.key.tmp123', 'a.key', 'link', 'retired.key', 'sub']
    result = converge(spec)
    assert result == checked
    assert result['changed_paths'] == [str(keys), str(keys / 'a.key'), str(keys / '.a.key.tmp123'),
                                       str(keys / 'retired.key')]
    assert sorted(os.listdir(keys)) == ['a.key', 'link', 'sub']
    assert (keys / 'sub' / 'kept').exists() and (tmp_path / 'elsewhere').exists()
    assert 'PRIVATE' not in json.dumps(result)
    assert converge(spec)['changed'] is False


def wanted(tmp_path):
    return [mine(entry(str(tmp_path / 'd'), state='directory', mode='0755')),
            mine(entry(str(tmp_path / 'd' / 'a'), 'alpha\n')),
            mine(entry(str(tmp_path / 'b'), 'beta\n', mode='0600')),
            mine(entry(str(tmp_path / 'k'), KEY, mode='0600', secret=True)),
            entry(str(tmp_path / 'old'), state='absent')]


def tree(directory):
    found = {}
    for parent, dirs, names in os.walk(directory):
        for name in dirs + names:
            path = os.path.join(parent, name)
            found[path] = (os.lstat(path).st_ino, attributes(path),
                           open(path, 'rb').read() if os.path.isfile(path) else None)
    return found


@pytest.mark.parametrize('setup', ['fresh', 'partly there'])
def test_check_mode_writes_nothing_and_reports_what_a_run_changes(tmp_path, setup):
    if setup == 'partly there':
        (tmp_path / 'd').mkdir()
        os.chmod(tmp_path / 'd', 0o700)
        (tmp_path / 'b').write_text('beta\n')
        os.chmod(tmp_path / 'b', 0o600)
        (tmp_path / 'old').write_text('x')
        (tmp_path / 'k').write_text('old key')
    before = tree(tmp_path)
    checked = converge(wanted(tmp_path), check_mode=True)
    assert tree(tmp_path) == before
    applied = converge(wanted(tmp_path))
    assert checked == applied
    assert checked['changed'] is True


def test_check_mode_on_a_fresh_host_reports_the_directories_it_assumes(tmp_path):
    spec = [mine(entry(str(tmp_path / 'pkg' / 'keys'), state='directory', mode='0700', purge=True)),
            mine(entry(str(tmp_path / 'pkg' / 'keys' / 'a.key'), KEY, mode='0600', secret=True)),
            mine(entry(str(tmp_path / 'pkg' / 'KeyTable'), 'table\n'))]
    result = converge(spec, check_mode=True)
    assert result['assumed_directories'] == [str(tmp_path / 'pkg')]
    assert result['changed_paths'] == [e['path'] for e in spec]
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileSetError):
        converge(spec)
    assert os.listdir(tmp_path) == []
    (tmp_path / 'pkg').mkdir()
    applied = converge(spec)
    assert (applied['changed_paths'], applied['assumed_directories']) == (result['changed_paths'], [])


def test_secret_content_is_in_neither_the_result_nor_the_diff(tmp_path):
    (tmp_path / 'k').write_text(OLD_KEY.decode())
    result = converge([mine(entry(str(tmp_path / 'k'), KEY, mode='0600', secret=True))])
    text = json.dumps(result)
    for secret in (KEY, OLD_KEY.decode()):
        for line in secret.splitlines():
            assert line not in text
    assert result['changes'] == [dict(path=str(tmp_path / 'k'), changes=['content', 'mode'])]
    assert (tmp_path / 'k').read_text() == KEY


@pytest.mark.parametrize('bad', [
    lambda tmp: entry(str(tmp / 'missing' / 'a')),
    lambda tmp: entry(str(tmp / 'c'), owner='nosuchuser-mailforge'),
    lambda tmp: entry(str(tmp / 'c'), group='nosuchgroup-mailforge'),
    lambda tmp: entry(str(tmp / 'c'), mode='rw'),
    lambda tmp: entry(str(tmp / 'link')),
])
def test_one_bad_entry_and_nothing_is_written(tmp_path, bad):
    os.symlink(tmp_path / 'elsewhere', tmp_path / 'link')
    (tmp_path / 'b').write_text('old\n')
    before = tree(tmp_path)
    with pytest.raises((FileSetError, ValueError)):
        converge([mine(entry(str(tmp_path / 'a'), 'new')), mine(entry(str(tmp_path / 'b'), 'new\n')),
                  bad(tmp_path)])
    assert tree(tmp_path) == before
    assert not (tmp_path / 'elsewhere').exists()


def test_a_failed_write_names_what_changed_before_it_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    real_rename = os.rename

    def rename(src, dst):
        if dst.endswith('/b'):
            raise OSError(28, 'No space left on device')
        real_rename(src, dst)
    monkeypatch.setattr(os, 'rename', rename)
    (tmp_path / 'b').write_text('old\n')
    with pytest.raises(PartlyApplied) as caught:
        converge([mine(entry(str(tmp_path / 'a'), 'new\n')), mine(entry(str(tmp_path / 'b'), 'new\n')),
                  mine(entry(str(tmp_path / 'c'), 'new\n'))])
    assert caught.value.done == [str(tmp_path / 'a')]
    assert str(caught.value).startswith(str(tmp_path / 'b') + ': ')
    assert sorted(os.listdir(tmp_path)) == ['a', 'b']
    assert (tmp_path / 'b').read_text() == 'old\n'


# --- main ---------------------------------------------------------------------------------------------------

class _Exit(Exception):
    pass


class _Module:
    """Just enough AnsibleModule for file_set.main."""

    def __init__(self, entries, check_mode=False, diff=False):
        self.params = dict(entries=entries)
        self.check_mode = check_mode
        self._diff = diff
        self.no_log_values = set()

    def __call__(self, **_spec):
        return self

    def exit_json(self, **result):
        raise _Exit(result)

    def fail_json(self, **result):
        raise _Exit(dict(result, failed=True))


def run_main(monkeypatch, entries, **options):
    module = _Module(entries, **options)
    monkeypatch.setattr(file_set_module, 'AnsibleModule', module)
    with pytest.raises(_Exit) as caught:
        file_set_module.main()
    return module, caught.value.args[0]


@pytest.mark.parametrize('diff', [False, True])
def test_main_returns_the_diff_only_when_asked(tmp_path, monkeypatch, diff):
    _module, result = run_main(monkeypatch, [mine(entry(str(tmp_path / 'a'), 'alpha\n'))], diff=diff)
    assert result['changed_paths'] == [str(tmp_path / 'a')]
    assert ('diff' in result) is diff


def test_main_masks_secret_content(tmp_path, monkeypatch):
    module, _result = run_main(monkeypatch, [mine(entry(str(tmp_path / 'k'), KEY, mode='0600', secret=True)),
                                             mine(entry(str(tmp_path / 'a'), 'public\n'))])
    assert module.no_log_values == {KEY}


def test_main_fails_on_bad_entries_and_after_a_partial_write(tmp_path, monkeypatch):
    _module, result = run_main(monkeypatch, [entry('relative')])
    assert result['failed'] and 'path must be an absolute' in result['msg']
    real_rename = os.rename
    monkeypatch.setattr(os, 'rename', lambda src, dst: (
        real_rename(src, dst) if not dst.endswith('/b') else (_ for _ in ()).throw(OSError(13, 'Permission denied'))))
    _module, result = run_main(monkeypatch, [mine(entry(str(tmp_path / 'a'), 'a')),
                                             mine(entry(str(tmp_path / 'b'), 'b'))])
    assert result['failed'] and result['changed'] is True
    assert result['changed_paths'] == [str(tmp_path / 'a')]
    assert 'changed before it: %s' % (tmp_path / 'a') in result['msg']
