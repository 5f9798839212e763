# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which services run with older configuration than their files on disk.

A reload or restart that Ansible queued as a handler is lost when the run
dies between writing a file and running the handler; the host then disagrees
with its files and every later run would say all is well. So the roles do
not trust a handler queue: they compare when each service last loaded its
configuration with when its files last changed, and act on the difference.

When a service loaded its configuration is the later of the time its unit
became active (a start or restart) and the time of a stamp file that its
reload handler touches after a successful reload. Pure logic; the module
gathers the times.

The same call also runs the unit as the role wants it (masked, enabled,
started), so that one module execution after a role writes its files
replaces a check before the writes and a systemd_service task after them:
``plan`` lists what is to be done, in order.
"""

from __future__ import annotations

import re

ACTIONS = ('reload', 'restart')
STATES = ('started',)
# UnitFileState values for which there is nothing to enable: those for which
# ``systemctl is-enabled`` succeeds, less enabled-runtime (enabled until the
# next boot only; ansible.builtin.systemd_service enables such a unit too).
ENABLED = frozenset(('enabled', 'static', 'indirect', 'generated', 'alias', 'transient'))
# Where unit files and drop-ins live: one of them newer than the unit's last
# start is read with a daemon-reload before the restart, whatever systemd's
# NeedDaemonReload says (it misses a new file in /etc that overrides the
# package's unit in /lib).
UNIT_DIRS = ('/etc/systemd/', '/run/systemd/', '/lib/systemd/', '/usr/lib/systemd/')
# What reload and restart are called in the result.
DONE = {'reload': 'reloaded', 'restart': 'restarted'}
_UNIT = re.compile(r'^[A-Za-z0-9@._:-]+\.(service|socket)$|^[A-Za-z0-9@._:-]+$')


class ServiceSyncError(Exception):
    pass


def check_services(services):
    """The services as the module takes them, normalised; ServiceSyncError naming every problem."""
    problems, checked = [], []
    if not isinstance(services, list):
        raise ServiceSyncError('services must be a list')
    for index, item in enumerate(services):
        if not isinstance(item, dict):
            problems.append('services[%d] must be a dict' % index)
            continue
        unit, files, action = item.get('unit'), item.get('files', []), item.get('action', 'restart')
        if files is None:
            files = []
        if not isinstance(unit, str) or not _UNIT.match(unit):
            problems.append('services[%d]: unit %r is not a systemd unit name' % (index, unit))
        if not isinstance(files, list) or not all(isinstance(f, str) and f.startswith('/') for f in files):
            problems.append('services[%d] (%s): files must be a list of absolute paths' % (index, unit))
        if action not in ACTIONS:
            problems.append('services[%d] (%s): action must be one of %s' % (index, unit, ', '.join(ACTIONS)))
        stamp = item.get('stamp')
        if stamp is not None and (not isinstance(stamp, str) or not stamp.startswith('/')):
            problems.append('services[%d] (%s): stamp must be an absolute path' % (index, unit))
        check = item.get('check')
        if check is not None and (not isinstance(check, list) or not all(isinstance(a, str) for a in check)):
            problems.append('services[%d] (%s): check must be an argv list' % (index, unit))
        state, enabled, masked = item.get('state'), item.get('enabled'), item.get('masked')
        restart = item.get('restart') or False
        daemon_reload = item.get('daemon_reload') or False
        if state is not None and state not in STATES:
            problems.append('services[%d] (%s): state must be one of %s' % (index, unit, ', '.join(STATES)))
        for name, value in (('enabled', enabled), ('masked', masked), ('restart', restart),
                            ('daemon_reload', daemon_reload)):
            if value is not None and not isinstance(value, bool):
                problems.append('services[%d] (%s): %s must be a boolean' % (index, unit, name))
        drain_timeout = item.get('drain_timeout')
        if drain_timeout is not None and (isinstance(drain_timeout, bool) or not isinstance(drain_timeout, int)
                                          or drain_timeout < 0 or action != 'restart'):
            problems.append('services[%d] (%s): drain_timeout must be a number of seconds (0 or more), with '
                            'action restart' % (index, unit))
        if masked is True and (state is not None or enabled is True or restart is True or files or daemon_reload):
            problems.append('services[%d] (%s): a masked unit takes no state, enabled, restart, daemon_reload or files'
                            % (index, unit))
        if not files and state is None and enabled is None and masked is None and restart is not True:
            problems.append('services[%d] (%s): nothing to do: give files, state, enabled, masked or restart'
                            % (index, unit))
        checked.append(dict(unit=unit, files=files, action=action, stamp=stamp, check=check, state=state,
                            enabled=enabled, masked=masked, restart=restart, daemon_reload=daemon_reload,
                            drain_timeout=drain_timeout))
    if problems:
        raise ServiceSyncError('; '.join(problems))
    return checked


def stale(service, file_times, active_since, stamp_time):
    """The newest file that ``service`` has not loaded yet, or None.

    ``file_times`` maps path -> mtime (missing files left out); ``active_since``
    is when the unit last became active (None: it is not running, so there is
    nothing to bring in line: whoever starts it loads the files);
    ``stamp_time`` the stamp's mtime or None.
    """
    if active_since is None:
        return None
    loaded = max(active_since, stamp_time or 0.0)
    newer = [(mtime, path) for path, mtime in file_times.items() if mtime > loaded]
    return max(newer)[1] if newer else None


def plan(service, unit, file_times, stamp_time):
    """What brings ``service`` where it should be, in order, and the newest file it has not loaded.

    ``unit`` describes the unit as systemd shows it: ``active_since`` (when it last
    became active, None when it is not active), ``unread`` (its unit file changed
    since systemd read it), ``unit_file_state`` and ``load_state``. A daemon-reload
    comes first when systemd asks for one, when the service asks for one
    (``daemon_reload``: its unit file changed in this run) or when a unit file or
    drop-in among its files is newer than its last load. The actions
    are those of the module's result: masked, unmasked, daemon-reload, enabled,
    disabled, started, restarted, reloaded. A unit that is not active is started
    only with state started (the start loads its files: no restart after it);
    otherwise it is left alone.
    """
    is_masked = 'masked' in (unit.get('unit_file_state'), unit.get('load_state'))
    if service.get('masked') is True:
        return ([] if is_masked else ['masked']), None
    actions = []
    if service.get('masked') is False and is_masked:
        actions.append('unmasked')
    active_since = unit.get('active_since')
    loaded = max(active_since, stamp_time or 0.0) if active_since is not None else None
    unit_file_newer = loaded is not None and any(
        mtime > loaded and path.startswith(UNIT_DIRS) for path, mtime in file_times.items())
    if unit.get('unread') or service.get('daemon_reload') or unit_file_newer:
        actions.append('daemon-reload')
    enabled = unit.get('unit_file_state') in ENABLED
    if service.get('enabled') is True and not enabled:
        actions.append('enabled')
    elif service.get('enabled') is False and unit.get('unit_file_state') in ('enabled', 'enabled-runtime'):
        actions.append('disabled')
    if unit.get('active_since') is None:
        if service.get('state') == 'started':
            actions.append('started')
        return actions, None
    newest = stale(service, file_times, unit['active_since'], stamp_time)
    if newest is not None or service.get('restart'):
        actions.append(DONE[service.get('action', 'restart')])
    return actions, newest
