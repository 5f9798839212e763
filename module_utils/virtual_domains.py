# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic for virtual alias and mailbox domains (Handbook 11.1.2, Postfix virtual(5), virtual(8)).

Turns the readable data model (domains, address -> targets, address -> mailbox
path) into the virtual_* parameters of main.cf and the contents of the alias
and mailbox tables, and collects every problem before anything changes.
"""

from __future__ import annotations

import posixpath
import re

from ansible_collections.mailforge.postfix.plugins.module_utils.mail_names import (
    LOCAL_PART, is_domain, split_address)

_MAILBOX_PATH = re.compile(r'^[A-Za-z0-9._+@=-]+(?:/[A-Za-z0-9._+@=-]+)*/?$')
ROLE_ADDRESSES = ('postmaster',)


class VirtualDomainsError(Exception):
    """The data cannot be configured; ``problems`` lists every reason."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__('virtual domains refused, nothing changed: ' + '; '.join(problems))


def _is_target(target):
    """A forwarding target: a full address, or a bare local name that Postfix completes with $myorigin."""
    if not isinstance(target, str):
        return False
    if '@' not in target:
        return bool(LOCAL_PART.match(target))
    parts = split_address(target)
    return bool(parts and parts[0])


def _domains(domains, what, problems):
    if not isinstance(domains, list):
        problems.append('%s must be a list of domain names' % what)
        return []
    seen = []
    for domain in domains:
        if not is_domain(domain):
            problems.append('%s: %r is not a domain name' % (what, domain))
        elif domain.lower() in seen:
            problems.append('%s: %s is listed twice' % (what, domain))
        else:
            seen.append(domain.lower())
    return seen


def _pairs(table, value_name, what, problems):
    """Items of a dict (address: value) or of a list of {address, <value_name>}, in a stable order."""
    if isinstance(table, dict):
        return sorted(table.items(), key=lambda item: str(item[0]))
    if isinstance(table, list):
        pairs = []
        for index, item in enumerate(table):
            if isinstance(item, dict) and set(item) == {'address', value_name}:
                pairs.append((item['address'], item[value_name]))
            else:
                problems.append('%s[%d]: each item needs exactly "address" and "%s"' % (what, index, value_name))
        return pairs
    problems.append('%s must be a dict of address: %s, or a list of {address, %s}' % (what, value_name, value_name))
    return []


def _keys(pairs, domains, domain_kind, what, problems):
    """Checked (address, value, domain) triples; case-insensitive duplicates refused."""
    checked, seen = [], {}
    for address, value in pairs:
        parts = split_address(address)
        if parts is None:
            problems.append('%s: %r is not an address (local@domain) or a catch-all (@domain)' % (what, address))
            continue
        if parts[1] not in domains:
            problems.append('%s: %s is not in a %s' % (what, address, domain_kind))
            continue
        folded = address.lower()
        if folded in seen:
            # Postfix folds table keys to lower case: only one of them could ever match.
            problems.append('%s: %s and %s are the same key (addresses are looked up in lower case)'
                            % (what, seen[folded], address))
            continue
        seen[folded] = address
        checked.append((address, value, parts[1]))
    return checked


def _targets(address, value, problems):
    targets = value if isinstance(value, list) else [value]
    if not targets:
        problems.append('alias %s: needs at least one target' % address)
    bad = [target for target in targets if not _is_target(target)]
    if bad:
        problems.append('alias %s: %s not a valid target address' % (address, ', '.join(repr(t) for t in bad)
                                                                     + (' is' if len(bad) == 1 else ' are')))
        return []
    if len({target.lower() for target in targets}) != len(targets):
        problems.append('alias %s: a target is listed twice' % address)
    return targets


def _mailbox_path(address, path, problems):
    if not isinstance(path, str) or not _MAILBOX_PATH.match(path) or '..' in path.split('/') \
            or '.' in path.rstrip('/').split('/'):
        problems.append('mailbox %s: path %r must be relative to the mailbox base, made of letters, digits '
                        'and ._+@=- separated by "/", without "." or ".." parts (end it with "/" for a maildir)'
                        % (address, path))
        return None
    return path


def plan(alias_domains, aliases, mailbox_domains, mailboxes, local_domains=(), mailbox_base='/var/mail/vhosts',
         uid=5000, gid=5000, minimum_uid=100, map_type='hash', config_dir='/etc/postfix', elsewhere_domains=()):
    """Everything the role writes, or VirtualDomainsError with every problem.

    ``local_domains`` are the expanded mydestination domains: Postfix wants
    each domain in exactly one address class. ``elsewhere_domains`` are
    domains of the fleet that another host delivers (an MX relays them to
    their mailbox host): their data is checked all the same, so bad input
    fails on every host, but it is left out of this host's tables.
    """
    problems, warnings = [], []
    alias_domains = _domains(alias_domains, 'alias_domains', problems)
    mailbox_domains = _domains(mailbox_domains, 'mailbox_domains', problems)
    elsewhere = {domain.lower() for domain in elsewhere_domains}
    # A local domain of the fleet that another host delivers still takes aliases.
    local_domains = [domain.lower() for domain in local_domains] + sorted(
        elsewhere - set(alias_domains) - set(mailbox_domains))
    for domain in alias_domains:
        if domain in mailbox_domains:
            problems.append('%s is both an alias domain and a mailbox domain; a domain belongs to one class'
                            % domain)
    for domain in alias_domains + mailbox_domains:
        if domain in local_domains:
            problems.append('%s is also in mydestination; a domain must be local or virtual, not both' % domain)
    if not isinstance(mailbox_base, str) or not posixpath.isabs(mailbox_base) \
            or posixpath.normpath(mailbox_base) in ('/', '/etc', '/var', '/tmp'):
        problems.append('mailbox_base %r must be an absolute path of its own (not /, /etc, /var or /tmp)'
                        % (mailbox_base,))
    for name, number in (('uid', uid), ('gid', gid)):
        if isinstance(number, bool) or not isinstance(number, int) or number < minimum_uid:
            problems.append('%s %r must be a number of at least %d (virtual_minimum_uid)' % (name, number, minimum_uid))

    mailbox_triples = _keys(_pairs(mailboxes, 'path', 'mailboxes', problems), mailbox_domains,
                            'mailbox domain', 'mailbox', problems)
    mailbox_entries, kinds, paths = [], {}, {}
    for address, path, _domain in mailbox_triples:
        path = _mailbox_path(address, path, problems)
        if path is None:
            continue
        if path.rstrip('/') in paths:
            problems.append('mailboxes %s and %s share the path %s; give one of them an alias instead'
                            % (paths[path.rstrip('/')], address, path))
            continue
        paths[path.rstrip('/')] = address
        mailbox_entries.append((address, path))
        kinds[address] = 'maildir' if path.endswith('/') else 'mbox'

    alias_triples = _keys(_pairs(aliases, 'targets', 'aliases', problems), alias_domains + mailbox_domains
                          + local_domains, 'domain this host receives mail for', 'alias', problems)
    alias_entries = []
    mailbox_addresses = {mailbox.lower() for mailbox, _path in mailbox_entries}
    for address, value, _domain in alias_triples:
        targets = _targets(address, value, problems)
        if address.lower() in mailbox_addresses \
                and address.lower() not in (target.lower() for target in targets):
            problems.append('mailbox %s would never receive mail: its alias sends everything to %s; list %s among '
                            'the targets to keep a copy' % (address, ', '.join(targets), address))
        if targets:
            alias_entries.append((address, ', '.join(targets)))
    if problems:
        raise VirtualDomainsError(problems)

    def here(address):
        return address.split('@')[1].lower() not in elsewhere
    alias_domains = [domain for domain in alias_domains if domain not in elsewhere]
    mailbox_domains = [domain for domain in mailbox_domains if domain not in elsewhere]
    alias_entries = [entry for entry in alias_entries if here(entry[0])]
    mailbox_entries = [entry for entry in mailbox_entries if here(entry[0])]
    kinds = {address: kind for address, kind in kinds.items() if here(address)}
    alias_entries.extend(_catch_all_exemptions(alias_entries, mailbox_entries))
    warnings.extend(_missing_role_addresses(alias_domains + mailbox_domains, alias_entries, mailbox_entries))
    base = posixpath.normpath(mailbox_base)
    return dict(
        parameters={
            'virtual_alias_domains': alias_domains,
            'virtual_alias_maps': '%s:%s' % (map_type, posixpath.join(config_dir, 'virtual')),
            'virtual_mailbox_domains': mailbox_domains,
            'virtual_mailbox_maps': '%s:%s' % (map_type, posixpath.join(config_dir, 'vmailbox')),
            'virtual_mailbox_base': base,
            'virtual_uid_maps': 'static:%d' % uid,
            'virtual_gid_maps': 'static:%d' % gid,
        },
        alias_entries=[dict(key=key, value=value) for key, value in alias_entries],
        mailbox_entries=[dict(key=key, value=value) for key, value in mailbox_entries],
        mailbox_kinds=kinds,
        directories=_directories(base, [path for _address, path in mailbox_entries]),
        warnings=warnings,
    )


def _catch_all_exemptions(alias_entries, mailbox_entries):
    """Identity aliases for the mailboxes of a domain that has a catch-all alias.

    virtual_alias_maps is read before virtual_mailbox_maps, so "@domain" would
    otherwise take the mail of every mailbox of that domain (VIRTUAL_README).
    """
    catch_alls = {key[1:].lower() for key, _value in alias_entries if key.startswith('@')}
    aliased = {key.lower() for key, _value in alias_entries}
    return [(address, address) for address, _path in mailbox_entries
            if not address.startswith('@') and address.split('@')[1].lower() in catch_alls
            and address.lower() not in aliased]


def _missing_role_addresses(domains, alias_entries, mailbox_entries):
    known = {key.lower() for key, _value in alias_entries + mailbox_entries}
    return ['%s has no %s@ address (RFC 5321 requires one); add an alias or a catch-all' % (domain, role)
            for domain in domains for role in ROLE_ADDRESSES
            if '%s@%s' % (role, domain) not in known and '@' + domain not in known]


def _directories(base, paths):
    """The mailbox base and the parents of every mailbox, which the role creates for the vmail user.

    virtual(8) creates a maildir or an mbox file itself, but only inside a
    directory that exists.
    """
    found = {base}
    for path in paths:
        parts = path.rstrip('/').split('/')[:-1]
        for depth in range(1, len(parts) + 1):
            found.add(posixpath.join(base, *parts[:depth]))
    return sorted(found)
