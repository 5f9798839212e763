# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of mailforge.postfix.dkim_keys: the fleet's DKIM key file, on the controller only.

It runs in the controller's process because the key file is encrypted with
the run's vault secrets, which never leave it. Nothing is sent to a host.
The result holds the public side of the key set only.
"""

from __future__ import annotations

import datetime

import yaml

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_keyset import (
    KeySetError, ensure, public_view, publish, retire, switch)
from ansible_collections.mailforge.postfix.plugins.module_utils.mail_fleet import domain_kinds
from ansible_collections.mailforge.postfix.plugins.plugin_utils import dkim_keyfile
from ansible_collections.mailforge.postfix.plugins.plugin_utils.dkim_keygen import generate

ARGUMENT_SPEC = dict(
    path=dict(type='path', required=True),
    step=dict(type='str', default='ensure', choices=['ensure', 'publish', 'switch', 'retire', 'show']),
    domains=dict(type='dict', default={}),
    local_domains=dict(type='list', elements='str', default=[]),
    alias_domains=dict(type='list', elements='str', default=[]),
    mailbox_domains=dict(type='list', elements='str', default=[]),
    domain=dict(type='str'),
    selector=dict(type='str'),
    algorithm=dict(type='str', default='rsa'),
    bits=dict(type='int'),
    grace_days=dict(type='int', default=7),
)
REQUIRED = {'publish': ('domain', 'selector'), 'switch': ('domain', 'selector'), 'retire': ('domain', 'selector')}


def _plain(value):
    """Plain Python data of a templated value (ansible-core tags the strings it templates)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


def apply_step(keyset, args, fleet_domains, today, generate_key=generate):
    """(new key set, change messages) of one step; KeySetError naming the culprit."""
    step = args['step']
    missing = [name for name in REQUIRED.get(step, ()) if not args.get(name)]
    if missing:
        raise KeySetError(['step %s needs %s' % (step, ' and '.join(missing))])
    if step == 'show':
        return keyset, []
    if step == 'ensure':
        return ensure(keyset, args['domains'], fleet_domains, generate_key, today)
    if step == 'publish':
        spec = {'selector': args['selector'], 'algorithm': args['algorithm']}
        if args.get('bits') is not None:
            spec['bits'] = args['bits']
        return publish(keyset, args['domain'], spec, fleet_domains, generate_key, today)
    if step == 'switch':
        return switch(keyset, args['domain'], args['selector'], today)
    return retire(keyset, args['domain'], args['selector'], today, args['grace_days'])


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        args = _plain(dict(args))
        fleet_domains = set(domain_kinds(args['local_domains'], args['alias_domains'], args['mailbox_domains']))
        secrets = self._loader._vault.secrets    # the run's vault secrets; DataLoader keeps them here
        today = datetime.datetime.now(datetime.timezone.utc).date()
        try:
            before = dkim_keyfile.read(args['path'], secrets)
            after, changes = apply_step(before, args, fleet_domains, today)
            if changes and not self._task.check_mode:
                dkim_keyfile.write(args['path'], after, secrets)
        except ValueError as error:    # KeySetError, or cryptography missing: messages without key material
            raise AnsibleActionFail(str(error)) from None
        result.update(changed=bool(changes), changes=changes, selectors=public_view(after))
        if self._task.diff and changes:
            # States and public keys only: the diff is printed with --diff.
            result['diff'] = dict(before=yaml.safe_dump(public_view(before), default_flow_style=False),
                                  after=yaml.safe_dump(public_view(after), default_flow_style=False),
                                  before_header=args['path'] + ' (public view)',
                                  after_header=args['path'] + ' (public view)')
        return result
