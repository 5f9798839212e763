#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: smtpd_restrictions
short_description: Plan the Postfix SMTP server's restriction lists, access tables and classes
description:
  - Checks the C(smtpd_*_restrictions) lists and restriction classes before anything changes on the
    host, and renders them as C(main.cf) parameters for M(mailforge.postfix.postconf) and the access
    tables, with their entries, for M(mailforge.postfix.postfix_map). Nothing on the host is changed;
    the result is never C(changed), and the same input gives the same result.
  - The one owner of the restriction model. The roles hand over their variables as written (lists
    that name access tables by name, the tables' entries, RBL zones, classes, the recipient class
    table) and write what comes back; the lists another task writes (O(other_lists)) are checked with
    them but not returned.
  - Every problem is collected and reported together, each naming the list (or class), the
    position of the item (from 1) and the item. The task fails when there is one.
  - Restriction names are checked against the restrictions of the Postfix version on the host
    (C(postconf -h mail_version)). Old names that Postfix still accepts, such as
    C(reject_unknown_client) or C(reject_invalid_hostname), give a warning that names the current
    name. C(check_relay_domains), C(reject_maps_rbl) and C(permit_naked_ip_address) give a warning
    before Postfix 3.9 and are refused from 3.9, which removed them. C(permit_mx_backup) gives a
    warning from Postfix 3.9, which deprecated it.
  - Restrictions that need an argument must have exactly one, of the right form; a lookup table is
    C(type:name), a policy service C(inet:host:port) or C(unix:path), optionally in C({...}) with
    per-service settings. C(warn_if_reject) must be followed, in the same item, by a reject-type
    restriction, an access table, a policy service or a restriction class.
  - Access tables must be listed in O(tables), except C(inline:) and C(static:) tables, which carry
    their own content. The C(*_a_access), C(*_mx_access), C(*_ns_access) and
    C(check_reverse_client_hostname_*) tables must not answer C(OK), which Postfix refuses.
  - Restriction classes must not take the name of a Postfix parameter (read with C(postconf -d)) or
    of a restriction, must not be empty, must not use themselves (also through a table in
    O(table_actions)), and every class that an item or a table action uses must be defined.
  - Open relay guard. At RCPT TO Postfix applies C(smtpd_relay_restrictions) and
    C(smtpd_recipient_restrictions); mail must pass both. At least one of the two must be guarded,
    that is, read in order with restriction classes expanded in place, reach
    C(reject_unauth_destination), C(defer_unauth_destination), C(reject), C(defer) or
    C(defer_if_permit) before any restriction that can permit a client that is not trusted. Only
    C(permit_mynetworks), C(permit_sasl_authenticated), C(permit_tls_clientcerts),
    C(permit_tls_all_clientcerts), C(permit_inet_interfaces), C(permit_auth_destination),
    C(permit_dnswl_client), C(permit_rhswl_client) and the client-identity tables
    C(check_client_access), C(check_ccert_access) and C(check_sasl_access) may come before it. Any
    other access table is assumed to be able to answer C(OK) unless O(table_actions) says what it
    answers; C(check_policy_service), C(permit), C(permit_mx_backup) and classes that reach one of
    those open the relay. C(warn_if_reject reject_unauth_destination) guards nothing.
  - The guard is checked whenever one of the two lists is given, in O(lists) or O(other_lists). A list
    that is not given counts as unguarded, because this module does not read live values; pass both.
  - The relay guards are the five that Postfix itself requires one of (postconf(5),
    C(smtpd_relay_restrictions)); every role of the collection takes them from this module.
  - O(permit_before_guard) names permits, such as C(permit_sasl_authenticated), that must come
    before the first relay guard of each relay list that has one, or the clients they permit could
    not relay.
version_added: 0.1.0
author: mailforge team (!UNKNOWN)
options:
  config_dir:
    description: Postfix configuration directory, for C(postconf -c).
    type: path
    default: /etc/postfix
  lists:
    description:
      - Restriction list name to the ordered list of its restrictions, one restriction with its
        argument per item, for example C(permit_mynetworks),
        C(warn_if_reject reject_unknown_client_hostname),
        C(check_client_access hash:/etc/postfix/access_clientip),
        C(reject_rbl_client zen.example=127.0.0.2) or C(check_policy_service inet:127.0.0.1:10023).
      - Names are C(smtpd_client_restrictions), C(smtpd_helo_restrictions),
        C(smtpd_sender_restrictions), C(smtpd_relay_restrictions), C(smtpd_recipient_restrictions),
        C(smtpd_data_restrictions), C(smtpd_end_of_data_restrictions) and C(smtpd_etrn_restrictions).
      - An empty list renders as an empty value. Lists that are not given are not rendered.
      - An access check may name a table of O(access_tables) by its name, for example
        C(check_helo_access access_helo); it becomes the table's reference.
    type: dict
    default: {}
  other_lists:
    description:
      - Restriction lists that another task writes, in the form of O(lists), for example
        C(smtpd_relay_restrictions), which the postfix role writes. They are checked with O(lists),
        so that the open relay guard and O(permit_before_guard) see both relay lists, but they are
        not in RV(parameters). A list may be in O(lists) or here, not both.
    type: dict
    default: {}
    version_added: 0.2.0
  access_tables:
    description:
      - Access tables this module plans, table name to its entries (lookup key to access(5) action,
        for example C(OK), C(REJECT text) or C(DUNNO)). Each table is
        C(MAP_TYPE:CONFIG_DIR/NAME), with the type of O(map_type); the lists and classes name it by
        its name. Its actions are the table's actions for the open relay guard.
      - RV(maps) returns each one, whole, to write; entries removed here disappear from the table.
    type: dict
    default: {}
    version_added: 0.2.0
  rbl_domains:
    description: RBL zones, each added at the end of C(smtpd_client_restrictions) as C(reject_rbl_client ZONE).
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  permit_before_guard:
    description:
      - Restrictions that must come before the first relay guard of C(smtpd_relay_restrictions) and of
        C(smtpd_recipient_restrictions), in every one of them that has a guard, for example
        C(permit_sasl_authenticated), without which authenticated clients could not relay.
      - Checked on O(lists), O(other_lists) and O(read_lists).
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  read_lists:
    description:
      - Restriction lists to read from the host (C(postconf -xh)), as Postfix uses them whoever wrote
        them. They are checked for O(permit_before_guard) only, and never returned.
    type: list
    elements: str
    choices: [smtpd_relay_restrictions, smtpd_recipient_restrictions]
    default: []
    version_added: 0.2.0
  map_type:
    description:
      - Lookup table type of O(access_tables) and of a recipient class table given by name. By default
        the host's C(default_database_type).
    type: str
    version_added: 0.2.0
  classes:
    description:
      - Restriction class name to its ordered list of restrictions (C(smtpd_restriction_classes)).
        A class name is valid wherever a restriction is, and as an access table action.
    type: dict
    default: {}
  tables:
    description:
      - Lookup tables the caller defines (manages), for example C(hash:/etc/postfix/access_helo).
        An access restriction that names any other table is refused.
    type: list
    elements: str
    default: []
  table_actions:
    description:
      - Table reference to the actions (right-hand sides) the table can answer, for example
        C([OK, REJECT, permissive]). Used by the open relay guard; a table that is not described here
        is assumed to be able to answer C(OK). The actions of C(inline:) and C(static:) tables are
        read from the reference itself.
    type: dict
    default: {}
  recipient_classes:
    description:
      - Per-recipient restriction classes (Debian Handbook 11.1.5), applied in
        C(smtpd_recipient_restrictions). When given, the classes are managed whole, so live classes
        (C(smtpd_restriction_classes)) that are no longer in O(classes) are removed, and
        C(smtpd_restriction_classes) itself when no class is left.
      - The lookup of O(recipient_classes.table), then the O(recipient_classes.default) class, are added
        at the end of C(smtpd_recipient_restrictions), after the relay guard and every hard rejection,
        so that greylisting never delays mail that would be refused anyway. The open relay guard then
        checks the result as usual.
    type: dict
    suboptions:
      table:
        description:
          - File name of the recipient access table under O(config_dir), for example C(recipient_classes),
            planned like the tables of O(access_tables) (RV(maps) returns it with its entries); or a
            reference such as C(hash:/etc/postfix/recipient_classes) to a table the caller writes.
        type: str
        required: true
      recipients:
        description:
          - Recipient address, C(user@) local part or domain (which also covers its subdomains) to a class
            in O(classes) or an access(5) action such as C(OK) or a restriction such as
            C(reject_unverified_sender). Keys that differ only in case are refused.
          - RV(recipient_table) names the table in use.
        type: dict
        default: {}
      default:
        description: Class for every recipient that the table does not decide; empty for none.
        type: str
        default: ''
  postfix_version:
    description:
      - The Postfix version to check against, for example C(3.7.11). By default it is read from the
        host with C(postconf -h mail_version).
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Requires C(postconf) on the target unless O(postfix_version) is given and O(classes),
    O(recipient_classes) and O(read_lists) are empty, and O(map_type) is given or no table is named by name.
    Commands run with C(LC_ALL=C).
  - Postfix itself accepts every restriction in every list (with the default
    C(smtpd_delay_reject=yes) the client, HELO and sender lists are evaluated at RCPT TO), so the only
    list-specific refusal is a bare C(type:table) item in C(smtpd_data_restrictions) or
    C(smtpd_end_of_data_restrictions). Elsewhere a bare table means the list's default access check
    and gives a warning.
  - Warnings are emitted as task warnings, which ansible-core also returns as C(warnings) (only when
    there is one), and are always returned in RV(restriction_warnings); ansible-core 2.19 deprecates
    passing C(warnings) to the result directly.
seealso:
  - module: mailforge.postfix.postconf
  - module: mailforge.postfix.postfix_map
"""

EXAMPLES = r"""
- name: Plan the restrictions of Debian Handbook 11.1.3 with their access tables
  mailforge.postfix.smtpd_restrictions:
    lists:
      smtpd_client_restrictions: [permit_mynetworks, check_client_access access_clientip]
      smtpd_helo_restrictions: [permit_mynetworks, check_helo_access access_helo]
      smtpd_recipient_restrictions: [permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination]
    other_lists:
      smtpd_relay_restrictions: [permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination]
    access_tables:
      access_clientip: {192.0.2.7: REJECT}
      access_helo: {falcot.com: "554 You are not in our network!"}
    rbl_domains: [zen.spamhaus.org]
  register: planned

- name: Write the access tables
  mailforge.postfix.postfix_map:
    path: "{{ item.path }}"
    type: "{{ item.type }}"
    entries: "{{ item.entries }}"
  loop: "{{ planned.maps }}"

- name: Check that authenticated clients may relay, in the lists the host uses
  mailforge.postfix.smtpd_restrictions:
    read_lists: [smtpd_relay_restrictions, smtpd_recipient_restrictions]
    permit_before_guard: [permit_sasl_authenticated]

- name: Check the restrictions of Debian Handbook 11.1.3 and 11.1.5
  mailforge.postfix.smtpd_restrictions:
    lists:
      smtpd_client_restrictions:
        - permit_mynetworks
        - warn_if_reject reject_unknown_client_hostname
        - check_client_access hash:/etc/postfix/access_clientip
        - reject_rbl_client zen.spamhaus.org
      smtpd_relay_restrictions: [permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination]
      smtpd_recipient_restrictions:
        - permit_mynetworks
        - reject_unauth_destination
        - check_recipient_access hash:/etc/postfix/recipient_access
      smtpd_data_restrictions: [reject_unauth_pipelining]
    classes:
      greylisting: [check_policy_service inet:127.0.0.1:10023]
      permissive: [permit]
    tables:
      - hash:/etc/postfix/access_clientip
      - hash:/etc/postfix/recipient_access
    table_actions:
      hash:/etc/postfix/recipient_access: [permissive, greylisting, reject_unverified_sender]
  register: restrictions

- name: Write them
  mailforge.postfix.postconf:
    parameters: "{{ restrictions.parameters }}"
  notify: Reload postfix
"""

RETURN = r"""
parameters:
  description:
    - C(main.cf) parameters for M(mailforge.postfix.postconf), each list joined with C(", ").
    - C(smtpd_restriction_classes) (the class names) and one parameter per class appear only when
      O(classes) is given.
  returned: success
  type: dict
  sample:
    smtpd_recipient_restrictions: permit_mynetworks, reject_unauth_destination, permissive
    smtpd_restriction_classes: permissive
    permissive: permit
maps:
  description:
    - The tables of O(access_tables), in the order given, then the recipient class table when
      O(recipient_classes.table) is a name, each whole with its entries, for M(mailforge.postfix.postfix_map).
  returned: success
  type: list
  elements: dict
  version_added: 0.2.0
  sample:
    - name: access_helo
      path: /etc/postfix/access_helo
      type: hash
      entries: {falcot.com: "554 You are not in our network!"}
postfix_version:
  description: The Postfix version the lists were checked against.
  returned: always
  type: str
  sample: 3.10.13
restriction_warnings:
  description: Deprecated or old restriction names and other things that work but deserve a look.
  returned: always
  type: list
  elements: str
  sample:
    - "smtpd_helo_restrictions item 2 'reject_invalid_hostname': reject_invalid_hostname is the old name of
       reject_invalid_helo_hostname; Postfix 3.7.11 still accepts it, prefer reject_invalid_helo_hostname"
recipient_table:
  description: The table of O(recipient_classes) when it has recipients (the caller writes it), else null.
  returned: when O(recipient_classes) is given
  type: str
  sample: lmdb:/etc/postfix/recipient_classes
problems:
  description: Every problem found, when the task fails because of them.
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils import main_cf
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import (
    Postconf, PostfixCommandError)
from ansible_collections.mailforge.postfix.plugins.module_utils.smtpd_restrictions import (
    CLASSES_PARAMETER, RELAY_LISTS, RestrictionError, plan, tokens)


def check(postconf, lists, classes=None, tables=None, table_actions=None, postfix_version=None,
          recipient_classes=None, access_tables=None, rbl_domains=(), other_lists=None, permit_before_guard=(),
          read_lists=(), map_type=None, config_dir='/etc/postfix'):
    """Plan on the host behind ``postconf``; return the module result or raise RestrictionError.

    ``postconf`` is only asked for what the input needs: the version unless it
    is given, the parameter names when there are classes, default_database_type
    when a table is named by name and ``map_type`` is not given, the lists of
    ``read_lists``, and the live class names when ``recipient_classes`` says
    that the classes are managed whole.
    """
    classes = classes or {}
    recipient_table = (recipient_classes or {}).get('table') or ''
    if not map_type and (access_tables or (recipient_classes is not None and ':' not in recipient_table)):
        map_type = postconf.value('default_database_type')
    version = postfix_version or postconf.value('mail_version')
    names = main_cf.parse_parameters(postconf.defaults()).keys() if classes else ()
    read = {name: postconf.value(name, expand=True) for name in read_lists or ()}
    try:
        result = plan(lists, classes, access_tables, rbl_domains, tables, table_actions, recipient_classes,
                      other_lists, permit_before_guard, read, version, names, map_type, config_dir)
    except RestrictionError as error:
        error.postfix_version = version
        raise
    if recipient_classes is not None:
        result['parameters'].update(stale_classes(postconf.value(CLASSES_PARAMETER), classes))
    return dict(result, changed=False, postfix_version=version)


def stale_classes(live, classes):
    """Parameters that remove the live classes no longer defined (and the class list when none is left)."""
    gone = {name: None for name in tokens(live)[0] if name not in classes}
    if not classes:
        gone[CLASSES_PARAMETER] = None
    return gone


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type='path', default='/etc/postfix'),
            lists=dict(type='dict', default={}),
            other_lists=dict(type='dict', default={}),
            classes=dict(type='dict', default={}),
            access_tables=dict(type='dict', default={}),
            rbl_domains=dict(type='list', elements='str', default=[]),
            tables=dict(type='list', elements='str', default=[]),
            table_actions=dict(type='dict', default={}),
            permit_before_guard=dict(type='list', elements='str', default=[]),
            read_lists=dict(type='list', elements='str', default=[], choices=list(RELAY_LISTS)),
            map_type=dict(type='str'),
            postfix_version=dict(type='str'),
            recipient_classes=dict(type='dict', options=dict(
                table=dict(type='str', required=True),
                recipients=dict(type='dict', default={}),
                default=dict(type='str', default=''),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    needs_postconf = (not params['postfix_version'] or params['classes'] or params['recipient_classes']
                      or params['read_lists'] or ((params['access_tables']) and not params['map_type']))
    binary = module.get_bin_path('postconf', required=True) if needs_postconf else 'postconf'
    postconf = Postconf(module.run_command, binary, params['config_dir'])
    try:
        result = check(postconf, params['lists'], params['classes'], params['tables'], params['table_actions'],
                       params['postfix_version'], params['recipient_classes'], params['access_tables'],
                       params['rbl_domains'], params['other_lists'], params['permit_before_guard'],
                       params['read_lists'], params['map_type'], params['config_dir'])
    except RestrictionError as error:
        for warning in error.warnings:
            module.warn(warning)
        module.fail_json(msg=str(error), problems=error.problems, restriction_warnings=error.warnings,
                         postfix_version=getattr(error, 'postfix_version', None))
    except (ValueError, PostfixCommandError) as error:
        module.fail_json(msg=str(error))
    for warning in result['restriction_warnings']:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
