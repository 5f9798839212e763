# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic for Postfix lookup table source files: validate, render, parse, compare."""

from __future__ import annotations

import re

# postmap(1) writes these next to the source file.
INDEX_SUFFIXES = {'hash': '.db', 'btree': '.db', 'lmdb': '.lmdb', 'cdb': '.cdb'}
# cidr: network/prefix keys, read from the source like texthash; the first
# matching line wins, so its entries are given as a list, in order.
KEY_VALUE_TYPES = ('hash', 'btree', 'lmdb', 'cdb', 'texthash', 'cidr')
RULE_TYPES = ('regexp', 'pcre')
TYPES = KEY_VALUE_TYPES + RULE_TYPES

DEFAULT_HEADER = 'Managed by mailforge (Ansible). Do not edit by hand, changes will be overwritten.'
HIDDEN = '<hidden>'
HIDDEN_CHANGED = '<hidden, changed>'

# A pattern is delimited by a non-alphanumeric character, optionally negated
# with "!", and followed by flag letters; a backslash escapes the delimiter.
_RULE = re.compile(r'^(?P<pattern>!?(?P<d>[^A-Za-z0-9\s])(?:\\.|(?!(?P=d)).)+(?P=d)[A-Za-z]*)'
                   r'(?:\s+(?P<action>.*))?$', re.S)
_LINE_REFERENCE = re.compile(r', line (?P<line>\d+): (?P<message>.*)$')


def is_indexed(map_type):
    return map_type in INDEX_SUFFIXES


def map_ref(map_type, path):
    return '%s:%s' % (map_type, path)


def desired_records(map_type, entries=None, rules=None, actions=None):
    """Validate ``entries`` or ``rules`` for ``map_type``; return ordered (key, value) pairs.

    For rule tables the key is the pattern and the value the action. With
    ``actions``, the first word of every value must be one of them (in any
    case, as Postfix compares them).
    """
    records = _records(map_type, entries, rules)
    if actions:
        allowed = {action.upper() for action in actions}
        what = 'rule' if map_type in RULE_TYPES else 'entry'
        for index, (key, value) in enumerate(records):
            if value.split()[0].upper() not in allowed:
                raise ValueError('%s %d (%s): action %r is not one of %s'
                                 % (what, index + 1, key, value.split()[0], ', '.join(sorted(allowed))))
    return records


def _records(map_type, entries, rules):
    if map_type not in TYPES:
        raise ValueError('map type %r is not supported; use one of %s' % (map_type, ', '.join(TYPES)))
    if map_type in RULE_TYPES:
        if entries is not None:
            raise ValueError('a %s table takes rules, not entries' % map_type)
        if rules is None:
            raise ValueError('a %s table needs rules' % map_type)
        return _rules(rules)
    if rules is not None:
        raise ValueError('a %s table takes entries, not rules (rules are for regexp and pcre)' % map_type)
    if entries is None:
        raise ValueError('a %s table needs entries' % map_type)
    return _entries(entries)


def _entries(entries):
    if isinstance(entries, dict):
        pairs = sorted(((_key(key), value) for key, value in entries.items()), key=lambda pair: pair[0])
    elif isinstance(entries, list):
        pairs = []
        for index, item in enumerate(entries):
            if not isinstance(item, dict) or set(item) != {'key', 'value'}:
                raise ValueError('entries[%d]: each item needs exactly "key" and "value"' % index)
            pairs.append((_key(item['key']), item['value']))
    else:
        raise ValueError('entries must be a dict of key: value, or a list of {key, value} items')
    records = []
    seen = {}
    for key, value in pairs:
        # postmap folds keys to lower case, so these would collide in the index.
        folded = key.lower()
        if folded in seen:
            raise ValueError('entry %r is listed twice (keys are case-insensitive: %r)' % (key, seen[folded]))
        seen[folded] = key
        records.append((key, _value(value, 'entry %r' % key)))
    return records


def _key(key):
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not key or re.search(r'\s', key) or key.startswith('#'):
        raise ValueError('entry key %r must be non-empty, without whitespace, not starting with "#"' % (key,))
    return key


def _value(value, what):
    if isinstance(value, list):
        value = ', '.join(_value(item, what) for item in value)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    elif not isinstance(value, str):
        raise ValueError('%s: value must be a string, a number or a list of them (quote yes/no/true/false)'
                         % what)
    if '\n' in value or '\r' in value:
        raise ValueError('%s: value must not contain a line break' % what)
    if not value.strip():
        raise ValueError('%s: value must not be empty' % what)
    return value.strip()


def _rules(rules):
    if not isinstance(rules, list):
        raise ValueError('rules must be a list of {pattern, action} items')
    records = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or set(rule) != {'pattern', 'action'}:
            raise ValueError('rules[%d]: each item needs exactly "pattern" and "action"' % index)
        pattern = rule['pattern']
        match = _RULE.match(pattern) if isinstance(pattern, str) and '\n' not in pattern else None
        if not match or match.group('action') is not None:
            raise ValueError('rules[%d]: pattern %r must look like /regex/flags (any non-alphanumeric '
                             'delimiter, optional leading "!")' % (index, pattern))
        if pattern in (key for key, _action in records):
            raise ValueError('rule pattern %r is listed twice; only the first could ever match' % pattern)
        records.append((pattern, _value(rule['action'], 'rule %s' % pattern)))
    return records


def header_block(header):
    """Comment lines for the header; empty when ``header`` is empty."""
    return ''.join(('# ' + line).rstrip() + '\n' for line in header.splitlines())


def render(header, records):
    """The whole source file: header comment, then one record a line."""
    return header_block(header) + ''.join('%s %s\n' % record for record in records)


def render_masked(records, changed_keys=()):
    """Records with every value hidden, for diffs of secret tables; changed values are flagged."""
    return ''.join('%s %s\n' % (key, HIDDEN_CHANGED if key in changed_keys else HIDDEN)
                   for key, _value in records)


def parse_records(text, map_type):
    """(key, value) pairs of an existing source file, as Postfix reads it."""
    logical = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        if line[0].isspace() and logical:
            logical[-1] += ' ' + stripped
        else:
            logical.append(stripped)
    records = []
    for line in logical:
        match = _RULE.match(line) if map_type in RULE_TYPES else None
        if match:
            records.append((match.group('pattern'), (match.group('action') or '').strip()))
        else:
            key_and_value = line.split(None, 1)
            records.append((key_and_value[0], key_and_value[1] if len(key_and_value) > 1 else ''))
    return records


def key_changes(old_records, new_records):
    """(added, removed, changed) keys, each sorted."""
    old, new = dict(reversed(old_records)), dict(new_records)
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(key for key in set(old) & set(new) if old[key] != new[key])
    return added, removed, changed


def explain_warnings(warnings, header, records, what):
    """Name the entry or rule behind each postmap warning that carries a line number."""
    first_record_line = len(header_block(header).splitlines()) + 1
    explained = []
    for warning in warnings:
        match = _LINE_REFERENCE.search(warning)
        index = int(match.group('line')) - first_record_line if match else -1
        if 0 <= index < len(records):
            explained.append('%s %d (%s): %s' % (what, index + 1, records[index][0], match.group('message')))
        else:
            explained.append(warning)
    return explained
