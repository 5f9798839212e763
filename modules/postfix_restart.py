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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_drain import PostfixRestart


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type='path', default='/etc/postfix'),
            unit=dict(type='str', default='postfix.service'),
            drain_timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    if module.check_mode:
        module.exit_json(changed=True, drained=False, deferred_transports=[], flushed=[])
    result = PostfixRestart(module, module.params['config_dir']).restart(
        module.params['unit'], module.params['drain_timeout'])
    module.exit_json(changed=True, **result)


if __name__ == '__main__':
    main()
