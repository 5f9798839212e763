"""Which services run with older configuration than their files (after an interrupted run)."""
import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.service_sync import (
    ServiceSyncError, check_services, stale)
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
                            stamp=None, check=None)]


@pytest.mark.parametrize('services, culprit', [
    ('postfix', 'services must be a list'),
    ([{'unit': 'bad unit!', 'files': ['/x']}], "unit 'bad unit!' is not a systemd unit name"),
    ([{'unit': 'postgrey.service', 'files': ['relative']}], 'files must be a non-empty list of absolute paths'),
    ([{'unit': 'postgrey.service', 'files': []}], 'files must be a non-empty list of absolute paths'),
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

    def __init__(self, services, show):
        self.params = dict(services=services)
        self.check_mode = False
        self.show = show
        self.calls = []

    def __call__(self, **_spec):
        return self

    def get_bin_path(self, name, required=False):
        return name

    def run_command(self, argv, environ_update=None):
        self.calls.append(argv)
        return (0, self.show, '') if argv[1] == 'show' else (0, '', '')

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
    show = 'ActiveState=active\nActiveEnterTimestampMonotonic=1000000\nNeedDaemonReload=%s\n' % need_reload
    module = _Module([{'unit': 'dkimpy-milter-verify.service', 'files': [str(unit)]}], show)
    monkeypatch.setattr(service_sync_module, 'AnsibleModule', module)
    with pytest.raises(_Exit) as caught:
        service_sync_module.main()
    assert caught.value.args[0]['changed'] is True
    assert [argv for argv in module.calls if argv[1] != 'show'] == expected
