# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' input checks that need no host, one owner each.

Each function takes the role's variables (name -> value, as the play sees
them: inventory, extra vars, role defaults and role vars) and returns the
problems, each a message naming the culprit; an empty list means the input is
good. Nothing here reads or changes a host, so the checks run on the controller:
in the role, before its first change, and in the site playbook's first play,
on every host before any role changes anything (lookup mailforge.postfix.role_input).

The restriction checks call the restriction model (smtpd_restrictions.plan), the
content filter checks the table model (lookup_table.desired_records), with what
the roles hand their modules. What only the host knows (its Postfix version,
default_database_type, the names ``postconf -d`` prints, the compiled patterns)
stays with the modules, which run it again in the role before its first write.
"""

from __future__ import annotations

import os
import posixpath
import re

from ansible_collections.mailforge.postfix.plugins.module_utils import fail2ban as fail2ban_jail
from ansible_collections.mailforge.postfix.plugins.module_utils import lookup_table
from ansible_collections.mailforge.postfix.plugins.module_utils import role_input_deliverability as deliverability
from ansible_collections.mailforge.postfix.plugins.module_utils.greylist_db import RULES as DB_RULES
from ansible_collections.mailforge.postfix.plugins.module_utils.smtpd_restrictions import (
    RestrictionError, plan as restriction_plan)
from ansible_collections.mailforge.postfix.plugins.module_utils.virtual_domains import (
    VirtualDomainsError, plan as virtual_plan)

# The Postfix versions of the supported targets (Debian 12 and 13). Restriction
# names differ between them (3.9 removed a few), so a list is refused here only
# when every one of them refuses it; the role's module checks the host's own.
SUPPORTED_POSTFIX = ('3.7', '3.10')
# The default_database_type of the supported targets (Debian 12 builds Postfix
# with hash, Debian 13 with lmdb): the tables a list names by name become
# TYPE:/etc/postfix/NAME with the host's. A list that names one of them by
# its reference is refused here only when it would be with either type.
SUPPORTED_MAP_TYPES = ('hash', 'lmdb')
# Where the type does not change the outcome (the permit order of the SASL check).
PLACEHOLDER_MAP_TYPE = 'hash'
# Where the roles have Postfix keep the tables they plan (the modules' config_dir).
CONFIG_DIR = '/etc/postfix'

# greylisting: one whitelist entry, a host or domain name, an IPv4/IPv6
# address or network, or a /regular expression/; a recipient entry, an
# address, "user@", a domain or a /regex/.
_LISTEN = re.compile(r'^[0-9A-Za-z.:\[\]-]+:[0-9]{1,5}$')
_CLIENT_ENTRY = re.compile(r'^(/.+/|[A-Za-z0-9_.-]+|[0-9.]+(/[0-9]{1,2})?|[0-9A-Fa-f:]+(/[0-9]{1,3})?)$')
_RECIPIENT_ENTRY = re.compile(
    r'^(/.+/|[A-Za-z0-9_.+=-]+@|[A-Za-z0-9_.+=-]+@[A-Za-z0-9.-]+|[A-Za-z0-9.-]+\.[A-Za-z]{2,})$')
_GREYLIST_TEXT = re.compile(r'["\\\n$`]')
_SQL_HOST = re.compile(r'^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*'
                       r'|[0-9A-Fa-f:]+)$')
# greylist_db: an IPv4 address, an IPv6 address, and either with a prefix length.
_IPV4 = r'(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}'
_IPV6 = r'[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}'
_ADDRESS = re.compile(r'^(%s|%s)$' % (_IPV4, _IPV6))
_NETWORK = re.compile(r'^(%s(/(3[0-2]|[12]?[0-9]))?|%s(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$' % (_IPV4, _IPV6))
# antivirus: file types clamd loads from its database directory.
SIGNATURE_SUFFIXES = ('cvd', 'cld', 'cud', 'hdb', 'hsb', 'hdu', 'hsu', 'mdb', 'msb', 'mdu', 'msu', 'ndb', 'ndu', 'ldb',
                      'ldu', 'idb', 'cdb', 'cfg', 'crb', 'cat', 'fp', 'sfp', 'ign', 'ign2', 'pdb', 'gdb', 'wdb', 'yar',
                      'yara', 'ftm', 'info')


def _int(value):
    """Jinja's int filter: the number, or 0."""
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return 0


def _port(value):
    return _int(value) in range(1, 65536)


def _jinja(value):
    """A value as Jinja prints it inside a message (lists as Python shows them)."""
    return '%s' % (value if not isinstance(value, (list, tuple)) else [str(item) for item in value],)


def _refused(values, pattern):
    return [str(value) for value in values or [] if not pattern.match(str(value))]


def postfix(v):
    """The postfix role's setup type."""
    if v['postfix_mailer_type'] in ('Internet Site', 'Internet with smarthost') and (
            v['postfix_mailer_type'] != 'Internet with smarthost' or len(v['postfix_relayhost'] or '') > 0):
        return []
    return ["postfix: postfix_mailer_type must be 'Internet Site' or 'Internet with smarthost' (the latter needs "
            "postfix_relayhost)."]


def relay(v, versions=SUPPORTED_POSTFIX):
    """The postfix role's smtpd_relay_restrictions (postfix__relay_restrictions), which must stop relaying alone."""
    found = restriction_problems(dict(lists={'smtpd_relay_restrictions': list(v['postfix__relay_restrictions'])}),
                                 versions)
    return ['postfix: postfix_smtpd_relay_restrictions refused: %s' % '; '.join(found)] if found else []


def greylisting(v):
    """The greylisting role's settings (the sqlgrey ones with greylisting_backend sqlgrey)."""
    problems = []
    clients = _refused(v['greylisting_whitelist_clients'], _CLIENT_ENTRY)
    recipients = _refused(v['greylisting_whitelist_recipients'], _RECIPIENT_ENTRY)
    text = v['greylisting_text']
    if not (_LISTEN.match(str(v['greylisting_listen'])) and _port(v['greylisting__port']) and not clients
            and not recipients and not _GREYLIST_TEXT.search(str(text))
            and (v['greylisting_backend'] == 'postgrey' or not v['greylisting_whitelist_recipients'])):
        problems.append(
            'greylisting: greylisting_listen must be HOST:PORT (got %s); whitelist entries refused: %s; '
            'greylisting_text must not contain quotes, backslashes, $ or backquotes; sqlgrey has no recipient '
            'whitelist (greylisting_whitelist_recipients), choose greylisted recipients with '
            'restriction_classes_recipients instead.' % (v['greylisting_listen'], _jinja(clients + recipients)))
    if v['greylisting_backend'] == 'sqlgrey' and not (
            _SQL_HOST.match(str(v['greylisting_sql_host'])) and _port(v['greylisting_sql_port'])
            and re.match(DB_RULES['identifier'], str(v['greylisting_sql_database']))
            and re.match(DB_RULES['identifier'], str(v['greylisting_sql_user']))
            and re.match(DB_RULES['password'], str(v['greylisting_sql_password']))
            and v['greylisting_sql_greymethod'] in ('smart', 'full', 'classc')
            and _int(v['greylisting_sql_retry_window']) > 0 and _int(v['greylisting_sql_connect_timeout']) > 0):
        problems.append(
            'greylisting: greylisting_sql_host must be a host name or an IP address (got %s), greylisting_sql_port '
            'a port, greylisting_sql_database and greylisting_sql_user lower-case identifiers, and '
            'greylisting_sql_password at least 16 letters, digits or punctuation other than quotes, backslash, #, $ '
            'and backquote.' % (v['greylisting_sql_host'] or '',))
    return problems


def greylist_db(v):
    """The greylist_db role's settings."""
    listen = _refused(v['greylist_db_listen_addresses'], _ADDRESS)
    clients = _refused(v['greylist_db_clients'], _NETWORK)
    if (re.match(DB_RULES['identifier'], str(v['greylist_db_name']))
            and re.match(DB_RULES['identifier'], str(v['greylist_db_user']))
            and re.match(DB_RULES['password'], str(v['greylist_db_password'])) and _port(v['greylist_db_port'])
            and v['greylist_db_listen_addresses'] and not listen and v['greylist_db_clients'] and not clients):
        return []
    return ['greylist_db: greylist_db_name and greylist_db_user must be lower-case identifiers (got %s, %s); '
            'greylist_db_password must have at least 16 letters, digits or punctuation other than quotes, '
            'backslash, #, $ and backquote; greylist_db_port must be a port; greylist_db_listen_addresses must list '
            'IP addresses and greylist_db_clients IP addresses or networks (refused: %s).'
            % (v['greylist_db_name'], v['greylist_db_user'], _jinja(listen + clients))]


def antivirus(v, exists=os.path.isfile):
    """The antivirus role's settings; ``exists`` tells whether a signature file is on the controller.

    The socket's grammar is the role's (antivirus__inet and antivirus__unix, parsed in its vars).
    """
    if not v['antivirus_enabled']:
        return []
    files = [str(path) for path in v['antivirus_signature_files'] or []]
    missing = [path for path in files if not exists(path)]
    suffixes = [re.sub(r'^.*\.', '', path) for path in files]
    bad_suffixes = [suffix for suffix in suffixes if suffix not in SIGNATURE_SUFFIXES]
    inet = v['antivirus__inet']
    if ((inet or v['antivirus__unix'])
            and (not inet or _port(inet[0]))
            and (v['antivirus_signature_source'] != 'freshclam' or v['antivirus_freshclam_mirrors'])
            and (v['antivirus_signature_source'] != 'files' or files)
            and not missing and not bad_suffixes):
        return []
    return ['antivirus: antivirus_milter_socket %s must be inet:PORT@ADDRESS or unix:/var/spool/postfix/...; the '
            'freshclam source needs antivirus_freshclam_mirrors (an air-gapped site lists its own mirror) and the '
            'files source needs antivirus_signature_files; signature files must exist on the controller and be '
            'ClamAV databases (%s refused).' % (v['antivirus_milter_socket'], _jinja(missing + bad_suffixes))]


def content_filters(v):
    """The content_filters role's rules: shape, delimiters, duplicates and actions (the host compiles them).

    The actions are the role's (content_filters__actions), which it also hands the postfix_map module.
    """
    problems = []
    for name in ('header_checks', 'body_checks'):
        try:
            lookup_table.desired_records(v['content_filters_table_type'], rules=v['content_filters_' + name],
                                         actions=v['content_filters__actions'])
        except ValueError as error:
            problems.append('content_filters: content_filters_%s: %s' % (name, error))
    return problems


def smtpd_restrictions_input(v):
    """What the smtpd_restrictions role hands its module, from its variables (its lists as its vars name them)."""
    return dict(
        lists=v['smtpd_restrictions__lists'],
        other_lists={'smtpd_relay_restrictions': v.get('postfix__relay_restrictions') or []},
        access_tables=v['smtpd_restrictions_access_tables'],
        rbl_domains=v['smtpd_restrictions_rbl_domains'],
        classes=v['restriction_classes_definitions'],
        recipient_classes=dict(table=v['restriction_classes_table'], recipients=v['restriction_classes_recipients'],
                               default=v['restriction_classes_default']))


def restriction_problems(model, versions=SUPPORTED_POSTFIX, permit_before_guard=(),
                         map_types=(PLACEHOLDER_MAP_TYPE,)):
    """The problems of a restriction model that every Postfix of ``versions`` has, in the model's words.

    A problem that only some versions (or table types of ``map_types``) have, such
    as a restriction removed in 3.9, is the host's to decide: the role's module
    checks with the host's version and default_database_type.
    """
    found = None
    planned = [name for name in (model.get('access_tables') or {}) if isinstance(name, str)]
    table = str((model.get('recipient_classes') or {}).get('table') or '')
    if table and ':' not in table:
        planned.append(table)
    for version, map_type in [(version, map_type) for version in versions for map_type in map_types]:
        try:
            restriction_plan(model.get('lists') or {}, classes=model.get('classes'),
                             access_tables=model.get('access_tables'), rbl_domains=model.get('rbl_domains') or (),
                             recipient_classes=model.get('recipient_classes'), other_lists=model.get('other_lists'),
                             permit_before_guard=permit_before_guard, read_lists=model.get('read_lists'),
                             version=version, map_type=map_type)
            problems = []
        except RestrictionError as error:
            problems = list(error.problems)
        except ValueError as error:
            problems = [str(error)]
        problems = [_table_type_named(problem, map_type, planned) for problem in problems]
        found = problems if found is None else [problem for problem in found if problem in problems]
    return found or []


def _table_type_named(problem, map_type, names):
    """``problem`` with each planned table's reference written with Postfix's $default_database_type.

    So that the same problem reads the same whatever type the host has; a
    reference the user wrote with a type of their own stays as it is.
    """
    for name in names:
        problem = problem.replace('%s:%s' % (map_type, posixpath.join(CONFIG_DIR, name)),
                                  '$default_database_type:%s' % posixpath.join(CONFIG_DIR, name))
    return problem


def smtpd_restrictions(v, versions=SUPPORTED_POSTFIX):
    """The lists, access tables, RBLs and classes of the smtpd_restrictions and restriction_classes roles."""
    layers = (v.get('postfix_main_cf_host') or {}, v.get('postfix_main_cf') or {})
    layered = [layer.get('default_database_type') for layer in layers]
    map_types = [next(value for value in layered if value)] if any(layered) else SUPPORTED_MAP_TYPES
    found = restriction_problems(smtpd_restrictions_input(v), versions, map_types=map_types)
    return ['smtpd_restrictions: %s' % '; '.join(found)] if found else []


def sasl_auth(v, versions=SUPPORTED_POSTFIX):
    """permit_sasl_authenticated before the relay guard, in both relay lists as the roles will write them.

    The same rule as the role's check of the live lists (smtpd_restrictions
    module, permit_before_guard), applied to the lists the postfix and
    smtpd_restrictions roles plan: the relay list, and the recipient list with
    the RBLs and the class table the model adds. A list whose role is not in
    the play (its variables undefined) is left to the role's check of the live one.
    """
    read = {}
    if v.get('postfix__relay_restrictions') is not None:
        read['smtpd_relay_restrictions'] = ', '.join(str(item) for item in v['postfix__relay_restrictions'])
    if all(name in v for name in VARIABLES['smtpd_restrictions'] if name not in OPTIONAL['smtpd_restrictions']):
        model = smtpd_restrictions_input(v)
        try:
            planned = restriction_plan(model['lists'], classes=model['classes'], access_tables=model['access_tables'],
                                       rbl_domains=model['rbl_domains'], recipient_classes=model['recipient_classes'],
                                       version=versions[-1], map_type=PLACEHOLDER_MAP_TYPE)
        except ValueError:
            return []     # the smtpd_restrictions role names those problems
        read['smtpd_recipient_restrictions'] = planned['parameters'].get('smtpd_recipient_restrictions', '')
    found = restriction_problems(dict(read_lists=read), versions, permit_before_guard=['permit_sasl_authenticated'])
    return ['sasl_auth: %s' % '; '.join(found)] if found else []


def virtual_domains(v):
    """The virtual_domains role's data, against main.cf as the postfix role plans it.

    The same model as the role's module (virtual_domains.plan), with the
    mydestination the postfix role writes instead of the live one, and
    Postfix's default virtual_minimum_uid unless a main.cf layer sets it.
    Without the postfix role in the play, only the data itself is checked.
    """
    fleet = v.get('postfix__fleet') or {}
    layers = [v.get('postfix_main_cf') or {}, v.get('postfix_main_cf_host') or {}]
    mydestination = ['$myhostname', 'localhost.localdomain', 'localhost'] + list(fleet.get('local_domains') or [])
    minimum_uid = 100
    for layer in layers:
        if 'mydestination' in layer:
            mydestination = layer['mydestination']
        if layer.get('virtual_minimum_uid') is not None:
            minimum_uid = _int(layer['virtual_minimum_uid'])
    items = mydestination if isinstance(mydestination, list) else re.split(r'[\s,]+', str(mydestination or ''))
    myhostname = v.get('postfix_myhostname')
    local = [str(myhostname) if item == '$myhostname' else str(item) for item in items if item
             and (item != '$myhostname' or myhostname)]
    try:
        virtual_plan(v['virtual_domains_alias_domains'], v['virtual_domains_aliases'],
                     v['virtual_domains_mailbox_domains'], v['virtual_domains_mailboxes'], local_domains=local,
                     mailbox_base=v['virtual_domains_mailbox_base'], uid=v['virtual_domains_uid'],
                     gid=v['virtual_domains_gid'], minimum_uid=minimum_uid,
                     elsewhere_domains=fleet.get('elsewhere_domains') or [])
    except VirtualDomainsError as error:
        return [str(error)]
    return []


CHECKS = {
    'postfix': (postfix, relay),
    'greylist_db': (greylist_db,),
    'greylisting': (greylisting,),
    'smtpd_restrictions': (smtpd_restrictions,),
    'content_filters': (content_filters,),
    'virtual_domains': (virtual_domains,),
    'antivirus': (antivirus,),
    'sasl_auth': (sasl_auth,),
    'fail2ban': (fail2ban_jail.problems,),
}

# The variables each role's checks read, so the lookup templates only those.
VARIABLES = {
    'postfix': ('postfix_mailer_type', 'postfix_relayhost', 'postfix__relay_restrictions'),
    'greylist_db': ('greylist_db_name', 'greylist_db_user', 'greylist_db_password', 'greylist_db_port',
                    'greylist_db_listen_addresses', 'greylist_db_clients'),
    'greylisting': ('greylisting_backend', 'greylisting_listen', 'greylisting__port', 'greylisting_text',
                    'greylisting_whitelist_clients', 'greylisting_whitelist_recipients', 'greylisting_sql_host',
                    'greylisting_sql_port', 'greylisting_sql_database', 'greylisting_sql_user',
                    'greylisting_sql_password', 'greylisting_sql_greymethod', 'greylisting_sql_retry_window',
                    'greylisting_sql_connect_timeout'),
    'smtpd_restrictions': ('smtpd_restrictions__lists', 'smtpd_restrictions_access_tables',
                           'smtpd_restrictions_rbl_domains',
                           'restriction_classes_definitions', 'restriction_classes_table',
                           'restriction_classes_recipients', 'restriction_classes_default'),
    'content_filters': ('content_filters_table_type', 'content_filters_header_checks', 'content_filters_body_checks',
                        'content_filters__actions'),
    'antivirus': ('antivirus_enabled', 'antivirus_milter_socket', 'antivirus__inet', 'antivirus__unix',
                  'antivirus_signature_source', 'antivirus_freshclam_mirrors', 'antivirus_signature_files'),
}
VARIABLES['smtpd_restrictions'] += ('postfix__relay_restrictions', 'postfix_main_cf', 'postfix_main_cf_host')
VARIABLES['virtual_domains'] = (
    'virtual_domains_alias_domains', 'virtual_domains_aliases', 'virtual_domains_mailbox_domains',
    'virtual_domains_mailboxes', 'virtual_domains_mailbox_base', 'virtual_domains_uid', 'virtual_domains_gid',
    'postfix__fleet', 'postfix_myhostname', 'postfix_main_cf', 'postfix_main_cf_host')
VARIABLES['sasl_auth'] = VARIABLES['smtpd_restrictions']
VARIABLES['fail2ban'] = fail2ban_jail.VARIABLES
# Set by another role of the play, absent when a role runs without it; the
# checks that need them say what they do then.
OPTIONAL = {'smtpd_restrictions': ('postfix__relay_restrictions', 'postfix_main_cf', 'postfix_main_cf_host'),
            'virtual_domains': ('postfix__fleet', 'postfix_myhostname', 'postfix_main_cf', 'postfix_main_cf_host'),
            'sasl_auth': VARIABLES['sasl_auth']}


# The deliverability roles (issue 14) keep their checks in a file of their own.
CHECKS.update(deliverability.CHECKS)
VARIABLES.update(deliverability.VARIABLES)
OPTIONAL.update(deliverability.OPTIONAL)


def problems(role, variables):
    """Every problem of ``role``'s input; ValueError for a role without checks here."""
    if role not in CHECKS:
        raise ValueError('role_input: no checks for role %r; known: %s' % (role, ', '.join(sorted(CHECKS))))
    found = []
    for check in CHECKS[role]:
        found.extend(check(variables))
    return found
