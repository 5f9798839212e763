# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic for the SMTP server's restriction lists: parse, validate, guard against open relays, render.

Facts about restriction names, their arguments and their history come from
postconf(5) and access(5) of Postfix 3.7.11 (Debian 12) and 3.10.13 (Debian 13),
the upstream HISTORY file shipped as /usr/share/doc/postfix/changelog.gz in
3.10.13, and smtpd(8)'s restriction evaluation (smtpd_check.c). How smtpd
evaluates a list, and what this module infers from that:

* Restrictions are names separated by commas or whitespace; an argument is the
  next word; "{...}" groups words into one. Names are compared without regard
  to case; restriction class names are looked up as written.
* smtpd accepts every restriction in every list (with smtpd_delay_reject=yes,
  the default, client, helo and sender lists are evaluated at RCPT TO). A
  restriction whose information is missing (no recipient in the client list
  of a "RCPT-less" session, no ETRN domain at RCPT TO) does nothing. The only
  stage error is a bare "type:table" in smtpd_data_restrictions or
  smtpd_end_of_data_restrictions, which have no default access check.
* At RCPT TO smtpd evaluates smtpd_relay_restrictions and
  smtpd_recipient_restrictions; a reject in either one ends the request, a
  permit ends only the list it is in, and the end of a list permits.
"""

from __future__ import annotations

import difflib
import re
from collections import namedtuple

from ansible_collections.mailforge.postfix.plugins.module_utils.main_cf import PARAMETER_NAME

LIST_NAMES = (
    'smtpd_client_restrictions',
    'smtpd_helo_restrictions',
    'smtpd_sender_restrictions',
    'smtpd_relay_restrictions',
    'smtpd_recipient_restrictions',
    'smtpd_data_restrictions',
    'smtpd_end_of_data_restrictions',
    'smtpd_etrn_restrictions',
)
RELAY_LISTS = ('smtpd_relay_restrictions', 'smtpd_recipient_restrictions')
CLASSES_PARAMETER = 'smtpd_restriction_classes'

# The access check smtpd applies to a bare "type:table" in each list (smtpd_check.c);
# None: smtpd answers "451 Server configuration error".
DEFAULT_ACCESS_CHECK = {
    'smtpd_client_restrictions': 'check_client_access',
    'smtpd_helo_restrictions': 'check_helo_access',
    'smtpd_sender_restrictions': 'check_sender_access',
    'smtpd_relay_restrictions': 'check_recipient_access',
    'smtpd_recipient_restrictions': 'check_recipient_access',
    'smtpd_etrn_restrictions': 'check_etrn_access',
    'smtpd_data_restrictions': None,
    'smtpd_end_of_data_restrictions': None,
}

# Arguments.
TABLE = 'type:table'
DOMAIN = 'domain'          # rbl_domain or rbl_domain=d.d.d.d
SERVER = 'server'          # inet:host:port or unix:path
NUMBER = 'number'

# What a restriction can do to a request for a client that is not trusted,
# as far as relaying is concerned.
GUARD = 'guard'                  # stops relaying: rejects unless the destination is ours, or always
TRUSTED = 'trusted'              # permits only trusted clients, or only mail to our own domains
TRUSTED_TABLE = 'trusted_table'  # access table keyed by the client's own identity
TABLE = 'table'                  # access table keyed by what the client says: may permit anybody
NO_OK_TABLE = 'no_ok_table'      # access table where smtpd refuses an OK result
NO_RCPT = 'no_rcpt'              # not evaluated at RCPT TO (ETRN domain)
OPENS = 'opens'                  # can permit any client
POLICY = 'policy'                # a policy server can answer OK
REJECTS = 'rejects'              # can only reject or do nothing
NEUTRAL = 'neutral'              # neither permits nor rejects by itself

# warn_if_reject turns the rejection of the next restriction into a warning
# (postconf(5): a reject-type restriction, an access table or a policy query).
WARNABLE = frozenset((GUARD, REJECTS, TABLE, TRUSTED_TABLE, NO_OK_TABLE, NO_RCPT, POLICY))

Restriction = namedtuple('Restriction', 'arg relay added status since replacement')
# status: current; renamed (old name still recognised; replacement is the new
# name); deprecated (works, logs that it will be removed, from ``since``);
# removed (from ``since``; deprecated before that).


def _r(arg=None, relay=REJECTS, added=None, status='current', since=None, replacement=None):
    return Restriction(arg, relay, added, status, since, replacement)


RESTRICTIONS = {
    # Generic restrictions (postconf(5), smtpd_client_restrictions).
    'permit': _r(relay=OPENS),
    'reject': _r(relay=GUARD),
    'defer': _r(relay=GUARD),
    'defer_if_permit': _r(relay=GUARD, added=(2, 1)),
    'defer_if_reject': _r(relay=NEUTRAL, added=(2, 1)),
    'check_policy_service': _r(SERVER, POLICY, (2, 1)),
    'reject_multi_recipient_bounce': _r(added=(2, 1)),
    'reject_plaintext_session': _r(added=(2, 3)),
    'reject_unauth_pipelining': _r(),
    'sleep': _r(NUMBER, NEUTRAL, (2, 3)),
    'warn_if_reject': _r(relay=NEUTRAL),
    # Client name and address.
    'check_ccert_access': _r(TABLE, TRUSTED_TABLE, (2, 2)),
    'check_client_access': _r(TABLE, TRUSTED_TABLE),
    'check_client_a_access': _r(TABLE, NO_OK_TABLE, (3, 0)),
    'check_client_mx_access': _r(TABLE, NO_OK_TABLE, (2, 7)),
    'check_client_ns_access': _r(TABLE, NO_OK_TABLE, (2, 7)),
    'check_reverse_client_hostname_access': _r(TABLE, NO_OK_TABLE, (2, 6)),
    'check_reverse_client_hostname_a_access': _r(TABLE, NO_OK_TABLE, (3, 0)),
    'check_reverse_client_hostname_mx_access': _r(TABLE, NO_OK_TABLE, (2, 7)),
    'check_reverse_client_hostname_ns_access': _r(TABLE, NO_OK_TABLE, (2, 7)),
    'check_sasl_access': _r(TABLE, TRUSTED_TABLE, (2, 11)),
    'permit_inet_interfaces': _r(relay=TRUSTED),
    'permit_mynetworks': _r(relay=TRUSTED),
    'permit_sasl_authenticated': _r(relay=TRUSTED),
    'permit_tls_all_clientcerts': _r(relay=TRUSTED, added=(2, 2)),
    'permit_tls_clientcerts': _r(relay=TRUSTED, added=(2, 2)),
    # "For safety, ... silently ignored when it would override reject_unauth_destination."
    'permit_dnswl_client': _r(DOMAIN, TRUSTED, (2, 8)),
    'permit_rhswl_client': _r(DOMAIN, TRUSTED, (2, 8)),
    'reject_rbl_client': _r(DOMAIN, added=(2, 0)),
    'reject_rhsbl_client': _r(DOMAIN, added=(2, 0)),
    'reject_rhsbl_reverse_client': _r(DOMAIN, added=(2, 8)),
    'reject_unknown_client_hostname': _r(added=(2, 3)),
    'reject_unknown_reverse_client_hostname': _r(added=(2, 3)),
    # HELO/EHLO hostname.
    'check_helo_access': _r(TABLE, TABLE),
    'check_helo_a_access': _r(TABLE, NO_OK_TABLE, (3, 0)),
    'check_helo_mx_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'check_helo_ns_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'reject_invalid_helo_hostname': _r(added=(2, 3)),
    'reject_non_fqdn_helo_hostname': _r(added=(2, 3)),
    'reject_rhsbl_helo': _r(DOMAIN, added=(2, 0)),
    'reject_unknown_helo_hostname': _r(added=(2, 3)),
    # Sender address.
    'check_sender_access': _r(TABLE, TABLE),
    'check_sender_a_access': _r(TABLE, NO_OK_TABLE, (3, 0)),
    'check_sender_mx_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'check_sender_ns_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'reject_authenticated_sender_login_mismatch': _r(added=(2, 1)),
    'reject_known_sender_login_mismatch': _r(added=(2, 11)),
    'reject_non_fqdn_sender': _r(),
    'reject_rhsbl_sender': _r(DOMAIN, added=(2, 0)),
    'reject_sender_login_mismatch': _r(),
    'reject_unauthenticated_sender_login_mismatch': _r(added=(2, 1)),
    'reject_unknown_sender_domain': _r(),
    'reject_unlisted_sender': _r(added=(2, 1)),
    'reject_unverified_sender': _r(added=(2, 1)),
    # Recipient address.
    'check_recipient_access': _r(TABLE, TABLE),
    'check_recipient_a_access': _r(TABLE, NO_OK_TABLE, (3, 0)),
    'check_recipient_mx_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'check_recipient_ns_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'defer_unauth_destination': _r(relay=GUARD, added=(2, 10)),
    'permit_auth_destination': _r(relay=TRUSTED),
    'permit_mx_backup': _r(relay=OPENS, status='deprecated', since=(3, 9),
                           replacement='relay_domains (the parameter)'),
    'reject_non_fqdn_recipient': _r(),
    'reject_rhsbl_recipient': _r(DOMAIN, added=(2, 0)),
    'reject_unauth_destination': _r(relay=GUARD),
    'reject_unknown_recipient_domain': _r(),
    'reject_unlisted_recipient': _r(added=(2, 1)),
    'reject_unverified_recipient': _r(added=(2, 1)),
    # ETRN domain.
    'check_etrn_access': _r(TABLE, NO_RCPT),
    # Old names that Postfix still recognises (renamed in 2.3, HISTORY 20050720;
    # check_recipient_maps is the Postfix 2.0 name of reject_unlisted_recipient).
    'reject_unknown_client': _r(status='renamed', replacement='reject_unknown_client_hostname'),
    'reject_invalid_hostname': _r(status='renamed', replacement='reject_invalid_helo_hostname'),
    'reject_unknown_hostname': _r(status='renamed', replacement='reject_unknown_helo_hostname'),
    'reject_non_fqdn_hostname': _r(status='renamed', replacement='reject_non_fqdn_helo_hostname'),
    'check_recipient_maps': _r(status='renamed', replacement='reject_unlisted_recipient'),
    'reject_rbl': _r(DOMAIN, status='renamed', replacement='reject_rbl_client'),
    # Removed in Postfix 3.9 (HISTORY 20240229; they now log a warning and answer
    # "451 Server configuration error"); deprecated with warnings since 2002-2005.
    'check_relay_domains': _r(relay=GUARD, status='removed', since=(3, 9),
                              replacement='reject_unauth_destination'),
    'reject_maps_rbl': _r(status='removed', since=(3, 9), replacement='reject_rbl_client domain-name'),
    'permit_naked_ip_address': _r(relay=OPENS, status='removed', since=(3, 9),
                                  replacement='permit_mynetworks or permit_sasl_authenticated'),
}

RELAY_GUARDS = 'reject_unauth_destination, defer_unauth_destination, reject, defer or defer_if_permit'

# access(5) actions other than "restriction...": how they end a lookup.
ACCESS_PERMIT = 'permit'
ACCESS_STOP = 'stop'        # rejects or defers the request
ACCESS_NONE = 'none'        # lets the next restriction decide
ACCESS_ACTIONS = {
    'ok': ACCESS_PERMIT,
    'reject': ACCESS_STOP,
    'defer': ACCESS_STOP,
    'defer_if_reject': ACCESS_NONE,
    'defer_if_permit': ACCESS_STOP,
    'dunno': ACCESS_NONE,
    'bcc': ACCESS_NONE,
    'discard': ACCESS_NONE,
    'filter': ACCESS_NONE,
    'hold': ACCESS_NONE,
    'prepend': ACCESS_NONE,
    'redirect': ACCESS_NONE,
    'info': ACCESS_NONE,
    'warn': ACCESS_NONE,
}

# Tables that carry their own content, so the caller does not manage a file for them.
SELF_CONTAINED_TYPES = ('inline', 'static', 'fail', 'randmap')
# Tables made of other tables.
COMPOSITE_TYPES = ('unionmap', 'pipemap')

_TABLE_REF = re.compile(r'^(?P<type>[A-Za-z0-9_]+):(?P<name>\S.*)$', re.S)
_RBL_DOMAIN = re.compile(r'^[A-Za-z0-9_$][A-Za-z0-9_.${}-]*(?:=(?:[0-9]{1,3}|\[[0-9;.]+\])'
                         r'(?:\.(?:[0-9]{1,3}|\[[0-9;.]+\])){3})?$')
_INET = re.compile(r'^inet:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[A-Za-z0-9_-]+$')
_UNIX = re.compile(r'^unix:\S+$')
_POLICY_OVERRIDE = re.compile(r'^(?:timeout|max_idle|max_ttl|request_limit|retry_delay|try_limit|'
                              r'default_action|policy_context)\s*=')
_NUMERIC = re.compile(r'^[0-9]+$')
_REPLY_CODE = re.compile(r'^[0-9]{3}(?:\s|$)')

Item = namedtuple('Item', 'text warn name args')
Outcome = namedtuple('Outcome', 'kind path reason')   # kind: open, guarded, through


class RestrictionError(ValueError):
    """The input is wrong; ``problems`` lists every problem found, ``warnings`` the warnings."""

    def __init__(self, problems, warnings=()):
        self.problems = list(problems)
        self.warnings = list(warnings)
        super().__init__('restriction lists refused (%d problem%s): %s'
                         % (len(self.problems), '' if len(self.problems) == 1 else 's',
                            '; '.join(self.problems)))


def parse_version(text):
    """'3.10.13' -> (3, 10, 13); a snapshot such as '3.11-20250101' -> (3, 11)."""
    match = re.match(r'^\s*(\d+)\.(\d+)(?:\.(\d+))?', str(text))
    if not match:
        raise ValueError('cannot read a Postfix version from %r' % (text,))
    return tuple(int(part) for part in match.groups() if part is not None)


def version_text(version):
    return '.'.join(str(part) for part in version)


def tokens(text):
    """Split like smtpd: commas and whitespace separate, "{...}" keeps words together."""
    words, word, depth = [], '', 0
    for char in text:
        if char == '{':
            depth += 1
        elif char == '}' and depth:
            depth -= 1
        if depth == 0 and (char == ',' or char.isspace()):
            if word:
                words.append(word)
            word = ''
        else:
            word += char
    if word:
        words.append(word)
    return words, depth


def parse_item(text):
    """One list item -> Item, or raise ValueError saying why it is not one restriction."""
    if not isinstance(text, str):
        raise ValueError('is not a string')
    if '\n' in text or '\r' in text:
        raise ValueError('contains a line break')
    words, depth = tokens(text)
    if depth:
        raise ValueError('has an unbalanced "{"')
    if not words:
        raise ValueError('is empty')
    warn = words[0].lower() == 'warn_if_reject'
    if warn:
        words = words[1:]
        if not words:
            raise ValueError('warn_if_reject must be followed, in the same item, by the restriction it '
                             'turns into a warning')
    return Item(text.strip(), warn, words[0], words[1:])


def _unbrace(word):
    """'{ a, b }' -> ['a', 'b']; anything else -> [word]."""
    if word.startswith('{') and word.endswith('}'):
        return tokens(word[1:-1])[0]
    return [word]


def table_problem(ref):
    """Why ``ref`` is not a lookup table reference, or None."""
    match = _TABLE_REF.match(ref)
    if not match:
        return 'needs a lookup table as type:name'
    if match.group('type') in SELF_CONTAINED_TYPES + COMPOSITE_TYPES:
        if match.group('type') in ('inline', 'randmap') + COMPOSITE_TYPES and not (
                match.group('name').startswith('{') and match.group('name').endswith('}')):
            return 'a %s: table needs its content in "{...}"' % match.group('type')
    return None


def table_parts(ref):
    """The tables a reference depends on: itself, or the members of unionmap:/pipemap:."""
    match = _TABLE_REF.match(ref)
    if match and match.group('type') in COMPOSITE_TYPES:
        parts = []
        for member in _unbrace(match.group('name')):
            parts.extend(table_parts(member))
        return parts
    return [ref]


def table_is_defined(ref, tables):
    """True when every table behind ``ref`` is self-contained or listed in ``tables``."""
    defined = set(tables)
    for part in table_parts(ref):
        bare = part[len('proxy:'):] if part.startswith('proxy:') else part
        if part.split(':', 1)[0] in SELF_CONTAINED_TYPES:
            continue
        if part not in defined and bare not in defined and 'proxy:' + bare not in defined:
            return False
    return True


def built_in_actions(ref):
    """The right-hand sides of an inline: or static: table, or None when they are not in the reference."""
    match = _TABLE_REF.match(ref)
    if not match:
        return None
    kind, name = match.group('type'), match.group('name')
    if kind == 'static':
        return [name[1:-1].strip() if name.startswith('{') and name.endswith('}') else name]
    if kind == 'inline' and name.startswith('{') and name.endswith('}'):
        actions = []
        for entry in tokens(name[1:-1])[0]:
            entry = entry[1:-1] if entry.startswith('{') and entry.endswith('}') else entry
            _key, sep, value = entry.partition('=')
            if sep:
                actions.append(value.strip())
        return actions
    return None


def argument_problem(spec, args):
    """Why ``args`` do not fit the argument ``spec`` of a restriction, or None."""
    if spec is None:
        return 'takes no argument (one restriction per item)' if args else None
    if not args:
        return 'needs an argument (%s)' % {TABLE: 'type:table', DOMAIN: 'rbl_domain[=d.d.d.d]',
                                           SERVER: 'inet:host:port or unix:path',
                                           NUMBER: 'a number of seconds'}[spec]
    if len(args) > 1:
        return 'takes one argument, got %d (one restriction per item)' % len(args)
    arg = args[0]
    if spec == TABLE:
        inner = _unbrace(arg)
        return table_problem(inner[0]) if inner else 'needs a lookup table as type:name'
    if spec == DOMAIN:
        return None if _RBL_DOMAIN.match(arg) else 'needs rbl_domain or rbl_domain=d.d.d.d, got %r' % arg
    if spec == SERVER:
        inner = _unbrace(arg)
        endpoint, overrides = (inner[0], inner[1:]) if inner else ('', [])
        if not (_INET.match(endpoint) or _UNIX.match(endpoint)):
            return 'needs inet:host:port or unix:path, got %r' % endpoint
        for override in overrides:
            if not _POLICY_OVERRIDE.match(override):
                return 'unknown policy client setting %r' % override
        return None
    if spec == NUMBER:
        return None if _NUMERIC.match(arg) else 'needs a whole number of seconds, got %r' % arg
    raise AssertionError(spec)


def table_ref_of(item):
    """The lookup table an access check item uses (its argument, without {search order})."""
    return _unbrace(item.args[0])[0]


class _Checker:
    """Validates one input; collects problems and warnings in order."""

    def __init__(self, lists, classes, tables, table_actions, version, parameter_names):
        self.lists = lists
        self.classes = classes
        self.tables = tables
        self.table_actions = table_actions
        self.version = version
        self.parameter_names = set(parameter_names or ())
        self.problems = []
        self.warnings = []
        self.sources = {}        # container ("smtpd_..." or "class NAME") -> item texts as given
        self.items = {}          # container -> [Item, or None where the item is refused]

    def problem(self, text):
        if text not in self.problems:
            self.problems.append(text)

    def warn(self, text):
        if text not in self.warnings:
            self.warnings.append(text)

    # -- per item -----------------------------------------------------------------------------

    def check_all(self):
        for name in self.classes:
            self.check_class_name(name)
        containers = [(name, self.lists[name], DEFAULT_ACCESS_CHECK[name]) for name in LIST_NAMES
                      if name in self.lists]
        containers += [('class %s' % name, items, False) for name, items in self.classes.items()]
        for container, texts, default_check in containers:
            self.sources[container] = texts
            self.items[container] = [self.check_item(container, index, text, default_check)
                                     for index, text in enumerate(texts, 1)]
            self.check_unreachable(container)
            if container.startswith('class ') and not texts:
                self.problem('%s is empty; Postfix refuses to start with a restriction class that has no '
                             'definition' % container)
        self.check_table_actions()
        self.check_recursion()

    def where(self, container, index, text):
        return "%s item %d '%s'" % (container, index, text)

    def check_item(self, container, index, text, default_check):
        try:
            item = parse_item(text)
        except ValueError as error:
            self.problem('%s item %d %r: %s' % (container, index, text, error))
            return None
        where = self.where(container, index, item.text)
        name = item.name
        if ':' in name and name.lower() not in RESTRICTIONS:
            return self.check_bare_table(where, item, default_check)
        if name in self.classes:
            if item.args:
                self.problem('%s: restriction class %s takes no argument (one restriction per item)'
                             % (where, name))
            return item
        spec = RESTRICTIONS.get(name.lower())
        if spec is None:
            self.problem('%s: %s' % (where, self.unknown(name)))
            return None
        if name.lower() == 'warn_if_reject':
            self.problem('%s: warn_if_reject is given twice' % where)
            return None
        self.check_history(where, name.lower(), spec)
        problem = argument_problem(spec.arg, item.args)
        if problem:
            self.problem('%s: %s %s' % (where, name, problem))
            return None
        if item.warn and spec.relay not in WARNABLE:
            self.problem('%s: warn_if_reject has no effect on %s; it applies to reject-type restrictions, '
                         'access tables, policy services and restriction classes' % (where, name))
        if spec.arg == TABLE:
            self.check_table_defined(where, table_ref_of(item))
        return item

    def check_bare_table(self, where, item, default_check):
        problem = table_problem(item.name)
        if problem:
            self.problem('%s: %s' % (where, self.unknown(item.name)))
            return None
        if default_check is None:
            self.problem('%s: Postfix has no default access check for a bare lookup table here; write '
                         'check_client_access, check_sender_access, ... in front of it' % where)
            return None
        if default_check is False:
            self.problem('%s: a bare lookup table in a restriction class means a different check in each '
                         'list that uses the class; write check_client_access, check_recipient_access, ... '
                         'in front of it' % where)
            return None
        if item.args:
            self.problem('%s: takes no argument (one restriction per item)' % where)
            return None
        self.warn('%s: a bare lookup table means "%s %s" here; write that instead'
                  % (where, default_check, item.name))
        self.check_table_defined(where, item.name)
        return Item(item.text, item.warn, default_check, [item.name])

    def unknown(self, name):
        known = list(RESTRICTIONS) + list(self.classes)
        close = difflib.get_close_matches(name.lower(), known, n=1)
        insensitive = [defined for defined in self.classes if defined.lower() == name.lower()]
        if insensitive:
            hint = ' (restriction class names are case-sensitive; did you mean %s?)' % insensitive[0]
        elif close:
            hint = ' (did you mean %s?)' % close[0]
        else:
            hint = ''
        return ('unknown restriction %r: not a Postfix restriction, and no class of that name is defined in '
                'classes (referenced but not defined)%s' % (name, hint))

    def check_history(self, where, name, spec):
        version = version_text(self.version)
        if spec.added and self.version < spec.added:
            self.problem('%s: %s is available from Postfix %s; this host runs %s'
                         % (where, name, version_text(spec.added), version))
        if spec.status == 'renamed':
            self.warn('%s: %s is the old name of %s; Postfix %s still accepts it, prefer %s'
                      % (where, name, spec.replacement, version, spec.replacement))
        elif spec.status == 'removed' and self.version >= spec.since:
            self.problem('%s: %s was removed in Postfix %s (this host runs %s, where it answers "451 Server '
                         'configuration error"); use %s' % (where, name, version_text(spec.since), version,
                                                            spec.replacement))
        elif spec.status == 'removed':
            self.warn('%s: %s is deprecated and was removed in Postfix %s; use %s'
                      % (where, name, version_text(spec.since), spec.replacement))
        elif spec.status == 'deprecated' and self.version >= spec.since:
            self.warn('%s: %s is deprecated as of Postfix %s (this host runs %s) and will be removed; use %s'
                      % (where, name, version_text(spec.since), version, spec.replacement))

    def check_table_defined(self, where, ref):
        if not table_is_defined(ref, self.tables):
            self.problem('%s: table %s is referenced but not defined (add it to tables, or manage it in '
                         'the same play)' % (where, ref))

    def check_unreachable(self, container):
        for index, item in enumerate(self.items[container][:-1], 1):
            if item is not None and not item.warn and item.name.lower() in ('permit', 'reject', 'defer'):
                self.warn("%s item %d '%s' and the items after it are never evaluated: %s decides first"
                          % (container, index + 1, self.sources[container][index], item.name))
                return

    # -- classes ------------------------------------------------------------------------------

    def check_class_name(self, name):
        what = 'classes: class name %r' % (name,)
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            self.problem('%s is not a valid name (letters, digits, "_" and "-")' % what)
        elif name.lower() in RESTRICTIONS:
            self.problem('%s is the name of a Postfix restriction, which smtpd would apply instead of the '
                         'class' % what)
        elif name in self.parameter_names or name == CLASSES_PARAMETER or name in LIST_NAMES:
            self.problem('%s is a Postfix parameter name (postconf -d); the class definition would change '
                         'that parameter' % what)

    def class_references(self, name):
        """Classes that class ``name`` uses directly or through table_actions."""
        found = []
        for item in self.items.get('class %s' % name, ()):
            if item is None:
                continue
            if item.name in self.classes:
                found.append(item.name)
            elif RESTRICTIONS.get(item.name.lower(), _r()).arg == TABLE:
                for action in self.actions_of(table_ref_of(item)) or ():
                    found.extend(word for word in tokens(action)[0] if word in self.classes)
        return found

    def check_recursion(self):
        state = {}

        def visit(name, trail):
            if state.get(name) == 'done':
                return
            if state.get(name) == 'active':
                cycle = trail[trail.index(name):] + [name]
                self.problem('classes: restriction class recursion %s' % ' -> '.join(cycle))
                return
            state[name] = 'active'
            for used in self.class_references(name):
                visit(used, trail + [name])
            state[name] = 'done'

        for name in self.classes:
            visit(name, [])

    # -- tables -------------------------------------------------------------------------------

    def actions_of(self, ref):
        """The actions a table can answer, or None when unknown."""
        given = self.table_actions.get(ref)
        if given is None and ref.startswith('proxy:'):
            given = self.table_actions.get(ref[len('proxy:'):])
        built_in = built_in_actions(ref)
        if given is None:
            return built_in
        return list(given) + list(built_in or ())

    def check_table_actions(self):
        used = {table_ref_of(item) for items in self.items.values() for item in items
                if item is not None and RESTRICTIONS.get(item.name.lower(), _r()).arg == TABLE}
        for ref, actions in self.table_actions.items():
            if not table_is_defined(ref, self.tables):
                self.problem('table_actions: %s is not in tables' % ref)
            if ref not in used:
                self.warn('table_actions: %s is not used by any restriction given here' % ref)
            for action in actions:
                self.check_action('table_actions %s action %r' % (ref, action), action)
        for items in self.items.values():
            for item in items:
                if item is not None and RESTRICTIONS.get(item.name.lower(), _r()).arg == TABLE:
                    ref = table_ref_of(item)
                    if ref not in self.table_actions:
                        for action in built_in_actions(ref) or ():
                            self.check_action('table %s action %r' % (ref, action), action)
                    if RESTRICTIONS[item.name.lower()].relay == NO_OK_TABLE:
                        self.check_no_ok(item, ref)

    def check_action(self, where, action):
        if not isinstance(action, str) or not action.strip():
            self.problem('%s: an action must be a non-empty string' % where)
            return
        kind = access_action_kind(action)
        if kind is not None:
            return
        for word in tokens(action)[0]:
            if word in self.classes:
                continue
            spec = RESTRICTIONS.get(word.lower())
            if spec is None:
                if ':' in word:
                    continue   # argument of the previous restriction
                self.problem('%s: %s is not an access(5) action, a Postfix restriction, or a class defined '
                             'in classes (a class referenced but not defined)' % (where, word))

    def check_no_ok(self, item, ref):
        for action in self.actions_of(ref) or ():
            if self.action_outcome(action, frozenset()).kind == 'open':
                self.problem("%s '%s': table %s can answer %r, but %s does not allow OK (Postfix answers "
                             '"451 Server configuration error"); use DUNNO to make an exception'
                             % (self.container_of(item), item.text, ref, action, item.name))

    def container_of(self, wanted):
        for container, items in self.items.items():
            for index, item in enumerate(items, 1):
                if item is wanted:
                    return '%s item %d' % (container, index)
        return 'item'

    # -- open relay guard ---------------------------------------------------------------------

    def outcome(self, container, items, active, warned=False):
        """How a list ends for an untrusted client sending to a foreign domain."""
        for index, item in enumerate(items, 1):
            if item is None:
                continue
            here = (container, index, item.text)
            result = self.item_outcome(item, active, warned or item.warn)
            if result.kind != 'through':
                return Outcome(result.kind, [here] + result.path, result.reason)
        return Outcome('through', [], None)

    def item_outcome(self, item, active, warned):
        name = item.name
        if name in self.classes:
            if name in active:
                return Outcome('through', [], None)
            return self.outcome('class %s' % name, self.items.get('class %s' % name, []),
                                active | {name}, warned)
        spec = RESTRICTIONS[name.lower()]
        kind = spec.relay
        if kind == GUARD:
            if warned or (spec.status == 'removed' and self.version >= spec.since):
                return Outcome('through', [], None)
            return Outcome('guarded', [], None)
        if kind == OPENS:
            return Outcome('open', [], {
                'permit': 'permits every request',
                'permit_mx_backup': 'permits mail for any domain whose DNS lists this host as a backup MX, '
                                    'and the sender controls that DNS',
                'permit_naked_ip_address': 'permits any client that sends an IP address in HELO',
            }[name.lower()])
        if kind == POLICY:
            return Outcome('open', [], 'can answer OK for any client (a policy server may permit)')
        if kind == TABLE:
            return self.table_outcome(table_ref_of(item), active) if item.args else Outcome('through', [], None)
        return Outcome('through', [], None)

    def table_outcome(self, ref, active):
        if ('table', ref) in active:
            return Outcome('through', [], None)
        active = active | {('table', ref)}
        actions = self.actions_of(ref)
        if actions is None:
            return Outcome('open', [], 'can answer OK for any client (what %s answers is unknown; list its '
                                       'actions in table_actions)' % ref)
        for action in actions:
            result = self.action_outcome(action, active)
            if result.kind == 'open':
                reason = 'can answer %r for any client' % action
                if result.path[1:]:
                    reason += ', and then %s %s' % (_path_text(result.path[1:]), result.reason)
                elif result.reason:
                    reason += ', which %s' % result.reason
                return Outcome('open', [], reason)
        return Outcome('through', [], None)

    def action_outcome(self, action, active):
        """How one table answer ends the request; path starts with the action's own restriction."""
        kind = access_action_kind(action)
        if kind == ACCESS_PERMIT:
            return Outcome('open', [], None)
        if kind is not None:
            return Outcome('through', [], None)
        items = []
        for word in tokens(action)[0]:
            if word in self.classes or word.lower() in RESTRICTIONS:
                items.append(Item(word, False, word, []))
            elif ':' in word and items:
                items[-1] = items[-1]._replace(text=items[-1].text + ' ' + word, args=[word])
            else:
                return Outcome('through', [], None)    # reported by check_action
        return self.outcome('action', items, active)

    def check_relay(self):
        """Refuse lists that let any client relay. Runs when a relay list is given."""
        if not any(name in self.lists for name in RELAY_LISTS):
            return
        states = {}
        for name in RELAY_LISTS:
            if name not in self.lists:
                states[name] = (Outcome('through', [], None),
                                'is not given (its live value is not checked here; pass it as well)')
                continue
            result = self.outcome(name, self.items.get(name, []), frozenset())
            if result.kind == 'guarded':
                return
            if result.kind == 'open':
                text = '%s %s; no relay guard (%s) comes before it' % (
                    _path_text(result.path), result.reason, RELAY_GUARDS)
            elif not self.lists[name]:
                text = '%s is empty' % name
            else:
                text = ('%s has no relay guard (%s) that is not behind warn_if_reject, so it ends with '
                        "Postfix's implicit permit" % (name, RELAY_GUARDS))
            states[name] = (result, text)
        parts = []
        for name in RELAY_LISTS:
            result, text = states[name]
            parts.append(text if name in self.lists else '%s %s' % (name, text))
        self.problem('open relay: %s: any client could relay mail through this server; put '
                     'reject_unauth_destination after the permits for trusted clients '
                     '(permit_mynetworks, permit_sasl_authenticated) in one of the two lists'
                     % ', and '.join(parts))


def _path_text(path):
    """[(container, index, text), ...] -> "list item 2 'x' (class c item 1 'y')"."""
    head, rest = path[0], path[1:]
    if head[0] == 'action':
        text = "'%s'" % head[2]
    else:
        text = "%s item %d '%s'" % head
    if rest:
        text += ' (%s)' % _path_text(rest)
    return text


def access_action_kind(action):
    """How an access(5) action ends the lookup, or None for "restriction..." (a restriction list)."""
    text = action.strip()
    if _NUMERIC.match(text):
        return ACCESS_PERMIT          # "An all-numerical result is treated as OK."
    if _REPLY_CODE.match(text):
        return ACCESS_STOP if text[0] in '45' else None
    word = text.split(None, 1)[0].lower()
    return ACCESS_ACTIONS.get(word)


def _shape_problems(lists, classes, tables, table_actions):
    problems = []
    if not isinstance(lists, dict):
        return ['lists must be a dict of restriction list name to list of restrictions']
    for name, items in lists.items():
        if name not in LIST_NAMES:
            hint = difflib.get_close_matches(str(name), LIST_NAMES, n=1)
            problems.append('lists: %r is not a restriction list (one of %s)%s'
                            % (name, ', '.join(LIST_NAMES), ' - did you mean %s?' % hint[0] if hint else ''))
        elif not isinstance(items, list):
            problems.append('lists: %s must be a list of restrictions' % name)
    if not isinstance(classes, dict):
        problems.append('classes must be a dict of class name to list of restrictions')
    else:
        for name, items in classes.items():
            if not isinstance(items, list):
                problems.append('classes: class %s must be a list of restrictions' % (name,))
    if not isinstance(tables, list) or not all(isinstance(ref, str) for ref in tables):
        problems.append('tables must be a list of table references such as hash:/etc/postfix/access')
    else:
        for ref in tables:
            problem = table_problem(ref)
            if problem:
                problems.append('tables: %r %s' % (ref, problem))
    if not isinstance(table_actions, dict):
        problems.append('table_actions must be a dict of table reference to list of actions')
    else:
        for ref, actions in table_actions.items():
            if not isinstance(actions, list):
                problems.append('table_actions: %s must be a list of actions' % (ref,))
    return problems


def render(lists, classes):
    """The main.cf parameters, each list joined with ", " (lists in Postfix's order, then classes)."""
    parameters = {}
    for name in LIST_NAMES:
        if name in lists:
            parameters[name] = ', '.join(item.strip() for item in lists[name])
    if classes:
        parameters[CLASSES_PARAMETER] = ', '.join(classes)
        for name, items in classes.items():
            parameters[name] = ', '.join(item.strip() for item in items)
    return parameters


def validate(lists, classes=None, tables=None, table_actions=None, version='3.7', parameter_names=()):
    """Check restriction lists for Postfix ``version``; return (parameters, warnings).

    ``parameter_names`` are the names ``postconf -d`` prints; restriction classes
    must not take one of them. Raises RestrictionError listing every problem.
    """
    classes = {} if classes is None else classes
    tables = [] if tables is None else tables
    table_actions = {} if table_actions is None else table_actions
    problems = _shape_problems(lists, classes, tables, table_actions)
    if problems:
        raise RestrictionError(problems)
    checker = _Checker(lists, classes, tables, table_actions,
                       parse_version(version) if isinstance(version, str) else tuple(version), parameter_names)
    checker.check_all()
    checker.check_relay()
    if checker.problems:
        raise RestrictionError(checker.problems, checker.warnings)
    return render(lists, classes), checker.warnings
