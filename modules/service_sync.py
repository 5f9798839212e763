#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: service_sync
short_description: Reload or restart services that run with older configuration than their files
description:
  - A reload or restart queued as an Ansible handler is lost when a run dies between writing a file and
    running the handler. The service then keeps running with its old configuration, and a later run,
    which finds the files as they should be, changes nothing and never reloads it.
  - This module compares, for each service, when it last loaded its configuration with when its files
    last changed, and reloads or restarts the services that are behind. A role runs it before it changes
    anything, so the next run after an interrupted one repairs the host.
  - A service loaded its configuration when its unit last became active (a start or restart), or when
    its reload handler last touched O(services[].stamp), whichever is later. A unit that is not active is
    left alone, since starting it loads the files anyway.
  - With O(services[].check), that command must succeed before the service is reloaded or restarted,
    so a broken configuration on disk is reported instead of loaded.
  - A unit whose own unit file (or drop-in) changed since systemd read it (systemd's C(NeedDaemonReload)),
    for example a unit file a role writes and lists in O(services[].files), is brought in line after a
    C(systemctl daemon-reload), so that the restart runs the unit as written, not as systemd remembers it.
version_added: 0.2.0
author: mailforge team (!UNKNOWN)
options:
  services:
    description: The services to compare with their files.
    type: list
    elements: dict
    required: true
    suboptions:
      unit:
        description: The systemd unit that runs the service, for example C(postfix@-.service).
        type: str
        required: true
      files:
        description: Absolute paths of the files the service reads when it (re)loads; missing ones are ignored.
        type: list
        elements: str
        required: true
      action:
        description: What brings the service in line with its files.
        type: str
        choices: [reload, restart]
        default: restart
      stamp:
        description: File that the service's reload handler touches after a successful reload; touched here too.
        type: str
      check:
        description: Command (argv list) that must succeed before the reload or restart, for example C([postfix, check]).
        type: list
        elements: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports what would be reloaded or restarted and does nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Needs systemd. Times are compared at the file system's and systemd's resolution (microseconds).
seealso:
  - module: ansible.builtin.systemd_service
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
"""

RETURN = r"""
synced:
  description: The services reloaded or restarted (or that would be, in check mode), with the newest file they had not loaded.
  returned: always
  type: list
  elements: dict
  sample: [{unit: postgrey.service, action: restart, file: /etc/default/postgrey}]
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils.service_sync import (
    ServiceSyncError, check_services, stale)


def file_times(paths):
    times = {}
    for path in paths:
        try:
            times[path] = os.stat(path).st_mtime
        except FileNotFoundError:
            continue
    return times


def unit_state(module, systemctl, unit):
    """(wall-clock time at which ``unit`` last became active or None if it is not active,
    whether systemd has not read the unit's changed unit file yet)."""
    rc, stdout, stderr = module.run_command(
        [systemctl, 'show', '-p', 'ActiveState', '-p', 'ActiveEnterTimestampMonotonic', '-p', 'NeedDaemonReload',
         unit],
        environ_update={'LC_ALL': 'C'})
    if rc != 0:
        module.fail_json(msg='systemctl show %s failed: %s' % (unit, stderr.strip()))
    values = dict(line.split('=', 1) for line in stdout.splitlines() if '=' in line)
    monotonic = int(values.get('ActiveEnterTimestampMonotonic') or 0)
    unread = values.get('NeedDaemonReload') == 'yes'
    if values.get('ActiveState') != 'active' or not monotonic:
        return None, unread
    # systemd and this process read the same CLOCK_MONOTONIC.
    return time.time() - (time.monotonic() - monotonic / 1e6), unread


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'a'):
        pass
    os.utime(path, None)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            services=dict(type='list', elements='dict', required=True, options=dict(
                unit=dict(type='str', required=True),
                files=dict(type='list', elements='str', required=True),
                action=dict(type='str', choices=['reload', 'restart'], default='restart'),
                stamp=dict(type='str'),
                check=dict(type='list', elements='str'),
            )),
        ),
        supports_check_mode=True,
    )
    try:
        services = check_services(module.params['services'])
    except ServiceSyncError as error:
        module.fail_json(msg=str(error))
    systemctl = module.get_bin_path('systemctl', required=True)
    synced, units_read = [], False
    for service in services:
        stamp = service['stamp']
        stamp_time = file_times([stamp]).get(stamp) if stamp else None
        since, unread = unit_state(module, systemctl, service['unit'])
        newest = stale(service, file_times(service['files']), since, stamp_time)
        if newest is None:
            continue
        synced.append(dict(unit=service['unit'], action=service['action'], file=newest))
        if module.check_mode:
            continue
        # A unit file written by a run that died before its daemon-reload.
        if unread and not units_read:
            rc, _out, err = module.run_command([systemctl, 'daemon-reload'])
            if rc != 0:
                module.fail_json(msg='systemctl daemon-reload failed: %s' % err.strip(), synced=synced)
            units_read = True
        if service['check']:
            rc, _out, err = module.run_command(service['check'], environ_update={'LC_ALL': 'C'})
            if rc != 0:
                module.fail_json(msg='%s has not loaded %s, but %s fails, so it was left as it runs: %s'
                                 % (service['unit'], newest, ' '.join(service['check']), err.strip()),
                                 synced=synced)
        rc, _out, err = module.run_command([systemctl, service['action'], service['unit']])
        if rc != 0:
            module.fail_json(msg='systemctl %s %s failed: %s' % (service['action'], service['unit'], err.strip()),
                             synced=synced)
        if stamp:
            touch(stamp)
    module.exit_json(changed=bool(synced), synced=synced)


if __name__ == '__main__':
    main()
