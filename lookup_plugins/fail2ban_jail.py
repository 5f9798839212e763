# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: fail2ban_jail
author: mailforge team (!UNKNOWN)
version_added: 0.3.0
short_description: The fail2ban files of the fail2ban role, from its variables
description:
  - Renders, from the fail2ban role's variables as the current task sees them (C(fail2ban_maxretry),
    C(fail2ban_findtime), C(fail2ban_bantime), C(fail2ban_ignoreip), C(fail2ban_ports), C(fail2ban_banaction)),
    the two files the role writes, as one dictionary of path to text.
  - C(/etc/fail2ban/jail.d/mailforge.conf) - the jail C(postfix-sasl) (Debian's filter C(postfix) in mode C(auth),
    reading the journal of C(postfix@-.service), banning with nftables), and the journal as the backend of Debian's
    C([sshd]) jail, which on Debian 12 would look for /var/log/auth.log and keep fail2ban from starting.
  - C(/etc/fail2ban/fail2ban.d/mailforge.conf) - fail2ban's own log in the journal.
  - Refuses, naming the variable, what the role_input lookup refuses for the role (a retry count below 1, a duration
    fail2ban cannot read, an ignored entry that is not an IP address or network, a port out of range, an unknown
    ban action). Nothing is read from or changed on any host.
options: {}
"""

EXAMPLES = r"""
- name: Write the jail
  ansible.builtin.copy:
    dest: "{{ item.key }}"
    content: "{{ item.value }}"
    mode: "0644"
  loop: "{{ lookup('mailforge.postfix.fail2ban_jail') | dict2items }}"
"""

RETURN = r"""
_raw:
  description: One dictionary, each file's path to its text.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mailforge.postfix.plugins.module_utils.fail2ban import VARIABLES, Fail2banError, files
from ansible_collections.mailforge.postfix.plugins.plugin_utils.templated import plain


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        missing = [name for name in VARIABLES if name not in variables]
        if missing:
            raise AnsibleError('fail2ban_jail: %s not defined; use it from inside the fail2ban role (its defaults)'
                               % ', '.join(missing))
        values = {name: plain(self._templar.template(variables[name])) for name in VARIABLES}
        try:
            return [files(values)]
        except Fail2banError as error:
            raise AnsibleError(str(error)) from None
