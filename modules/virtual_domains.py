#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: virtual_domains
short_description: Validate virtual alias and mailbox domains and render their Postfix tables
description:
  - Checks the virtual domain data model before anything changes on the host and renders the
    C(virtual_*) parameters for M(mailforge.postfix.postconf) and the entries of the alias and
    mailbox tables for M(mailforge.postfix.postfix_map). Nothing on the host is changed; the
    result is never C(changed).
  - Every problem is collected and reported together. Refused are domain names that are not
    domains, a domain listed twice, in both classes, or also in C(mydestination) (read from the
    host with C(postconf -xh mydestination)); addresses that are neither C(local@domain) nor a
    catch-all C(@domain), or whose domain this host does not receive mail for; two keys that
    differ only in case (Postfix looks them up in lower case); alias targets that are not
    addresses; mailbox paths that are absolute, contain C(.) or C(..) parts or odd characters;
    two mailboxes with one path; an alias that would take all the mail of a mailbox of the same
    address without keeping a copy; a uid or gid below C(virtual_minimum_uid).
  - A mailbox path that ends in C(/) is a maildir, any other an mbox file, as virtual(8) decides.
  - A catch-all alias of a mailbox domain would also take the mail of its mailboxes, because
    Postfix reads C(virtual_alias_maps) first. The module adds an identity alias for each such
    mailbox, as Postfix's VIRTUAL_README advises.
  - A domain without a C(postmaster@) address or catch-all gives a warning.
version_added: 0.1.0
author: mailforge team (!UNKNOWN)
options:
  alias_domains:
    description: Virtual alias domains; all their mail is forwarded by O(aliases).
    type: list
    elements: str
    default: []
  aliases:
    description:
      - Address (or catch-all C(@domain)) to one target address or a list of them, as a dict, or
        a list of C({address, targets}) items. A bare target name (no C(@)) is completed by Postfix
        with C($myorigin).
      - Keys may belong to an alias domain, a mailbox domain or a C(mydestination) domain.
    type: raw
    default: {}
  mailbox_domains:
    description: Virtual mailbox domains, delivered by virtual(8) under O(mailbox_base).
    type: list
    elements: str
    default: []
  mailboxes:
    description:
      - Address to mailbox path relative to O(mailbox_base), as a dict, or a list of
        C({address, path}) items. End the path with C(/) for a maildir.
    type: raw
    default: {}
  mailbox_base:
    description: Directory under which every mailbox path lives (C(virtual_mailbox_base)).
    type: path
    default: /var/mail/vhosts
  uid:
    description: Owner of every virtual mailbox (C(virtual_uid_maps = static:uid)).
    type: int
    default: 5000
  gid:
    description: Group of every virtual mailbox (C(virtual_gid_maps = static:gid)).
    type: int
    default: 5000
  map_type:
    description: Lookup table type of the alias and mailbox tables; default C(default_database_type).
    type: str
  elsewhere_domains:
    description:
      - Domains of the data that another host delivers, such as the domains an MX relays to its mailbox
        host. Their entries are checked like the others, so bad input fails on every host, but they are
        left out of the parameters and tables of this host. A local domain listed here still takes aliases.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  config_dir:
    description: Postfix configuration directory, where the tables live and for C(postconf -c).
    type: path
    default: /etc/postfix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Removing an address or a domain removes it from the tables. Mail already delivered to a
    mailbox stays on disk; delete it by hand when it is no longer needed.
seealso:
  - module: mailforge.postfix.postfix_map
  - module: mailforge.postfix.postconf
"""

EXAMPLES = r"""
- name: Check the virtual domains
  mailforge.postfix.virtual_domains:
    alias_domains: [falcot.org]
    aliases:
      webmaster@falcot.org: jean@falcot.com
      contact@falcot.org: [laure@falcot.com, sophie@falcot.com]
      "@falcot.org": rmas@falcot.com
    mailbox_domains: [falcot.net]
    mailboxes:
      jean@falcot.net: falcot.net/jean/
      sophie@falcot.net: falcot.net/sophie
  register: virtual

- name: Write the alias table
  mailforge.postfix.postfix_map:
    path: /etc/postfix/virtual
    entries: "{{ virtual.alias_entries }}"
"""

RETURN = r"""
parameters:
  description: The C(virtual_*) parameters of main.cf.
  returned: success
  type: dict
  sample:
    virtual_alias_domains: [falcot.org]
    virtual_alias_maps: hash:/etc/postfix/virtual
    virtual_mailbox_domains: [falcot.net]
    virtual_mailbox_maps: hash:/etc/postfix/vmailbox
    virtual_mailbox_base: /var/mail/vhosts
    virtual_uid_maps: static:5000
    virtual_gid_maps: static:5000
alias_entries:
  description: Entries of the alias table, as C({key, value}) items.
  returned: success
  type: list
  elements: dict
mailbox_entries:
  description: Entries of the mailbox table, as C({key, value}) items.
  returned: success
  type: list
  elements: dict
mailbox_kinds:
  description: Mailbox address to C(maildir) or C(mbox).
  returned: success
  type: dict
  sample: {jean@falcot.net: maildir, sophie@falcot.net: mbox}
directories:
  description: The mailbox base and the parent directory of every mailbox, to create for the mailbox owner.
  returned: success
  type: list
  elements: str
  sample: [/var/mail/vhosts, /var/mail/vhosts/falcot.net]
problems:
  description: Every problem found, when the task fails because of them.
  returned: failure
  type: list
  elements: str
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import (
    Postconf, PostfixCommandError)
from ansible_collections.mailforge.postfix.plugins.module_utils.virtual_domains import (
    VirtualDomainsError, plan)


def check(postconf, params):
    """Validate against the host behind ``postconf``; return the module result or raise."""
    local_domains = [name for name in re.split(r'[\s,]+', postconf.value('mydestination', expand=True)) if name]
    result = plan(params['alias_domains'], params['aliases'], params['mailbox_domains'], params['mailboxes'],
                  local_domains=local_domains, mailbox_base=params['mailbox_base'], uid=params['uid'],
                  gid=params['gid'], minimum_uid=int(postconf.value('virtual_minimum_uid')),
                  map_type=params['map_type'] or postconf.value('default_database_type'),
                  config_dir=params['config_dir'], elsewhere_domains=params['elsewhere_domains'])
    return dict(result, changed=False)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            alias_domains=dict(type='list', elements='str', default=[]),
            aliases=dict(type='raw', default={}),
            mailbox_domains=dict(type='list', elements='str', default=[]),
            mailboxes=dict(type='raw', default={}),
            mailbox_base=dict(type='path', default='/var/mail/vhosts'),
            uid=dict(type='int', default=5000),
            gid=dict(type='int', default=5000),
            map_type=dict(type='str'),
            elsewhere_domains=dict(type='list', elements='str', default=[]),
            config_dir=dict(type='path', default='/etc/postfix'),
        ),
        supports_check_mode=True,
    )
    postconf = Postconf(module.run_command, module.get_bin_path('postconf', required=True),
                        module.params['config_dir'])
    try:
        result = check(postconf, module.params)
    except VirtualDomainsError as error:
        module.fail_json(msg=str(error), problems=error.problems)
    except (ValueError, PostfixCommandError) as error:
        module.fail_json(msg=str(error))
    for warning in result.pop('warnings'):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
