"""Which services run with older configuration than their files (after an interrupted run)."""
import os
import time

import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.service_sync import (
    ServiceSyncError, check_services, plan, stale)
from ansible_collections.mailforge.postfix.plugins.modules import service_sync as service_sync_module

SERVICE = dict(unit='postfix@-.service', files=['/etc/postfix/main.cf'], action='restart', stamp=None, check=None)


@pytest.mark.parametrize('file_times, active_since, stamp_time, expected', [
    # Written, then restarted or reloaded: in line.
    ({'/etc/postfix/main.cf': 100.0}, 200.0, None, None),
    ({'/etc/postfix/main.cf': 100.0}, 50.0, 150.0, None),
    # Written after the last start and the last reload: the handler never ran.
    ({'/etc/postfix/main.cf': 100.0}, 50.0, None, '/etc/postfix/main.cf'),
    ({'/etc/postfix/main.cf': 100.0}, 50.0, 80.0, '/etc/postfix/main.cf'),
    # The newest of several files is named.
    ({'/a': 100.0, '/b': 120.0, '/c': 10.0}, 50.0, None, '/b'),
    # Not running: whoever starts it loads the files.
    ({'/etc/postfix/main.cf': 100.0}, None, None, None),
    # No file on disk: nothing to load.
    ({}, 50.0, None, None),
])
def test_a_service_is_stale_when_a_file_is_newer_than_its_last_load(file_times, active_since, stamp_time,
                                                                       expected):
    assert stale(SERVICE, file_times, active_since, stamp_time) == expected


def test_services_are_normalised():
    checked = check_services([{'unit': 'postgrey.service', 'files': ['/etc/default/postgrey']}])
    assert checked == [dict(unit='postgrey.service', files=['/etc/default/postgrey'], action='restart',
                            stamp=None, check=None, state=None, enabled=None, masked=None, restart=False,
                            daemon_reload=False, drain_timeout=None)]
    # A unit that is only masked needs no files.
    assert check_services([{'unit': 'clamav-freshclam.service', 'masked': True}])[0]['files'] == []


@pytest.mark.parametrize('services, culprit', [
    ('postfix', 'services must be a list'),
    ([{'unit': 'bad unit!', 'files': ['/x']}], "unit 'bad unit!' is not a systemd unit name"),
    ([{'unit': 'postgrey.service', 'files': ['relative']}], 'files must be a list of absolute paths'),
    ([{'unit': 'postgrey.service', 'files': []}], 'nothing to do'),
    ([{'unit': 'postgrey.service'}], 'nothing to do'),
    ([{'unit': 'postgrey.service', 'state': 'stopped'}], 'state must be one of started'),
    ([{'unit': 'postfix@-.service', 'files': ['/x'], 'drain_timeout': -1}], 'drain_timeout must be a number'),
    ([{'unit': 'postfix@-.service', 'files': ['/x'], 'drain_timeout': True}], 'drain_timeout must be a number'),
    ([{'unit': 'postfix@-.service', 'files': ['/x'], 'action': 'reload', 'drain_timeout': 60}], 'with action restart'),
    ([{'unit': 'postgrey.service', 'masked': True, 'state': 'started'}], 'a masked unit takes no state'),
    ([{'unit': 'postgrey.service', 'masked': True, 'files': ['/x']}], 'a masked unit takes no state'),
    ([{'unit': 'postgrey.service', 'enabled': 'yes'}], 'enabled must be a boolean'),
    ([{'unit': 'postgrey.service', 'files': ['/x'], 'action': 'kick'}], 'action must be one of reload, restart'),
    ([{'unit': 'postgrey.service', 'files': ['/x'], 'stamp': 'here'}], 'stamp must be an absolute path'),
    ([{'unit': 'postgrey.service', 'files': ['/x'], 'check': 'postfix check'}], 'check must be an argv list'),
])
def test_bad_services_are_refused(services, culprit):
    with pytest.raises(ServiceSyncError) as caught:
        check_services(services)
    assert culprit in str(caught.value)


class _Exit(Exception):
    pass


class _Module:
    """Just enough AnsibleModule for service_sync.main: systemctl answers from ``show``, calls recorded."""

    def __init__(self, services, show, check_mode=False, fail=()):
        self.params = dict(services=services)
        self.check_mode = check_mode
        self.show = show
        self.fail = fail
        self.calls = []

    def __call__(self, **_spec):
        return self

    def get_bin_path(self, name, required=False):
        return name

    def run_command(self, argv, environ_update=None):
        self.calls.append(argv)
        if argv[1] == 'show':
            return 0, self.show if isinstance(self.show, str) else self.show.pop(0), ''
        return (1, '', 'it broke') if argv[1] in self.fail else (0, '', '')

    def exit_json(self, **result):
        raise _Exit(result)

    def fail_json(self, **result):
        raise _Exit(dict(result, failed=True))


# Active since boot (monotonic 1 s): every file written since is newer.
@pytest.mark.parametrize('need_reload, expected', [
    ('yes', [['systemctl', 'daemon-reload'], ['systemctl', 'restart', 'dkimpy-milter-verify.service']]),
    ('no', [['systemctl', 'restart', 'dkimpy-milter-verify.service']]),
])
def test_a_unit_file_an_interrupted_run_wrote_is_read_before_the_restart(tmp_path, monkeypatch, need_reload, expected):
    unit = tmp_path / 'dkimpy-milter-verify.service'
    unit.write_text('[Service]\n')
    show = ('ActiveState=active\nActiveEnterTimestampMonotonic=1000000\nNeedDaemonReload=%s\n'
            'UnitFileState=enabled\nLoadState=loaded\n' % need_reload)
    module = _Module([{'unit': 'dkimpy-milter-verify.service', 'files': [str(unit)]}], show)
    monkeypatch.setattr(service_sync_module, 'AnsibleModule', module)
    with pytest.raises(_Exit) as caught:
        service_sync_module.main()
    assert caught.value.args[0]['changed'] is True
    assert [argv for argv in module.calls if argv[1] != 'show'] == expected


# --- running the units as wanted (issue 13, point 4: one call after the writes) --------------------------------

ENABLED_ACTIVE = dict(active_since=500.0, unread=False, unit_file_state='enabled', load_state='loaded')
STOPPED = dict(active_since=None, unread=False, unit_file_state='disabled', load_state='loaded')
RUN = dict(SERVICE, state='started', enabled=True, masked=None, restart=False)


@pytest.mark.parametrize('service, unit, files, stamp, expected', [
    # The no-op: running, enabled, nothing newer.
    (RUN, ENABLED_ACTIVE, {'/etc/postfix/main.cf': 100.0}, None, ([], None)),
    # Written by this run or by an interrupted one: restarted.
    (RUN, ENABLED_ACTIVE, {'/etc/postfix/main.cf': 600.0}, None, (['restarted'], '/etc/postfix/main.cf')),
    # A mode change leaves the time alone: the caller asks for the restart.
    (dict(RUN, restart=True), ENABLED_ACTIVE, {'/etc/postfix/main.cf': 100.0}, None, (['restarted'], None)),
    (dict(RUN, restart=True, action='reload'), ENABLED_ACTIVE, {}, None, (['reloaded'], None)),
    # Not running: started (which loads the files), enabled; never restarted after the start.
    (dict(RUN, restart=True), STOPPED, {'/etc/postfix/main.cf': 600.0}, None, (['enabled', 'started'], None)),
    # Not running and no state: left alone (today's behaviour), only enabled.
    (dict(RUN, state=None), STOPPED, {'/etc/postfix/main.cf': 600.0}, None, (['enabled'], None)),
    # Static units need no enabling; a unit enabled until the next boot only is enabled for good.
    (RUN, dict(STOPPED, unit_file_state='static'), {}, None, (['started'], None)),
    (RUN, dict(ENABLED_ACTIVE, unit_file_state='enabled-runtime'), {}, None, (['enabled'], None)),
    (dict(RUN, enabled=False), ENABLED_ACTIVE, {}, None, (['disabled'], None)),
    # A changed unit file is read first.
    (RUN, dict(ENABLED_ACTIVE, unread=True), {'/u': 600.0}, None, (['daemon-reload', 'restarted'], '/u')),
    (RUN, dict(STOPPED, unread=True), {}, None, (['daemon-reload', 'enabled', 'started'], None)),
    # Asked for (the unit file changed in this run), or a unit file or drop-in newer than the last start (a run
    # that died before its daemon-reload; a new file in /etc overriding /lib's is not NeedDaemonReload).
    (dict(RUN, daemon_reload=True), STOPPED, {}, None, (['daemon-reload', 'enabled', 'started'], None)),
    (RUN, ENABLED_ACTIVE, {'/etc/systemd/system/sqlgrey.service': 600.0}, None,
     (['daemon-reload', 'restarted'], '/etc/systemd/system/sqlgrey.service')),
    (RUN, ENABLED_ACTIVE, {'/etc/systemd/system/sqlgrey.service': 400.0, '/etc/sqlgrey/sqlgrey.conf': 600.0}, None,
     (['restarted'], '/etc/sqlgrey/sqlgrey.conf')),
    # Masking: once.
    (dict(SERVICE, files=[], masked=True), STOPPED, {}, None, (['masked'], None)),
    (dict(SERVICE, files=[], masked=True), dict(STOPPED, unit_file_state='masked'), {}, None, ([], None)),
    (dict(SERVICE, files=[], masked=True), dict(STOPPED, unit_file_state='', load_state='masked'), {}, None,
     ([], None)),
    (dict(RUN, masked=False), dict(STOPPED, unit_file_state='masked', load_state='masked'), {}, None,
     (['unmasked', 'enabled', 'started'], None)),
    # A reload handler's stamp counts as a load.
    (dict(RUN, action='reload'), ENABLED_ACTIVE, {'/f': 600.0}, 700.0, ([], None)),
    (dict(RUN, action='reload'), ENABLED_ACTIVE, {'/f': 600.0}, 550.0, (['reloaded'], '/f')),
])
def test_plan(service, unit, files, stamp, expected):
    assert plan(service, unit, files, stamp) == expected


SHOW_STOPPED = 'ActiveState=inactive\nActiveEnterTimestampMonotonic=0\nNeedDaemonReload=no\nUnitFileState=disabled\n'
SHOW_RUNNING = ('ActiveState=active\nActiveEnterTimestampMonotonic=1000000\nNeedDaemonReload=no\n'
                'UnitFileState=enabled\nLoadState=loaded\n')


def run_main(monkeypatch, module):
    monkeypatch.setattr(service_sync_module, 'AnsibleModule', module)
    with pytest.raises(_Exit) as caught:
        service_sync_module.main()
    return caught.value.args[0]


def test_one_call_masks_enables_starts_and_restarts(tmp_path, monkeypatch):
    conf = tmp_path / 'opendmarc.conf'
    conf.write_text('x\n')
    module = _Module([{'unit': 'clamav-freshclam.service', 'masked': True},
                      {'unit': 'opendmarc.service', 'files': [str(conf)], 'state': 'started', 'enabled': True},
                      {'unit': 'postgrey.service', 'files': [str(conf)], 'state': 'started', 'enabled': True,
                       'check': ['postgrey', '--check']}],
                     [SHOW_STOPPED, SHOW_STOPPED, SHOW_RUNNING])
    result = run_main(monkeypatch, module)
    assert result['changed'] is True
    assert result['actions'] == {'clamav-freshclam.service': ['masked'],
                                 'opendmarc.service': ['enabled', 'started'],
                                 'postgrey.service': ['restarted']}
    assert result['synced'] == [dict(unit='postgrey.service', action='restart', file=str(conf))]
    assert [argv for argv in module.calls if argv[1] != 'show'] == [
        ['systemctl', 'mask', 'clamav-freshclam.service'],
        ['systemctl', 'enable', 'opendmarc.service'],
        ['systemctl', 'start', 'opendmarc.service'],
        ['postgrey', '--check'],
        ['systemctl', 'restart', 'postgrey.service']]


def test_systemd_is_reloaded_once_per_call(monkeypatch):
    module = _Module([{'unit': 'a.service', 'state': 'started', 'daemon_reload': True},
                      {'unit': 'b.service', 'state': 'started', 'daemon_reload': True}], SHOW_STOPPED)
    result = run_main(monkeypatch, module)
    assert [argv[1:] for argv in module.calls if argv[1] != 'show'] == [
        ['daemon-reload'], ['start', 'a.service'], ['start', 'b.service']]
    assert result['actions'] == {'a.service': ['daemon-reload', 'started'], 'b.service': ['started']}


def test_a_no_op_changes_nothing(tmp_path, monkeypatch):
    conf = tmp_path / 'opendmarc.conf'
    conf.write_text('x\n')
    # Started long after the file was written.
    show = SHOW_RUNNING.replace('=1000000', '=%d' % int((time.monotonic() - 1) * 1e6))
    module = _Module([{'unit': 'opendmarc.service', 'files': [str(conf)], 'state': 'started', 'enabled': True}],
                     show)
    os.utime(conf, (1.0, 1.0))
    result = run_main(monkeypatch, module)
    assert result == dict(changed=False, synced=[], actions={})
    assert [argv[1] for argv in module.calls] == ['show']


def test_check_mode_reports_and_does_nothing(tmp_path, monkeypatch):
    module = _Module([{'unit': 'opendmarc.service', 'state': 'started', 'enabled': True, 'restart': True}],
                     SHOW_STOPPED, check_mode=True)
    result = run_main(monkeypatch, module)
    assert result['changed'] is True and result['actions'] == {'opendmarc.service': ['enabled', 'started']}
    assert [argv[1] for argv in module.calls] == ['show']


def test_a_failing_start_is_reported_with_what_was_done(monkeypatch):
    module = _Module([{'unit': 'opendmarc.service', 'state': 'started', 'enabled': True}], SHOW_STOPPED,
                     fail=('start',))
    result = run_main(monkeypatch, module)
    assert result['failed'] is True and 'start opendmarc.service failed: it broke' in result['msg']
    assert result['actions'] == {'opendmarc.service': ['enabled']}


def test_a_failing_check_leaves_the_service_as_it_runs(tmp_path, monkeypatch):
    conf = tmp_path / 'jail.conf'
    conf.write_text('x\n')
    stamp = tmp_path / 'loaded'
    module = _Module([{'unit': 'fail2ban.service', 'files': [str(conf)], 'action': 'reload', 'stamp': str(stamp),
                       'check': ['fail2ban-client', '--test'], 'state': 'started'}], SHOW_RUNNING,
                     fail=('--test',))
    result = run_main(monkeypatch, module)
    assert result['failed'] is True and 'fail2ban-client --test fails' in result['msg']
    assert not stamp.exists()
    assert [argv for argv in module.calls if argv[1] not in ('show', '--test')] == []


def test_postfix_behind_its_files_is_restarted_after_its_deliveries_end(tmp_path, monkeypatch):
    """With drain_timeout, the repair's restart is postfix_drain's (what module postfix_restart runs), after the check."""
    conf = tmp_path / 'main.cf'
    conf.write_text('x\n')
    restarts = []

    class Restart:
        def __init__(self, module, config_dir):
            assert config_dir == '/etc/postfix'

        def restart(self, unit, timeout):
            restarts.append((unit, timeout))
            return dict(drained=True, deferred_transports=['relay'], flushed=[])
    monkeypatch.setattr(service_sync_module, 'PostfixRestart', Restart)
    module = _Module([{'unit': 'postfix@-.service', 'files': [str(conf)], 'check': ['postfix', 'check'],
                       'drain_timeout': 60}], SHOW_RUNNING)
    result = run_main(monkeypatch, module)
    assert result['actions'] == {'postfix@-.service': ['restarted']}
    assert restarts == [('postfix@-.service', 60)]
    assert [argv for argv in module.calls if argv[1] != 'show'] == [['postfix', 'check']]
