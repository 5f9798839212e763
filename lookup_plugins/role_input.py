# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: role_input
author: mailforge team (!UNKNOWN)
version_added: 0.2.0
short_description: The problems of a role's input, checked on the controller without the host
description:
  - Runs the checks of the named roles that need no host, on the role's variables as the current task sees them
    (inventory, extra vars, role defaults and role vars), and returns every problem found, each a message naming
    the culprit; nothing means the input is good. Nothing is read from or changed on any host.
  - Each role runs its own checks first (its C(tasks/check.yml)); the site playbook's first play runs them for every
    role on every host before any role changes anything.
  - C(postfix) - the setup type and the relay restrictions (C(smtpd_relay_restrictions) must stop relaying alone).
  - C(greylisting) - listen address, whitelists, reply text; with sqlgrey its database settings.
  - C(greylist_db) - the database's names, password, port, addresses and clients.
  - C(smtpd_restrictions) - the restriction lists, access tables, RBL zones and restriction classes, with the
    restriction model of M(mailforge.postfix.smtpd_restrictions), against every supported Postfix (3.7 and 3.10)
    and its default table type (hash, lmdb; or C(default_database_type) of a C(main.cf) layer); a problem only some
    of them have, and a class named like a Postfix parameter, are left to the module, which checks with the host's
    Postfix before the role writes anything.
  - C(virtual_domains) - the virtual domain data, with the model of M(mailforge.postfix.virtual_domains), against
    C(mydestination) as the postfix role plans it; the module checks against the host's C(main.cf) before the role
    writes anything.
  - C(content_filters) - the rules' shape, delimiters, duplicates and actions, as M(mailforge.postfix.postfix_map)
    checks them; the module compiles the patterns with the host's Postfix before it writes a table.
  - C(antivirus) - the milter socket, the signature source, and the signature files on the controller.
  - C(sasl_auth) - C(permit_sasl_authenticated) before the relay guard in the relay and recipient lists that the
    postfix and smtpd_restrictions roles will write.
  - C(fail2ban) - when enabled, the retry count, the find and ban times (fail2ban durations), the ignored addresses
    (IP addresses or networks), the ports and the ban action of the jail the role writes.
  - C(dkim_signing) - the milter sockets (signer and, with C(dkim_signing_verify), verifier), key file path,
    authserv-id and canonicalization; the domains to sign and
    those of C(dkim_keys_domains) against the fleet's domains; each selector C(dkim_keys_domains) asks for (a DNS
    label, rsa of 2048 to 8192 bits or ed25519). The key file itself is checked by the dkim_signing lookup.
  - C(spf_policy) - the skipped addresses and authserv-id; C(spf_policy_check) in C(smtpd_restrictions_recipient)
    after C(reject_unauth_destination) when enabled, and no SPF policy service there when disabled.
  - C(dmarc) - the milter socket, authserv-ids and ignored networks; the DKIM and SPF headers' authserv-ids
    trusted; DKIM verification on when failures are rejected; the published policy C(dns_records_dmarc).
  - C(milters) - the milter chain of the milter roles' entries (names, sockets, outage actions, clients) and,
    when internal clients get a chain of their own, the internal networks (C(milters_internal_networks)).
options:
  _terms:
    description: Role names.
    required: true
"""

EXAMPLES = r"""
- name: Check the greylisting settings
  ansible.builtin.assert:
    that: problems == []
    fail_msg: "{{ problems | join('; ') }}"
    quiet: true
  vars:
    problems: "{{ query('mailforge.postfix.role_input', 'greylisting') }}"
"""

RETURN = r"""
_raw:
  description: Every problem of the roles' input, one message each; empty when there is none.
  type: list
  elements: str
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mailforge.postfix.plugins.module_utils.role_input import OPTIONAL, VARIABLES, problems
from ansible_collections.mailforge.postfix.plugins.plugin_utils.templated import plain


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        found = []
        for role in terms:
            role = str(role)
            if role not in VARIABLES:
                raise AnsibleError('role_input: no checks for role %r; known: %s'
                                   % (role, ', '.join(sorted(VARIABLES))))
            values = {}
            for name in VARIABLES[role]:
                if name not in variables:
                    if name in OPTIONAL.get(role, ()):
                        continue
                    raise AnsibleError('role_input: %s is not defined; check the %s role from inside it '
                                       '(its defaults and vars)' % (name, role))
                values[name] = plain(self._templar.template(variables[name]))
            found.extend(problems(role, values))
        return found
