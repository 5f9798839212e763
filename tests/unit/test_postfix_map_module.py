import grp
import os
import pwd
import stat

import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf, Postmap
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import StagedValidationError
from ansible_collections.mailforge.postfix.plugins.modules.postfix_map import converge
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
