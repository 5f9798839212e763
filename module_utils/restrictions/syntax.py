# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""How smtpd reads a restriction list: words, items, arguments, table references, access actions.

Restrictions are names separated by commas or whitespace; an argument is the
next word; "{...}" groups words into one. Names are compared without regard to
case; restriction class names are looked up as written.
"""

from __future__ import annotations

import re
from collections import namedtuple

from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.facts import (
    ACCESS_ACTIONS, ACCESS_PERMIT, ACCESS_STOP, COMPOSITE_TYPES, DOMAIN, NUMBER, RESTRICTIONS,
    SELF_CONTAINED_TYPES, SERVER, TABLE)

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


def unbrace(word):
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
        for member in unbrace(match.group('name')):
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
        inner = unbrace(arg)
        return table_problem(inner[0]) if inner else 'needs a lookup table as type:name'
    if spec == DOMAIN:
        return None if _RBL_DOMAIN.match(arg) else 'needs rbl_domain or rbl_domain=d.d.d.d, got %r' % arg
    if spec == SERVER:
        inner = unbrace(arg)
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
    return unbrace(item.args[0])[0]


def access_action_kind(action):
    """How an access(5) action ends the lookup, or None for "restriction..." (a restriction list)."""
    text = action.strip()
    if _NUMERIC.match(text):
        return ACCESS_PERMIT          # "An all-numerical result is treated as OK."
    if _REPLY_CODE.match(text):
        return ACCESS_STOP if text[0] in '45' else None
    word = text.split(None, 1)[0].lower()
    return ACCESS_ACTIONS.get(word)


def split_value(text):
    """A list as main.cf holds it -> its items, each a restriction with its argument.

    smtpd takes the word after a restriction that needs an argument as that
    argument, and warn_if_reject applies to the restriction after it; every
    other word (a class name, a bare table, an unknown name) is an item of its own.
    """
    words, items, index = tokens(text)[0], [], 0
    while index < len(words):
        start = index
        if words[index].lower() == 'warn_if_reject' and index + 1 < len(words):
            index += 1
        spec = RESTRICTIONS.get(words[index].lower())
        if spec is not None and spec.arg is not None and index + 1 < len(words):
            index += 1
        items.append(' '.join(words[start:index + 1]))
        index += 1
    return items
