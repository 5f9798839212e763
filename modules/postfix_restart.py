#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postfix_restart
short_description: Restart Postfix once the deliveries in progress have ended
description:
  - Some main.cf changes (C(inet_interfaces), C(inet_protocols)) take effect only when Postfix starts again. On
    C(postfix stop), master(8) sends SIGTERM to every delivery agent. One killed after the next hop accepted a
    message, but before it marked the recipient done, leaves the message queued, and Postfix delivers it a second
    time after the restart.
  - This module first defers every delivery transport of master.cf (the services that run C(smtp), C(lmtp),
    C(local), C(virtual) or C(pipe)) through C(defer_transports) and a reload. It waits until the queue manager
    that ran before has exited and no delivery agent runs any more, puts main.cf back byte for byte, and restarts
    the unit. Mail that came in meanwhile is accepted and queued; the messages deferred during the wait are then
    scheduled for immediate delivery (C(postqueue -i)), so they do not wait for the next queue run.
  - When the wait runs out (O(drain_timeout)), for example a delivery to a slow next hop, Postfix is restarted
    anyway, as a plain restart would have done, and RV(drained) is V(false).
  - A run that dies during the wait leaves C(defer_transports) in main.cf; the postfix role's main.cf task
    removes it on the next run, and mail deferred by it is sent at the next queue run.
  - When Postfix does not run, the unit is just restarted (started).
version_added: 0.2.0
author: mailforge team (!UNKNOWN)
options:
  config_dir:
    description: Postfix configuration directory of the instance that O(unit) runs.
    type: path
    default: /etc/postfix
  unit:
    description: The systemd unit to restart.
    type: str
    default: postfix.service
  drain_timeout:
    description: Seconds to wait for the deliveries in progress to end; V(0) restarts without waiting.
    type: int
    default: 60
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports a change and does nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - A restart always reports a change; use the module as a handler.
seealso:
  - module: mailforge.postfix.postconf
  - module: mailforge.postfix.service_sync
"""

EXAMPLES = r"""
- name: Restart postfix after its deliveries in progress end
  mailforge.postfix.postfix_restart:
  listen: postfix config changed
"""

RETURN = r"""
drained:
  description: Whether no delivery agent ran any more when Postfix was restarted.
  returned: always
  type: bool
  sample: true
deferred_transports:
  description: The transports deferred while waiting (empty when Postfix did not run).
  returned: always
  type: list
  elements: str
  sample: [smtp, relay, local, virtual, lmtp]
flushed:
  description: Queue ids deferred during the wait and scheduled for immediate delivery after the restart.
  returned: always
  type: list
  elements: str
  sample: [4Zk1Qm0x3Fz9]
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import (
    C_LOCALE, PostfixCommandError, Postconf)
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_drain import (
    DELIVERY_AGENTS, children, defer_list, deferred_ids, delivery_transports, parse_stat)
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import read_bytes, write_atomically

POLL_SECONDS = 0.1


def running_stats():
    stats = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    stats.append(parse_stat(handle.read()))
            except (OSError, ValueError, IndexError):
                continue    # it ended meanwhile
    return stats


def master_pid(queue_directory):
    """The pid of the running master(8), or None."""
    try:
        with open(os.path.join(queue_directory, 'pid', 'master.pid')) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if any(p == pid and comm == 'master' for p, comm, _ppid in running_stats()) else None


def wait_for(condition, deadline):
    """Poll ``condition`` until it holds (True) or ``deadline`` (time.monotonic) has passed (False)."""
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


class Restart:
    def __init__(self, module):
        self.module = module
        self.config_dir = module.params['config_dir']
        self.postconf = Postconf(module.run_command, module.get_bin_path('postconf', required=True), self.config_dir)

    def run(self, *argv):
        rc, stdout, stderr = self.module.run_command(list(argv), environ_update=dict(C_LOCALE))
        if rc != 0:
            self.module.fail_json(msg='%s failed: %s' % (' '.join(argv), stderr.strip()))
        return stdout

    def deferred(self):
        return deferred_ids(self.run(self.module.get_bin_path('postqueue', required=True), '-c', self.config_dir, '-j'))

    def reload(self):
        self.run(self.module.get_bin_path('postfix', required=True), '-c', self.config_dir, 'reload')

    def drain(self, master, transports, timeout):
        """Defer ``transports``, and wait until no delivery agent of ``master`` runs. main.cf is put back."""
        main_cf = os.path.join(self.config_dir, 'main.cf')
        original = read_bytes(main_cf)
        deadline = time.monotonic() + timeout
        queue_managers = children(running_stats(), master, {'qmgr'})
        try:
            self.postconf.set_parameters(
                {'defer_transports': defer_list(self.postconf.value('defer_transports'), transports)})
            self.reload()
            # The queue manager of before the reload hands out jobs until it exits; agents it started
            # meanwhile run with the old configuration, so a second reload makes them exit once idle.
            wait_for(lambda: not queue_managers & children(running_stats(), master, {'qmgr'}), deadline)
            self.reload()
            return wait_for(lambda: not children(running_stats(), master, DELIVERY_AGENTS), deadline)
        finally:
            write_atomically(main_cf, original)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type='path', default='/etc/postfix'),
            unit=dict(type='str', default='postfix.service'),
            drain_timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    result = dict(changed=True, drained=False, deferred_transports=[], flushed=[])
    if module.check_mode:
        module.exit_json(**result)
    restart = Restart(module)
    timeout = module.params['drain_timeout']
    try:
        master = master_pid(restart.postconf.value('queue_directory'))
        if master is not None and timeout > 0:
            result['deferred_transports'] = delivery_transports(restart.postconf.services()[0])
        if result['deferred_transports']:
            queued_before = restart.deferred()
            result['drained'] = restart.drain(master, result['deferred_transports'], timeout)
    except PostfixCommandError as error:
        module.fail_json(msg=str(error), **result)
    restart.run(module.get_bin_path('systemctl', required=True), 'restart', module.params['unit'])
    if result['deferred_transports']:
        postqueue = module.get_bin_path('postqueue', required=True)
        for queue_id in sorted(restart.deferred() - queued_before):
            # One may have been delivered meanwhile (a queue run); that is no failure.
            rc, _out, _err = module.run_command([postqueue, '-c', restart.config_dir, '-i', queue_id],
                                                environ_update=dict(C_LOCALE))
            if rc == 0:
                result['flushed'].append(queue_id)
    if result['deferred_transports'] and not result['drained']:
        module.warn('Postfix was restarted while delivery agents still ran (drain_timeout %ss): a message they were '
                    'sending may be delivered twice' % timeout)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
