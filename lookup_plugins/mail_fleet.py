# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: mail_fleet
author: mailforge team (!UNKNOWN)
version_added: 0.2.0
short_description: The part of the current host in the mail fleet (MX, mailbox host, or both)
description:
  - Works out, on the controller and before anything changes, what the current host does with
    the company's domains. Hosts of the inventory group C(mx_hosts) receive mail from the Internet
    and filter it; hosts of C(mailbox_hosts) deliver it. With neither group, every host of
    C(mail_servers) is both (the Handbook's single server).
  - An MX that does not hold a domain relays it to the domain's mailbox host (C(relay_domains),
    C(transport_maps) with C(relay:[fqdn])) and accepts only its known recipients
    (C(relay_recipient_maps)), built from the same data as the mailbox host's tables. A mailbox host
    that is not an MX accepts mail only from the MX hosts and C(mynetworks).
  - Every problem is reported at once, naming the culprit; the task using the lookup fails.
  - With the term C(parts), only C(mx) and C(mailbox) are returned, from the groups alone.
  - The other mail servers' names and addresses come from C(hostvars) (C(postfix_myhostname) or
    the inventory name; C(postfix_fleet_address) or C(ansible_host)).
options:
  _terms:
    description: Nothing for the whole plan, or C(parts).
    required: false
  mailbox_hosts:
    description: Mailbox host to its domains (C(postfix_fleet_mailbox_hosts)); empty means every domain goes to
      the one host of group C(mailbox_hosts).
    type: dict
    default: {}
  local_domains:
    description: Domains delivered to local users and aliases (C(postfix_mydestination_domains)).
    type: list
    elements: str
    default: []
  alias_domains:
    description: Virtual alias domains (C(virtual_domains_alias_domains)).
    type: list
    elements: str
    default: []
  mailbox_domains:
    description: Virtual mailbox domains (C(virtual_domains_mailbox_domains)).
    type: list
    elements: str
    default: []
  aliases:
    description: Local aliases (C(postfix_aliases)); their names are recipients in every local domain.
    type: dict
    default: {}
  local_recipients:
    description: Local users that receive mail (C(postfix_local_recipients)).
    type: list
    elements: str
    default: []
  virtual_aliases:
    description: Virtual aliases (C(virtual_domains_aliases)), as a dict or a list of C({address, targets}).
    type: raw
    default: {}
  virtual_mailboxes:
    description: Virtual mailboxes (C(virtual_domains_mailboxes)), as a dict or a list of C({address, path}).
    type: raw
    default: {}
  layers:
    description: The user's main.cf layers by variable name, checked for a relayed domain they deliver locally.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Work out this host's part in the fleet
  ansible.builtin.set_fact:
    fleet: >-
      {{ lookup('mailforge.postfix.mail_fleet', mailbox_hosts=postfix_fleet_mailbox_hosts,
                local_domains=postfix_mydestination_domains, aliases=postfix_aliases) }}
"""

RETURN = r"""
_raw:
  description:
    - One dictionary; keys C(mx), C(mailbox), C(local_domains), C(relay_domains), C(transport)
      (domain to next hop), C(relay_recipients) (addresses and C(@domain) keys),
      C(trusted_networks) (MX addresses a mailbox host lets in), C(relay_restrictions) (for a
      mailbox host that is not an MX, else null) and C(virtual) (the virtual domain data delivered here).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mailforge.postfix.plugins.module_utils.mail_fleet import (
    FLEET_GROUP, FleetError, node, parts, plan)
from ansible_collections.mailforge.postfix.plugins.plugin_utils.templated import plain


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        host = str(variables['inventory_hostname'])
        groups = {str(name): [str(member) for member in members]
                  for name, members in variables['groups'].items()}
        try:
            if terms == ['parts']:
                is_mx, is_mailbox = parts(host, groups)
                return [dict(mx=is_mx, mailbox=is_mailbox)]
            if terms:
                raise AnsibleError('mail_fleet: the only term is "parts"')
            self.set_options(var_options=variables, direct=kwargs)
            options = {name: plain(self.get_option(name)) for name in (
                'local_domains', 'alias_domains', 'mailbox_domains', 'aliases', 'local_recipients',
                'virtual_aliases', 'virtual_mailboxes', 'layers')}
            return [plan(host, groups, self._nodes(variables, groups), plain(self.get_option('mailbox_hosts')),
                         **options)]
        except FleetError as error:
            raise AnsibleError(str(error)) from None

    @staticmethod
    def _nodes(variables, groups):
        hostvars = variables['hostvars']
        return {name: node(hostvars[name], name) for name in groups.get(FLEET_GROUP, [])}
