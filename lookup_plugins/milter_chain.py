# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: milter_chain
author: mailforge team (!UNKNOWN)
version_added: 0.3.0
short_description: Postfix's milter lists from the milter roles' entries, in the mail's order
description:
  - Takes the entries of the milter roles (C(antivirus_milter), C(dkim_signing_milter), C(dmarc_milter); a role
    not in the play gives null) and returns C(smtpd_milters) and C(non_smtpd_milters) in a fixed order -
    ClamAV, then DKIM, then DMARC, which reads the DKIM result - each milter written as
    C({ SOCKET, default_action=ACTION }) so that it keeps its own outage behaviour (Postfix 3.0 and later); the
    global C(milter_default_action) is the first milter's choice, and a milter with that choice is written plainly.
  - An entry may be for some clients only (C(clients)) - C(internal), the senders the fleet vouches for (clients in
    C(mynetworks) and the SASL-authenticated submission service), or C(external), every other SMTP client; C(all)
    (default) is both. Then C(smtpd_milters) is the external clients' chain, C(internal_milters) the internal
    ones' (for the submission service's C(-o smtpd_milters)), and C(smtpd_milter_map) the lines of a cidr table
    for C(smtpd_milter_maps) (Postfix 3.2 and later) giving each of O(internal_networks) the internal chain
    (C(DISABLE) when it is empty). One role may list an internal and an external entry under its name.
  - Also returns C(stop_units), the units of milters whose role is disabled, to stop once Postfix no longer
    uses them.
  - Refuses, naming the milter, an unknown name, a socket not in Postfix's notation, two milters on one
    socket, an unknown default action or clients, an external milter for C(non_smtpd_milters) (mail from the
    host itself is internal), and, when the chains differ, an internal network that is no address or network.
options:
  _terms:
    description:
      - The entries, C({name, state, socket, default_action, clients, smtpd, non_smtpd, units}) or null.
    required: true
  default_action:
    description: The outage choice of an entry without its own (C(milters_default_action)).
    type: str
  internal_networks:
    description:
      - The networks whose clients are internal (C(milters_internal_networks), Postfix's C(mynetworks)), in
        Postfix's notation (C([::1]/128)); written as cidr keys (C(::1/128)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Work out the milter lists
  ansible.builtin.set_fact:
    chain: >-
      {{ lookup('mailforge.postfix.milter_chain', antivirus_milter, dkim_signing_milter,
                dkim_signing_verify_milter, dmarc_milter, internal_networks=postfix_mynetworks) }}
"""

RETURN = r"""
_raw:
  description:
    - One dictionary with C(smtpd_milters), C(internal_milters) and C(non_smtpd_milters) (lists or null),
      C(split) (whether the internal chain differs from C(smtpd_milters)), C(smtpd_milter_map) (list of
      C({key, value}) for a cidr table, null when nothing is split), C(milter_default_action) (the first
      milter's choice, null without milters; a milter with the same choice is written without braces) and
      C(stop_units).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mailforge.postfix.plugins.module_utils.milter_chain import ChainError, chain
from ansible_collections.mailforge.postfix.plugins.plugin_utils.templated import plain


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        try:
            return [chain([plain(term) for term in terms], default_action=self.get_option('default_action'),
                          internal_networks=[str(network) for network in self.get_option('internal_networks') or []])]
        except ChainError as error:
            raise AnsibleError(str(error)) from None
