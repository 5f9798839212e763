# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic for Cyrus sasldb2 databases: validate users, encode keys, plan the new records.

A sasldb2 record is ``user NUL realm NUL property`` -> value. saslpasswd2
writes only the ``userPassword`` property, whose value is the plaintext
password; other properties (``cmusaslsecretOTP``, ...) are kept as they are.
"""

from __future__ import annotations

import re
import struct

PASSWORD_PROPERTY = b'userPassword'
STATES = ('present', 'absent')

# SASL compares user names byte for byte, so they are case-sensitive. Only
# ASCII is allowed: SASL does no Unicode normalisation, so a non-ASCII name
# might never match what a client sends. "@" would be taken for the realm
# separator by Postfix, ":" and whitespace break Postfix's maps and logs.
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')
_NAME = re.compile(r'[A-Za-z0-9._+-]+\Z')
_LABEL = r'[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?'
_REALM = re.compile(r'%s(?:\.%s)*\Z' % (_LABEL, _LABEL))

# Berkeley DB metadata page: magic at offset 12, page size at 20, page type
# at 25, last page number at 32, and for hash databases the element count
# at 88. Numbers are in the writing machine's byte order.
HEADER_SIZE = 512
_MAGIC_NAMES = {0x061561: 'hash', 0x053162: 'btree', 0x042253: 'queue', 0x074582: 'heap'}
_HASH_MAGIC = 0x061561
_HASH_META_PAGE = 8


def encode_key(user, realm, prop=PASSWORD_PROPERTY):
    """The database key of one property of user@realm, all three as bytes."""
    return b'\0'.join((user, realm, prop))


def decode_key(key):
    """(user, realm, property) of a key, or None for a key saslpasswd2 would not write."""
    parts = key.split(b'\0')
    return tuple(parts) if len(parts) == 3 else None


def label(user, realm):
    """``user@realm`` for reports; bytes that are not UTF-8 are escaped, never dropped."""
    return '%s@%s' % (user.decode('utf-8', 'backslashreplace'), realm.decode('utf-8', 'backslashreplace'))


def parse_header(header):
    """(page size, last page number, element count) of a Berkeley DB hash database's first bytes.

    Raises ValueError saying what else the file is.
    """
    if len(header) < 92:
        raise ValueError('too short to be a Berkeley DB file')
    for order in '<>':
        magic = struct.unpack(order + 'I', header[12:16])[0]
        if magic in _MAGIC_NAMES:
            break
    else:
        raise ValueError('not a Berkeley DB database')
    if magic != _HASH_MAGIC:
        raise ValueError('a Berkeley DB %s database, but sasldb2 must be a hash database' % _MAGIC_NAMES[magic])
    page_size = struct.unpack(order + 'I', header[20:24])[0]
    if header[24] != 0:
        raise ValueError('an encrypted Berkeley DB database')
    if header[25] != _HASH_META_PAGE or page_size not in [1 << bits for bits in range(9, 17)]:
        raise ValueError('a damaged Berkeley DB hash database (bad metadata page)')
    last_page, = struct.unpack(order + 'I', header[32:36])
    elements, = struct.unpack(order + 'I', header[88:92])
    return page_size, last_page, elements


def read_problem(header, size, records_read):
    """Why a database of ``size`` bytes and this header cannot hold ``records_read`` records, or None.

    Berkeley DB reads pages beyond the end of a truncated file, and zeroed
    pages, as empty, without an error; the file size and the element count
    of the metadata page tell. The count starts at the creator's size hint:
    1 for files made through ndbm, 0 for saslpasswd2's, so one more element
    than records is normal.
    """
    page_size, last_page, elements = parse_header(header)
    if size < (last_page + 1) * page_size:
        return 'truncated: %d bytes, but the metadata page counts %d pages of %d bytes' % (
            size, last_page + 1, page_size)
    if records_read < elements - 1:
        return 'damaged: only %d records could be read, the metadata page counts %d' % (records_read, elements)
    return None


def needs_default_realm(users):
    return any(isinstance(user, dict) and user.get('realm') is None for user in users or [])


def validate_users(users, default_realm=None):
    """Check ``users``; return (user, realm, password, state) tuples, names and password as bytes.

    The password is None for absent users. Error messages never contain a password.
    """
    if not isinstance(users, list):
        raise ValueError('users must be a list of {name, realm, password, state} items')
    if default_realm is not None:
        _check_realm(default_realm, 'option realm')
    wanted = []
    seen = {}
    for index, user in enumerate(users):
        where = 'users[%d]' % index
        if not isinstance(user, dict) or not {'name'} <= set(user) <= {'name', 'realm', 'password', 'state'}:
            raise ValueError('%s: each item needs "name" and may have "realm", "password", "state"' % where)
        name, realm = user['name'], user.get('realm')
        realm = default_realm if realm is None else realm
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError('%s: user name %r may only contain ASCII letters, digits, ".", "_", "-" and "+"'
                             % (where, name))
        if realm is None:
            raise ValueError('%s (%s): no realm; give one, or set the option realm' % (where, name))
        _check_realm(realm, '%s (%s)' % (where, name))
        where = '%s (%s@%s)' % (where, name, realm)
        # Realms are DNS names, so case is no real difference; both would be
        # distinct keys in the database, though, and only one would ever match.
        identity = (name, realm.lower())
        if identity in seen:
            raise ValueError('%s is listed twice, also as users[%d] (realms compare case-insensitively)'
                             % (where, seen[identity]))
        seen[identity] = index
        state = user.get('state') or 'present'
        if state not in STATES:
            raise ValueError('%s: state must be present or absent' % where)
        password = user.get('password')
        if state == 'present':
            password = _password(password, where)
        wanted.append((name.encode('ascii'), realm.encode('ascii'), password, state))
    return wanted


def _check_realm(realm, where):
    if not isinstance(realm, str) or len(realm) > 253 or not _REALM.match(realm):
        raise ValueError('%s: realm %r must be a domain name (letters, digits, "-", dot-separated labels)'
                         % (where, realm))


def _password(password, where):
    # The message names the user only: the value must not reach any log.
    if not isinstance(password, str) or not password:
        raise ValueError('%s: password must be a non-empty string' % where)
    if '\0' in password:
        raise ValueError('%s: password must not contain a NUL character' % where)
    # No client can type them, and without line breaks no password can hide
    # across two lines of output (see secrets_in).
    if _CONTROL.search(password):
        raise ValueError('%s: password must not contain control characters (line breaks, tabs, ...)' % where)
    return password.encode('utf-8')


def strings_of(value):
    """Every string in a result structure (keys and values), to look for secrets in."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_of(key)
            yield from strings_of(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from strings_of(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def secrets_in(texts, secrets):
    """The ``secrets`` that occur somewhere in ``texts``.

    Looks up every slice of every line whose length is that of some secret in
    a set: linear in the output, where Ansible's own masking tries every
    secret on every string. Secrets contain no line breaks (see _password).
    """
    secrets = {secret for secret in secrets if secret}
    lengths = sorted({len(secret) for secret in secrets})
    found = set()
    lines = {line for text in set(texts) for line in text.splitlines()}
    for line in lines:
        for length in lengths:
            if length > len(line):
                break
            for start in range(len(line) - length + 1):
                if line[start:start + length] in secrets:
                    found.add(line[start:start + length])
    return found


def users_of(records):
    """user@realm identity -> its keys, for every well-formed key of ``records``."""
    identities = {}
    for key in records:
        parts = decode_key(key)
        if parts:
            identities.setdefault(parts[:2], []).append(key)
    return identities


def plan(existing, wanted, exclusive=False):
    """The records the database should hold: (new_records, added, changed, removed).

    ``added``, ``changed`` and ``removed`` are sorted ``user@realm`` strings.
    A removed user loses all its records; a kept user only ever gets its
    userPassword written, so properties this module does not manage survive.
    Keys that are not user NUL realm NUL property were not written by
    saslpasswd2 and are left alone, even when ``exclusive``.
    """
    records = dict(existing)
    identities = users_of(existing)
    added, changed, removed = [], [], []
    listed = set()
    for user, realm, password, state in wanted:
        identity = (user, realm)
        if state == 'absent':
            if identity in identities:
                _remove(records, identities.pop(identity))
                removed.append(label(user, realm))
            continue
        listed.add(identity)
        key = encode_key(user, realm)
        if identity not in identities:
            added.append(label(user, realm))
        elif existing.get(key) != password:
            changed.append(label(user, realm))
        records[key] = password
    if exclusive:
        for identity in set(identities) - listed:
            _remove(records, identities[identity])
            removed.append(label(*identity))
    return records, sorted(added), sorted(changed), sorted(removed)


def _remove(records, keys):
    for key in keys:
        del records[key]


def desired_records(existing, users, exclusive=False, default_realm=None):
    """Validate ``users`` and plan them against ``existing``; see ``plan``."""
    return plan(existing, validate_users(users, default_realm), exclusive)


def user_list(records):
    """The users of ``records`` as text, one ``user@realm`` a line, sorted; for diffs."""
    return ''.join(name + '\n' for name in sorted(label(*identity) for identity in users_of(records)))
