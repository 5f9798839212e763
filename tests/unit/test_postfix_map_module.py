import grp
import os
import pwd
import stat

import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf, Postmap
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import StagedValidationError
from ansible_collections.mailforge.postfix.plugins.modules.postfix_map import (
    PartlyInstalled, converge, converge_tables, tables_of)
from fakes import CIDR_STDERR, PCRE_STDERR, FakeRun

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
SUFFIXES = {'hash': '.db', 'btree': '.db', 'lmdb': '.lmdb', 'cdb': '.cdb'}
VIRTUAL_TEXT = '# managed\nabuse@example.org root\npostmaster@example.org root\n'


class FakePostmap:
    """postmap: "builds" an index next to the source; -q answers ``probe_stderr``."""

    def __init__(self, probe_stderr='', default_type='hash'):
        self.probe_stderr = probe_stderr
        self.default_type = default_type

    def __call__(self, argv):
        if argv[0] == 'postconf':
            return 0, self.default_type + '\n', ''
        if argv[3] == '-q':
            path = argv[5].split(':', 1)[1]
            return 1, '', self.probe_stderr.format(path=path)
        map_type, path = argv[3].split(':', 1)
        with open(path, 'rb') as source, open(path + SUFFIXES[map_type], 'wb') as index:
            index.write(b'INDEX:' + source.read())
        return None


def params(path, **overrides):
    values = dict(path=str(path), type='hash', entries={'postmaster@example.org': 'root', 'abuse@example.org': 'root'},
                  rules=None, owner=OWNER, group=GROUP, mode='0644', hide_values=False, header='managed')
    values.update(overrides)
    return values


def run_converge(run, values, check_mode=False):
    return converge(values, Postmap(run, 'postmap', '/etc/postfix'), Postconf(run, 'postconf', '/etc/postfix'),
                    check_mode)


def install_virtual(tmp_path, index_age=0):
    source, index = tmp_path / 'virtual', tmp_path / 'virtual.db'
    source.write_text(VIRTUAL_TEXT)
    index.write_bytes(b'INDEX:' + VIRTUAL_TEXT.encode())
    for path in (source, index):
        os.chmod(path, 0o644)
    mtime = os.path.getmtime(source)
    os.utime(index, (mtime - index_age, mtime - index_age))
    return source, index


def test_nothing_to_do_runs_nothing(tmp_path):
    install_virtual(tmp_path)
    run = FakeRun(FakePostmap())
    result = run_converge(run, params(tmp_path / 'virtual'))
    assert result['changed'] is False
    assert result['rebuilt'] is False
    assert (result['added_keys'], result['removed_keys'], result['changed_keys']) == ([], [], [])
    assert run.calls == []


@pytest.mark.parametrize('map_type', ['hash', 'btree', 'lmdb', 'cdb'])
def test_new_indexed_table_is_built_and_installed(tmp_path, map_type):
    run = FakeRun(FakePostmap())
    result = run_converge(run, params(tmp_path / 'virtual', type=map_type))
    assert result['changed'] is True
    assert result['rebuilt'] is True
    assert result['map_ref'] == '%s:%s/virtual' % (map_type, tmp_path)
    assert result['added_keys'] == ['abuse@example.org', 'postmaster@example.org']
    [argv] = run.calls
    assert argv[:3] == ['postmap', '-c', '/etc/postfix']
    staged = argv[3].split(':', 1)[1]
    assert argv[3].startswith(map_type + ':')
    # staged in a private directory next to the live file, so that rename is atomic
    assert os.path.dirname(os.path.dirname(staged)) == str(tmp_path)
    assert os.path.basename(staged) == 'virtual'
    assert run.environments == [{'LC_ALL': 'C'}]
    assert sorted(os.listdir(tmp_path)) == sorted(['virtual', 'virtual' + SUFFIXES[map_type]])
    assert (tmp_path / 'virtual').read_text() == VIRTUAL_TEXT
    assert (tmp_path / ('virtual' + SUFFIXES[map_type])).read_bytes() == b'INDEX:' + VIRTUAL_TEXT.encode()


def test_index_is_renamed_into_place_before_the_source(tmp_path, monkeypatch):
    renamed = []
    real_rename = os.rename
    monkeypatch.setattr(os, 'rename', lambda src, dst: (renamed.append(os.path.basename(dst)), real_rename(src, dst)))
    run_converge(FakeRun(FakePostmap()), params(tmp_path / 'virtual', type='lmdb'))
    assert renamed == ['virtual.lmdb', 'virtual']


@pytest.mark.parametrize('setup', ['missing index', 'stale index'])
def test_index_is_rebuilt_when_missing_or_stale(tmp_path, setup):
    source, index = install_virtual(tmp_path, index_age=10)
    if setup == 'missing index':
        index.unlink()
    run = FakeRun(FakePostmap())
    result = run_converge(run, params(source))
    assert (result['changed'], result['rebuilt']) == (True, True)
    assert len(run.calls) == 1
    assert os.path.getmtime(index) >= os.path.getmtime(source)


def test_default_type_is_read_from_postconf(tmp_path):
    run = FakeRun(FakePostmap(default_type='lmdb'))
    result = run_converge(run, params(tmp_path / 'virtual', type=None))
    assert run.calls[0] == ['postconf', '-c', '/etc/postfix', '-h', 'default_database_type']
    assert run.calls[1][3].startswith('lmdb:')
    assert (result['type'], result['map_ref']) == ('lmdb', 'lmdb:%s/virtual' % tmp_path)
    assert (tmp_path / 'virtual.lmdb').exists()


def test_changed_entries_report_keys(tmp_path):
    source, _index = install_virtual(tmp_path)
    run = FakeRun(FakePostmap())
    result = run_converge(run, params(source, entries={'abuse@example.org': 'admin', 'new@example.org': 'x'}))
    assert (result['added_keys'], result['removed_keys'], result['changed_keys']) == (
        ['new@example.org'], ['postmaster@example.org'], ['abuse@example.org'])
    assert source.read_text() == '# managed\nabuse@example.org admin\nnew@example.org x\n'
    assert result['diff']['before'] == VIRTUAL_TEXT


def test_hide_values_masks_the_diff(tmp_path):
    source, _index = install_virtual(tmp_path)
    run = FakeRun(FakePostmap())
    result = run_converge(run, params(source, hide_values=True, entries={'abuse@example.org': 's3cret'}))
    assert result['diff']['before'] == 'abuse@example.org <hidden, changed>\npostmaster@example.org <hidden>\n'
    assert result['diff']['after'] == 'abuse@example.org <hidden, changed>\n'
    assert 's3cret' not in repr(result)


def test_check_mode_builds_elsewhere_and_writes_nothing(tmp_path):
    source, index = install_virtual(tmp_path)
    before = (source.read_bytes(), index.read_bytes())
    run = FakeRun(FakePostmap())
    result = run_converge(run, params(source, entries={'abuse@example.org': 'admin'}), check_mode=True)
    assert (result['changed'], result['rebuilt']) == (True, True)
    staged = run.calls[0][3].split(':', 1)[1]
    assert not staged.startswith(str(tmp_path))
    assert (source.read_bytes(), index.read_bytes()) == before
    assert sorted(os.listdir(tmp_path)) == ['virtual', 'virtual.db']


def test_attributes_alone_are_fixed_without_postmap(tmp_path):
    source, index = install_virtual(tmp_path)
    run = FakeRun(FakePostmap())
    result = run_converge(run, params(source, mode='0600'))
    assert (result['changed'], result['rebuilt']) == (True, False)
    assert run.calls == []
    assert [stat.S_IMODE(os.stat(p).st_mode) for p in (source, index)] == [0o600, 0o600]


def test_new_files_get_the_requested_mode(tmp_path):
    run = FakeRun(FakePostmap())
    run_converge(run, params(tmp_path / 'sasl_passwd', mode='0600', entries={'[relay]:587': 'u:p'}))
    modes = [stat.S_IMODE(os.stat(tmp_path / name).st_mode) for name in ('sasl_passwd', 'sasl_passwd.db')]
    assert modes == [0o600, 0o600]


@pytest.mark.parametrize('map_type', ['regexp', 'pcre'])
def test_rule_table_is_probed_and_errors_name_the_rule(tmp_path, map_type):
    live = tmp_path / 'header_checks'
    live.write_text('# old\n/^Subject: x/ REJECT\n')
    run = FakeRun(FakePostmap(probe_stderr=PCRE_STDERR))
    rules = [{'pattern': '/^Subject: good/', 'action': 'REJECT ok'},
             {'pattern': '/^Subject: (bad/', 'action': 'REJECT unbalanced'}]
    with pytest.raises(StagedValidationError) as caught:
        run_converge(run, params(live, type=map_type, entries=None, rules=rules))
    assert 'rule 2 (/^Subject: (bad/): error in regex' in str(caught.value)
    assert run.calls[0][3:5] == ['-q', Postmap.PROBE]
    assert run.calls[0][5].startswith(map_type + ':')
    assert live.read_text() == '# old\n/^Subject: x/ REJECT\n'
    assert os.listdir(tmp_path) == ['header_checks']


def test_rule_table_without_warnings_is_written_without_index(tmp_path):
    run = FakeRun(FakePostmap())
    rules = [{'pattern': '/^Subject: good/', 'action': 'REJECT ok'}]
    result = run_converge(run, params(tmp_path / 'header_checks', type='regexp', entries=None, rules=rules))
    assert (result['changed'], result['rebuilt']) == (True, False)
    assert result['added_keys'] == ['/^Subject: good/']
    assert os.listdir(tmp_path) == ['header_checks']
    assert (tmp_path / 'header_checks').read_text() == '# managed\n/^Subject: good/ REJECT ok\n'


# Milter chains per client network (role milters): values with braces and commas, first match wins.
CIDR_ENTRIES = [{'key': '127.0.0.0/8', 'value': 'unix:/a, { unix:/b, default_action=accept }'},
                {'key': '::1/128', 'value': 'DISABLE'}]


def test_cidr_table_is_probed_and_written_in_order_without_index(tmp_path):
    run = FakeRun(FakePostmap())
    result = run_converge(run, params(tmp_path / 'milters.cidr', type='cidr', entries=CIDR_ENTRIES))
    assert (result['changed'], result['rebuilt'], result['map_ref']) == (True, False, 'cidr:%s/milters.cidr' % tmp_path)
    assert run.calls[0][3:5] == ['-q', Postmap.PROBE] and run.calls[0][5].startswith('cidr:')
    assert os.listdir(tmp_path) == ['milters.cidr']
    assert (tmp_path / 'milters.cidr').read_text() == (
        '# managed\n127.0.0.0/8 unix:/a, { unix:/b, default_action=accept }\n::1/128 DISABLE\n')


def test_a_cidr_entry_postfix_would_skip_is_named(tmp_path):
    run = FakeRun(FakePostmap(probe_stderr=CIDR_STDERR))
    entries = [CIDR_ENTRIES[0], {'key': '198.18.0.17/28', 'value': 'DISABLE'}]
    with pytest.raises(StagedValidationError) as caught:
        run_converge(run, params(tmp_path / 'milters.cidr', type='cidr', entries=entries))
    assert 'entry 2 (198.18.0.17/28): non-null host address bits' in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_bad_input_fails_before_any_command(tmp_path):
    run = FakeRun(FakePostmap())
    with pytest.raises(ValueError, match="'a' is listed twice"):
        run_converge(run, params(tmp_path / 'virtual',
                                 entries=[{'key': 'a', 'value': '1'}, {'key': 'a', 'value': '2'}]))
    assert run.calls == []
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('mode', ['rw-r--r--', 'u=rw', '0999', True])
def test_bad_mode_is_refused(tmp_path, mode):
    with pytest.raises(ValueError, match='mode'):
        run_converge(FakeRun(FakePostmap()), params(tmp_path / 'virtual', mode=mode))


# --- several tables in one call (maps) ------------------------------------------------------------------------

TASK_DEFAULTS = dict(path=None, entries=None, rules=None, maps=None, type=None, actions=None, owner='root',
                     group='root', mode='0644', hide_values=False, header='managed')


def task(maps, **overrides):
    values = dict(TASK_DEFAULTS, maps=maps)
    values.update(overrides)
    return values


def item(path, **given):
    """A table of O(maps) as Ansible passes it: every suboption present, None where not given."""
    values = dict(path=str(path), type=None, entries=None, rules=None, actions=None, owner=None, group=None,
                  mode=None, hide_values=None, header=None)
    values.update(given)
    return values


# (task's settings, the table's own, what the table ends up with)
INHERITANCE = {
    'everything from the task': (
        dict(type='lmdb', owner='postfix', group='postfix', mode='0640', hide_values=True, header='h',
             actions=['OK']),
        dict(),
        dict(type='lmdb', owner='postfix', group='postfix', mode='0640', hide_values=True, header='h',
             actions=['OK'])),
    'the table wins': (
        dict(type='lmdb', owner='postfix', mode='0640', hide_values=True, header='h'),
        dict(type='cidr', owner='root', mode='0600', hide_values=False, header=''),
        dict(type='cidr', owner='root', group='root', mode='0600', hide_values=False, header='')),
    'task defaults': (
        dict(),
        dict(),
        dict(type=None, owner='root', group='root', mode='0644', hide_values=False, header='managed', actions=None)),
}


@pytest.mark.parametrize('task_settings, own, expected', INHERITANCE.values(), ids=INHERITANCE.keys())
def test_a_table_takes_from_the_task_what_it_does_not_give(task_settings, own, expected):
    [table] = tables_of(task([item('/etc/postfix/t', entries={'a': 'b'}, **own)], **task_settings))
    assert {name: table[name] for name in expected} == expected
    assert (table['path'], table['entries']) == ('/etc/postfix/t', {'a': 'b'})


def test_a_single_table_is_the_task_itself():
    values = params('/etc/postfix/virtual')
    assert tables_of(values) == [values]


# (maps, the error)
BAD_MAPS = {
    'a path twice': ([item('/etc/postfix/t', entries={'a': 'b'}), item('/etc/postfix/t', entries={'c': 'd'})],
                     r'maps\[1\]: /etc/postfix/t is listed twice'),
    'entries and rules': ([item('/etc/postfix/t', type='pcre', entries={'a': 'b'},
                                rules=[{'pattern': '/x/', 'action': 'REJECT'}])],
                          r'maps\[0\] \(/etc/postfix/t\): give entries or rules, not both'),
}


@pytest.mark.parametrize('maps, error', BAD_MAPS.values(), ids=BAD_MAPS.keys())
def test_bad_maps_are_refused(maps, error):
    with pytest.raises(ValueError, match=error):
        tables_of(task(maps))


def converge_maps(run, maps, check_mode=False, **overrides):
    return converge_tables(tables_of(task(maps, owner=OWNER, group=GROUP, **overrides)),
                           Postmap(run, 'postmap', '/etc/postfix'), Postconf(run, 'postconf', '/etc/postfix'),
                           check_mode, name_tables=True)


def test_several_tables_in_one_call_each_with_its_result(tmp_path):
    source, _index = install_virtual(tmp_path)
    run = FakeRun(FakePostmap())
    results = converge_maps(run, [
        item(source, entries={'postmaster@example.org': 'root', 'abuse@example.org': 'root'}),
        item(tmp_path / 'transport', entries={'example.org': 'relay:[mx.example.org]'}),
        item(tmp_path / 'header_checks', type='pcre', rules=[{'pattern': '/^Subject: x/', 'action': 'REJECT'}]),
    ], type='hash')
    assert [(r['changed'], r['rebuilt'], r['map_ref']) for r in results] == [
        (False, False, 'hash:%s' % source),
        (True, True, 'hash:%s/transport' % tmp_path),
        (True, False, 'pcre:%s/header_checks' % tmp_path)]
    assert [argv[3].split(':')[0] for argv in run.calls] == ['hash', '-q']
    assert (tmp_path / 'transport').read_text() == '# managed\nexample.org relay:[mx.example.org]\n'
    assert (tmp_path / 'header_checks').read_text() == '# managed\n/^Subject: x/ REJECT\n'
    assert sorted(os.listdir(tmp_path)) == ['header_checks', 'transport', 'transport.db', 'virtual', 'virtual.db']


def test_the_default_type_is_asked_once(tmp_path):
    run = FakeRun(FakePostmap(default_type='lmdb'))
    results = converge_maps(run, [item(tmp_path / 'a', entries={'a': 'b'}), item(tmp_path / 'b', entries={'c': 'd'})])
    assert [r['type'] for r in results] == ['lmdb', 'lmdb']
    assert [argv[0] for argv in run.calls] == ['postconf', 'postmap', 'postmap']


# A table that fails, and where: nothing is written in either case.
FAILING = {
    'bad input in the second table': (
        FakePostmap(), item('header_checks', type='pcre', rules=[{'pattern': 'x', 'action': 'REJECT'}]),
        ValueError, r'^\S*/header_checks: rules\[0\]: pattern', []),
    'postmap warns about the second table': (
        FakePostmap(probe_stderr=PCRE_STDERR),
        item('header_checks', type='pcre', rules=[{'pattern': '/a/', 'action': 'REJECT'},
                                                  {'pattern': '/^Subject: (bad/', 'action': 'REJECT'}]),
        StagedValidationError, r'header_checks left unchanged: .*rule 2', ['hash']),
}


@pytest.mark.parametrize('postmap, second, error, match, commands', FAILING.values(), ids=FAILING.keys())
def test_no_table_changes_when_one_fails(tmp_path, postmap, second, error, match, commands):
    source, index = install_virtual(tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in ('virtual', 'virtual.db')}
    second = dict(second, path=str(tmp_path / second['path']))
    run = FakeRun(postmap)
    with pytest.raises(error, match=match):
        converge_maps(run, [item(source, entries={'new@example.org': 'x'}), second], type='hash')
    assert [argv[3].split(':')[0] for argv in run.calls][:1] == commands
    assert {name: (tmp_path / name).read_bytes() for name in ('virtual', 'virtual.db')} == before
    assert sorted(os.listdir(tmp_path)) == ['virtual', 'virtual.db']


def test_several_tables_in_check_mode_write_nothing(tmp_path):
    source, _index = install_virtual(tmp_path)
    run = FakeRun(FakePostmap())
    results = converge_maps(run, [item(source, entries={'new@example.org': 'x'}),
                                  item(tmp_path / 'transport', entries={'example.org': 'relay:[mx]'})],
                            check_mode=True, type='hash')
    assert [r['changed'] for r in results] == [True, True]
    assert sorted(os.listdir(tmp_path)) == ['virtual', 'virtual.db']
    assert source.read_text() == VIRTUAL_TEXT


def test_a_table_that_cannot_be_installed_names_those_changed_before_it(tmp_path, monkeypatch):
    real_rename = os.rename

    def rename(source, destination):
        if os.path.basename(destination) == 'relay_recipients.db':
            raise PermissionError('Permission denied')
        real_rename(source, destination)

    monkeypatch.setattr(os, 'rename', rename)
    with pytest.raises(PartlyInstalled) as caught:
        converge_maps(FakeRun(FakePostmap()), [item(tmp_path / 'transport', entries={'a': 'b'}),
                                               item(tmp_path / 'relay_recipients', entries={'c': 'OK'})],
                      type='hash')
    assert caught.value.done == [str(tmp_path / 'transport')]
    assert str(caught.value).startswith('%s/relay_recipients: ' % tmp_path)
    assert sorted(os.listdir(tmp_path)) == ['transport', 'transport.db']
