# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: dns_records
author: mailforge team (!UNKNOWN)
version_added: 0.3.0
short_description: The DKIM, SPF and DMARC records of the fleet's domains, as zone-file and dnsmasq text
description:
  - For each domain, the DKIM TXT record of every selector that is published or signing in the fleet's key
    file (M(mailforge.postfix.dkim_keys); only public keys are read out of it), an SPF record listing the
    sending hosts' addresses, and a DMARC record with the given policy.
  - The sending hosts are the group C(mx_hosts) (or every host of C(mail_servers) without that group),
    each by C(postfix_fleet_address) or C(ansible_host), as the mail_fleet lookup reads them.
  - Refuses, naming the culprit, a domain the fleet does not handle, a host address that is not an IP
    address, a DMARC policy word that does not exist, a percentage outside 0-100, a report address that
    is not C(mailto:), an SPF term that is not a mechanism.
options:
  _terms:
    description: Path of the key file on the controller (it may not exist yet; then no DKIM records).
    required: true
  domains:
    description: The domains to write records for; empty means every domain of the fleet.
    type: list
    elements: str
    default: []
  local_domains:
    description: The fleet's local domains (C(postfix_mydestination_domains)).
    type: list
    elements: str
    default: []
  alias_domains:
    description: The fleet's virtual alias domains (C(virtual_domains_alias_domains)).
    type: list
    elements: str
    default: []
  mailbox_domains:
    description: The fleet's virtual mailbox domains (C(virtual_domains_mailbox_domains)).
    type: list
    elements: str
    default: []
  spf_extra:
    description: SPF mechanisms put after the hosts' addresses, such as C(include:_spf.example.net).
    type: list
    elements: str
    default: []
  spf_all:
    description: The closing C(all) term.
    type: str
    default: -all
  dmarc:
    description: The DMARC policy, C({policy, subdomain_policy, pct, rua, ruf, adkim, aspf}).
    type: dict
    default: {policy: none}
  ttl:
    description: TTL of the zone-file records.
    type: int
    default: 3600
"""

EXAMPLES = r"""
- name: Records of every domain of the fleet
  ansible.builtin.debug:
    msg: "{{ lookup('mailforge.postfix.dns_records', 'dkim_keys.vault.yml', local_domains=['falcot.test']) }}"
"""

RETURN = r"""
_raw:
  description: One dictionary, domain to C({zone, dnsmasq, records}); C(records) lists C([owner, value]).
  type: list
  elements: dict
"""

import os

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_keyset import (
    KeySetError, domain_problems, public_view)
from ansible_collections.mailforge.postfix.plugins.module_utils.dns_records import (
    RecordsError, dnsmasq_lines, records, zone_snippet)
from ansible_collections.mailforge.postfix.plugins.module_utils.mail_fleet import (
    FLEET_GROUP, MX_GROUP, domain_kinds, node)
from ansible_collections.mailforge.postfix.plugins.plugin_utils import dkim_keyfile
from ansible_collections.mailforge.postfix.plugins.plugin_utils.templated import plain


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        if len(terms) != 1:
            raise AnsibleError('dns_records: give the path of the key file, once')
        variables = variables or {}
        self.set_options(var_options=variables, direct=kwargs)
        option = {name: plain(self.get_option(name)) for name in (
            'domains', 'local_domains', 'alias_domains', 'mailbox_domains', 'spf_extra', 'spf_all', 'dmarc', 'ttl')}
        fleet = domain_kinds(option['local_domains'], option['alias_domains'], option['mailbox_domains'])
        domains = [name.lower() for name in option['domains']] or sorted(fleet)
        groups = variables.get('groups', {})
        senders = {str(name): node(variables['hostvars'][name], str(name))['address']
                   for name in (groups.get(MX_GROUP) or groups.get(FLEET_GROUP) or [])}
        path = str(terms[0])
        path = path if os.path.isabs(path) else os.path.abspath(path)
        try:
            problems = domain_problems(domains, set(fleet), 'dns_records_domains')
            if problems:
                raise RecordsError(problems)
            # Only the public side leaves this function.
            keyset = public_view(dkim_keyfile.read(path, self._loader._vault.secrets))
            found = records(domains, keyset, senders, option['spf_extra'], option['spf_all'], option['dmarc'])
        except (KeySetError, RecordsError) as error:
            raise AnsibleError(str(error)) from None
        return [{domain: dict(zone=zone_snippet(domain, entries, option['ttl']),
                              dnsmasq=dnsmasq_lines(domain, entries),
                              records=[list(entry) for entry in entries])
                 for domain, entries in found.items()}]
