# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: dkim_signing
author: mailforge team (!UNKNOWN)
version_added: 0.3.0
short_description: What an MX needs to sign with dkimpy-milter, from the fleet's vault-encrypted DKIM key file
description:
  - Reads the key file that M(mailforge.postfix.dkim_keys) keeps (decrypted on the controller with the run's
    vault secrets; a file that is not vault-encrypted is refused) and works out, before any host changes,
    the key files, key tables and signing table of dkimpy-milter. Every MX gets the same plan, so one DNS
    record per selector serves the whole fleet.
  - Refuses, naming the culprit, a domain to sign that the fleet does not handle, a domain without keys,
    a damaged key file and a mix of algorithms dkimpy-milter 1.2.3 cannot sign with.
  - Without O(with_keys) the result holds no key material, so a task can show its errors; with it,
    C(key_files) holds the private keys, so use that only in tasks with C(no_log) set.
options:
  _terms:
    description: Path of the key file on the controller.
    required: true
  domains:
    description: The domains to sign (C(dkim_signing_domains)).
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
  key_dir:
    description: Directory of the key files on the hosts.
    type: str
    default: /etc/dkimpy-milter/keys
  with_keys:
    description: Return the private keys in C(key_files[].content); otherwise C(key_files) lists paths only.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Work out the signing plan
  ansible.builtin.set_fact:
    dkim_plan: >-
      {{ lookup('mailforge.postfix.dkim_signing', dkim_signing_keys_file, domains=dkim_signing_domains,
                local_domains=postfix_mydestination_domains) }}
  no_log: true
"""

RETURN = r"""
_raw:
  description:
    - One dictionary with C(key_files) (list of C({path, content}); content is a private key),
      C(key_table), C(key_table_ed25519) and C(signing_table) (lists of lines),
      C(signed) (domain to algorithm to selector) and C(unsigned) (domains whose keys do not sign yet).
  type: list
  elements: dict
"""

import os

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_keyset import KeySetError
from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_signing import plan
from ansible_collections.mailforge.postfix.plugins.module_utils.mail_fleet import domain_kinds
from ansible_collections.mailforge.postfix.plugins.plugin_utils import dkim_keyfile


def _strings(values):
    return [str(value) for value in values or []]


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        if len(terms) != 1:
            raise AnsibleError('dkim_signing: give the path of the key file, once')
        self.set_options(var_options=variables, direct=kwargs)
        path = str(terms[0])
        path = path if os.path.isabs(path) else os.path.abspath(path)
        fleet = set(domain_kinds(_strings(self.get_option('local_domains')),
                                 _strings(self.get_option('alias_domains')),
                                 _strings(self.get_option('mailbox_domains'))))
        try:
            keyset = dkim_keyfile.read(path, self._loader._vault.secrets)
            found = plan(keyset, _strings(self.get_option('domains')), fleet, str(self.get_option('key_dir')))
        except KeySetError as error:
            raise AnsibleError(str(error)) from None
        if not self.get_option('with_keys'):
            found['key_files'] = [dict(path=item['path']) for item in found['key_files']]
        return [found]
