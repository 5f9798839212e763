#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: service_sync
short_description: Run services as wanted and reload or restart those that run with older configuration than their files
description:
  - A reload or restart queued as an Ansible handler is lost when a run dies between writing a file and
    running the handler. The service then keeps running with its old configuration, and a later run,
    which finds the files as they should be, changes nothing and never reloads it.
  - This module compares, for each service, when it last loaded its configuration with when its files
    last changed, and reloads or restarts the services that are behind. A role runs it once after it writes
    its files; that covers this run's writes and those of an earlier run that died before its restart, so the
    next run after an interrupted one repairs the host.
  - A service loaded its configuration when its unit last became active (a start or restart), or when
    its reload handler (or this module) last touched O(services[].stamp), whichever is later. A unit that is not
    active is left alone, unless O(services[].state=started) starts it; starting it loads the files anyway, so it
    is not restarted after that.
  - The same call can mask a unit (O(services[].masked)), enable it (O(services[].enabled)) and start it
    (O(services[].state)), so that one module execution does what a M(ansible.builtin.systemd_service) task per
    unit did.
  - With O(services[].check), that command must succeed before the service is reloaded or restarted,
    so a broken configuration on disk is reported instead of loaded.
  - A unit whose own unit file (or drop-in) changed since systemd read it (systemd's C(NeedDaemonReload)),
    for example a unit file a role writes and lists in O(services[].files), is brought in line after a
    C(systemctl daemon-reload), so that the start or restart runs the unit as written, not as systemd remembers it.
  - The services are handled one after the other, in the order given, each as systemd shows it at its turn.
version_added: 0.2.0
author: mailforge team (!UNKNOWN)
options:
  services:
    description: The services to compare with their files and to run.
    type: list
    elements: dict
    required: true
    suboptions:
      unit:
        description: The systemd unit that runs the service, for example C(postfix@-.service).
        type: str
        required: true
      files:
        description:
          - Absolute paths of the files the service reads when it (re)loads; missing ones are ignored.
          - May be left out for a unit that is only masked, enabled or started.
        type: list
        elements: str
        default: []
      action:
        description: What brings the service in line with its files.
        type: str
        choices: [reload, restart]
        default: restart
      restart:
        description:
          - Run O(services[].action) on an active unit even if the times say it has loaded its files, for a change
            that leaves a file's modification time alone (its mode or owner, for example a key made readable).
          - Pass what the role changed in this run, for example whether M(mailforge.postfix.file_set) reported
            one of the service's files in RV(mailforge.postfix.file_set#module:changed_paths).
        type: bool
        default: false
      daemon_reload:
        description:
          - V(true) runs C(systemctl daemon-reload) before the unit is started or restarted, for a unit file or drop-in
            changed in this run, for example a new file in C(/etc/systemd/system) that overrides the package's unit
            (systemd's C(NeedDaemonReload) does not report that one).
          - A daemon-reload also comes first, without this, when systemd reports C(NeedDaemonReload) or when one of
            O(services[].files) under C(/etc/systemd), C(/run/systemd), C(/lib/systemd) or C(/usr/lib/systemd) is
            newer than the unit's last start (a run that died before its daemon-reload). One call reloads systemd at
            most once.
        type: bool
        default: false
      state:
        description:
          - V(started) starts the unit if it is not active. Left out, a unit that is not active is left alone.
        type: str
        choices: [started]
      enabled:
        description: V(true) enables the unit if C(systemctl is-enabled) would fail; V(false) disables an enabled one.
        type: bool
      masked:
        description:
          - V(true) masks the unit (a missing unit too), so that nothing starts it, for example before the package
            that would start it is installed. Such an entry takes no O(services[].files), O(services[].state),
            O(services[].enabled), O(services[].restart) or O(services[].daemon_reload).
          - V(false) unmasks a masked unit.
        type: bool
      stamp:
        description: File that the service's reload handler touches after a successful reload; touched here too.
        type: str
      check:
        description: Command (argv list) that must succeed before the reload or restart, for example C([postfix, check]).
        type: list
        elements: str
      drain_timeout:
        description:
          - For the Postfix instance of C(/etc/postfix) only, with O(services[].action=restart). The restart first lets
            the deliveries in progress end, as M(mailforge.postfix.postfix_restart) does, waiting at most this many
            seconds (V(0) restarts at once), so that a repair after an interrupted run sends no message twice.
        type: int
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports what would be masked, enabled, started, reloaded or restarted and does nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Needs systemd. Times are compared at the file system's and systemd's resolution (microseconds).
  - A start that fails right after a stop inside some containers succeeds when tried again; give the task
    C(retries) and C(until), as a run that is tried again finds the unit as the failure left it.
seealso:
  - module: ansible.builtin.systemd_service
  - module: mailforge.postfix.file_set
"""

EXAMPLES = r"""
- name: Apply what an interrupted run left unloaded
  mailforge.postfix.service_sync:
    services:
      - unit: postfix@-.service
        files: [/etc/postfix/main.cf, /etc/postfix/master.cf]
        action: restart
        stamp: /var/lib/postfix/mailforge.loaded
        check: [postfix, check]
      - unit: postgrey.service
        files: [/etc/default/postgrey]

- name: Keep freshclam from downloading anything, before its package is installed
  mailforge.postfix.service_sync:
    services:
      - unit: clamav-freshclam.service
        masked: true
      - unit: clamav-freshclam-once.timer
        masked: true

- name: Run OpenDMARC with the files written above (this run's or an interrupted run's)
  mailforge.postfix.service_sync:
    services:
      - unit: opendmarc.service
        files: [/etc/opendmarc.conf, /etc/opendmarc/ignore.hosts]
        state: started
        enabled: true
        restart: "{{ opendmarc_files.changed_paths | intersect(['/etc/opendmarc.conf', '/etc/opendmarc/ignore.hosts'])
                     | length > 0 }}"
  register: opendmarc_service
  retries: 3
  delay: 2
  until: opendmarc_service is succeeded
"""

RETURN = r"""
synced:
  description:
    - The services reloaded or restarted (or that would be, in check mode), with the newest file they had not
      loaded (C(null) when only O(services[].restart) asked for it).
  returned: always
  type: list
  elements: dict
  sample: [{unit: postgrey.service, action: restart, file: /etc/default/postgrey}]
actions:
  description:
    - For each unit something was done to (or would be, in check mode), what, in order, among C(masked),
      C(unmasked), C(daemon-reload), C(enabled), C(disabled), C(started), C(restarted) and C(reloaded).
  returned: always
  type: dict
  sample: {opendmarc.service: [enabled, started], clamav-freshclam.service: [masked]}
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_drain import PostfixRestart
from ansible_collections.mailforge.postfix.plugins.module_utils.service_sync import (
    ServiceSyncError, check_services, plan)


def file_times(paths):
    times = {}
    for path in paths:
        try:
            times[path] = os.stat(path).st_mtime
        except FileNotFoundError:
            continue
    return times


def unit_state(module, systemctl, unit):
    """The unit as ``service_sync.plan`` takes it: ``active_since`` (the wall-clock time at which it last became
    active, None if it is not active), ``unread`` (systemd has not read its changed unit file yet),
    ``unit_file_state`` and ``load_state``."""
    rc, stdout, stderr = module.run_command(
        [systemctl, 'show', '-p', 'ActiveState', '-p', 'ActiveEnterTimestampMonotonic', '-p', 'NeedDaemonReload',
         '-p', 'UnitFileState', '-p', 'LoadState', unit],
        environ_update={'LC_ALL': 'C'})
    if rc != 0:
        module.fail_json(msg='systemctl show %s failed: %s' % (unit, stderr.strip()))
    values = dict(line.split('=', 1) for line in stdout.splitlines() if '=' in line)
    monotonic = int(values.get('ActiveEnterTimestampMonotonic') or 0)
    state = dict(unread=values.get('NeedDaemonReload') == 'yes', unit_file_state=values.get('UnitFileState', ''),
                 load_state=values.get('LoadState', ''), active_since=None)
    if values.get('ActiveState') == 'active' and monotonic:
        # systemd and this process read the same CLOCK_MONOTONIC.
        state['active_since'] = time.time() - (time.monotonic() - monotonic / 1e6)
    return state


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'a'):
        pass
    os.utime(path, None)


# What each action runs (daemon-reload is for all units, once).
COMMANDS = {'masked': 'mask', 'unmasked': 'unmask', 'enabled': 'enable', 'disabled': 'disable',
            'started': 'start', 'restarted': 'restart', 'reloaded': 'reload'}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            services=dict(type='list', elements='dict', required=True, options=dict(
                unit=dict(type='str', required=True),
                files=dict(type='list', elements='str', default=[]),
                action=dict(type='str', choices=['reload', 'restart'], default='restart'),
                restart=dict(type='bool', default=False),
                daemon_reload=dict(type='bool', default=False),
                state=dict(type='str', choices=['started']),
                enabled=dict(type='bool'),
                masked=dict(type='bool'),
                stamp=dict(type='str'),
                check=dict(type='list', elements='str'),
                drain_timeout=dict(type='int'),
            )),
        ),
        supports_check_mode=True,
    )
    try:
        services = check_services(module.params['services'])
    except ServiceSyncError as error:
        module.fail_json(msg=str(error))
    systemctl = module.get_bin_path('systemctl', required=True)
    synced, actions, units_read = [], {}, False

    def fail(msg):
        module.fail_json(msg=msg, changed=bool(actions), synced=synced, actions=actions)

    for service in services:
        unit = service['unit']
        stamp = service['stamp']
        stamp_time = file_times([stamp]).get(stamp) if stamp else None
        todo, newest = plan(service, unit_state(module, systemctl, unit), file_times(service['files']), stamp_time)
        if not todo:
            continue
        loads = [action for action in todo if action in ('restarted', 'reloaded')]
        if loads:
            synced.append(dict(unit=unit, action=service['action'], file=newest))
        if module.check_mode:
            actions.setdefault(unit, []).extend(todo)
            continue
        for action in todo:
            if action == 'daemon-reload':
                # A unit file written by this run or by a run that died before its daemon-reload.
                if units_read:
                    continue
                units_read = True
                argv = [systemctl, 'daemon-reload']
            else:
                argv = [systemctl, COMMANDS[action], unit]
            if action in loads and service['check']:
                rc, _out, err = module.run_command(service['check'], environ_update={'LC_ALL': 'C'})
                if rc != 0:
                    fail('%s has not loaded %s, but %s fails, so it was left as it runs: %s'
                         % (unit, newest or 'its files', ' '.join(service['check']), err.strip()))
            if action == 'restarted' and service['drain_timeout'] is not None:
                PostfixRestart(module, '/etc/postfix').restart(unit, service['drain_timeout'])
            else:
                rc, _out, err = module.run_command(argv)
                if rc != 0:
                    fail('%s failed: %s' % (' '.join(argv[1:]), err.strip()))
            actions.setdefault(unit, []).append(action)
            if action in loads and stamp:
                touch(stamp)
    module.exit_json(changed=bool(actions), synced=synced, actions=actions)


if __name__ == '__main__':
    main()
