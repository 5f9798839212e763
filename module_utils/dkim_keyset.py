# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's DKIM key set: domains -> selectors, and the rotation steps on it.

One key set for the whole fleet: every MX signs a domain with the same
selector's key, so one DNS record serves them all. A selector is

* ``published``: its key exists and its DNS record should be published; it
  does not sign (a new selector waiting for its record to be visible, or an
  old one kept in DNS so that mail it signed still verifies);
* ``signing``: the MX hosts sign with it (at most one per algorithm and domain);
* ``retired``: its record is withdrawn and its private key deleted; the name
  stays, so that it is never used again for another key.

The rotation steps (``publish``, ``switch``, ``retire``) and ``ensure`` are
pure transitions: a key set in, a new key set and whether it changed out.
Each is idempotent: applied to its own result it changes nothing. Keys come
from a ``generate(algorithm, bits)`` callable, so this file does no crypto.

Messages name the culprit and never quote key material.
"""

from __future__ import annotations

import copy
import datetime
import re

ALGORITHMS = ('rsa', 'ed25519')
STATES = ('published', 'signing', 'retired')
MIN_RSA_BITS = 2048
# Far above any sensible key; caught because a typo (20480) makes generation
# take minutes and the record several times the size of a DNS answer.
MAX_RSA_BITS = 8192
DEFAULT_RSA_BITS = 2048
# One DNS label (RFC 1035 letters, digits, hyphens; no dot, so the record is
# always SELECTOR._domainkey.DOMAIN with exactly one label in front).
_LABEL = re.compile(r'^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')
_FIELDS = ('algorithm', 'bits', 'state', 'private_key', 'public_key', 'created', 'signing_ended')


class KeySetError(ValueError):
    """The key set or a step cannot be applied; ``problems`` lists every reason."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__('DKIM keys refused, nothing changed: ' + '; '.join(self.problems))


def selector_problem(selector):
    """Why ``selector`` is not a selector name, or None."""
    if not isinstance(selector, str) or not _LABEL.match(selector):
        return 'selector %r is not a DNS label (letters, digits and inner hyphens, 1-63 characters, no dot)' \
            % (selector,)
    return None


def spec_problems(domain, spec):
    """Problems of one wanted selector ``{selector, algorithm, bits}`` of ``domain``."""
    if not isinstance(spec, dict):
        return ['%s: a selector must be a mapping with selector, algorithm and (for rsa) bits' % domain]
    problems = []
    unknown = sorted(str(key) for key in spec if key not in ('selector', 'algorithm', 'bits'))
    if unknown:
        problems.append('%s: unknown key(s) %s in a selector; only selector, algorithm and bits are read'
                        % (domain, ', '.join(unknown)))
    found = selector_problem(spec.get('selector'))
    if found:
        problems.append('%s: %s' % (domain, found))
    algorithm = spec.get('algorithm', 'rsa')
    name = spec.get('selector')
    if algorithm not in ALGORITHMS:
        problems.append('%s selector %s: unknown algorithm %r; use rsa or ed25519' % (domain, name, algorithm))
    elif algorithm == 'rsa':
        bits = spec.get('bits', DEFAULT_RSA_BITS)
        if isinstance(bits, bool) or not isinstance(bits, int):
            problems.append('%s selector %s: bits %r is not a whole number' % (domain, name, bits))
        elif bits < MIN_RSA_BITS:
            problems.append('%s selector %s: RSA key size %d is below %d bits (RFC 8301)'
                            % (domain, name, bits, MIN_RSA_BITS))
        elif bits > MAX_RSA_BITS:
            problems.append('%s selector %s: RSA key size %d is above %d bits' % (domain, name, bits, MAX_RSA_BITS))
    elif 'bits' in spec:
        problems.append('%s selector %s: ed25519 keys have a fixed size; remove bits' % (domain, name))
    return problems


def domain_problems(domains, fleet_domains, what='dkim_keys_domains'):
    """Problems of domains to sign that the fleet does not handle (``fleet_domains``, lower case)."""
    problems = []
    for domain in domains:
        if not isinstance(domain, str) or domain.lower() not in fleet_domains:
            problems.append('%s: %r is not a domain the fleet handles (%s); sign only the company\'s domains '
                            '(postfix_mydestination_domains, virtual_domains_alias_domains, '
                            'virtual_domains_mailbox_domains)' % (what, domain, ', '.join(sorted(fleet_domains))
                                                                  or 'none'))
    return problems


def wanted_problems(wanted, fleet_domains):
    """Problems of ``dkim_keys_domains`` (domain -> list of specs): domains, selector names, algorithms, sizes.

    What ``ensure`` refuses before it generates anything; also run by the
    site playbook's first play, so that a bad entry stops the run before any host changes.
    """
    if not isinstance(wanted, dict):
        return ['dkim_keys_domains must map each domain to a list of selectors']
    problems = domain_problems(wanted, fleet_domains)
    for domain, specs in wanted.items():
        if not isinstance(specs, list) or not specs:
            problems.append('dkim_keys_domains: %s needs a list of selectors' % domain)
            continue
        names = [spec.get('selector') for spec in specs if isinstance(spec, dict)]
        for name in sorted({name for name in names if isinstance(name, str) and names.count(name) > 1}):
            problems.append('dkim_keys_domains: %s lists selector %s twice' % (domain, name))
        for spec in specs:
            problems += spec_problems(domain, spec)
    return problems


def keyset_problems(keyset):
    """Problems of a key set as stored (shape, states, one signing selector per algorithm)."""
    if not isinstance(keyset, dict):
        return ['the key file must map each domain to its selectors']
    problems = []
    for domain, selectors in keyset.items():
        if not isinstance(selectors, dict):
            problems.append('%s: must map each selector name to its key' % domain)
            continue
        signing = {}
        for selector, entry in selectors.items():
            where = '%s selector %s' % (domain, selector)
            found = selector_problem(selector)
            if found:
                problems.append('%s: %s' % (domain, found))
            if not isinstance(entry, dict):
                problems.append('%s: must be a mapping' % where)
                continue
            unknown = sorted(str(key) for key in entry if key not in _FIELDS)
            if unknown:
                problems.append('%s: unknown field(s) %s' % (where, ', '.join(unknown)))
            state, algorithm = entry.get('state'), entry.get('algorithm')
            if state not in STATES:
                problems.append('%s: state %r is not one of %s' % (where, state, ', '.join(STATES)))
            if algorithm not in ALGORITHMS:
                problems.append('%s: unknown algorithm %r' % (where, algorithm))
            if state in ('published', 'signing') and not (entry.get('private_key') and entry.get('public_key')):
                problems.append('%s: a %s selector needs its private and public key' % (where, state))
            if state == 'retired' and entry.get('private_key'):
                problems.append('%s: a retired selector keeps no private key' % where)
            if state == 'signing':
                if algorithm in signing:
                    problems.append('%s: %s and %s both sign with %s; one signing selector per algorithm'
                                    % (domain, signing[algorithm], selector, algorithm))
                signing.setdefault(algorithm, selector)
    return problems


def _entry(spec, generate, today):
    algorithm = spec.get('algorithm', 'rsa')
    bits = spec.get('bits', DEFAULT_RSA_BITS) if algorithm == 'rsa' else None
    private_key, public_key = generate(algorithm, bits)
    entry = dict(algorithm=algorithm, state='published', private_key=private_key, public_key=public_key,
                 created=today.isoformat())
    if bits:
        entry['bits'] = bits
    return entry


def _checked(keyset, problems):
    problems = list(problems) + keyset_problems(keyset)
    if problems:
        raise KeySetError(problems)
    return copy.deepcopy(keyset)


def ensure(keyset, wanted, fleet_domains, generate, today):
    """Every selector of ``wanted`` (domain -> list of specs) exists; nothing else changes.

    Missing selectors are generated in state ``published``: a new domain's
    first key waits, like a rotation's, until its record is visible (step
    ``switch``). Existing selectors, retired ones included, are kept as they are.
    """
    if not isinstance(wanted, dict):
        raise KeySetError(wanted_problems(wanted, fleet_domains))
    result = _checked(keyset or {}, wanted_problems(wanted, fleet_domains))
    changed = []
    for domain, specs in wanted.items():
        selectors = result.setdefault(domain.lower(), {})
        for spec in specs:
            if spec['selector'] not in selectors:
                selectors[spec['selector']] = _entry(spec, generate, today)
                changed.append('%s: selector %s generated (published)' % (domain.lower(), spec['selector']))
    return result, changed


def publish(keyset, domain, spec, fleet_domains, generate, today):
    """Step 1 of a rotation: a new selector of ``domain``, generated and published, not signing yet."""
    domain = domain.lower() if isinstance(domain, str) else domain
    problems = domain_problems([domain], fleet_domains, 'dkim_keys_domain') + spec_problems(domain, spec)
    result = _checked(keyset or {}, problems)
    selectors = result.setdefault(domain, {})
    found = selectors.get(spec['selector'])
    if found is None:
        selectors[spec['selector']] = _entry(spec, generate, today)
        return result, ['%s: selector %s generated (published)' % (domain, spec['selector'])]
    algorithm = spec.get('algorithm', 'rsa')
    bits = spec.get('bits', DEFAULT_RSA_BITS) if algorithm == 'rsa' else None
    if found['state'] == 'retired':
        raise KeySetError(['%s selector %s is retired; publish a new selector name (a retired name is never '
                           'reused, so old signatures cannot verify against a new key)' % (domain, spec['selector'])])
    if found['algorithm'] != algorithm or found.get('bits') != bits:
        raise KeySetError(['%s selector %s already exists with %s%s; choose another name'
                           % (domain, spec['selector'], found['algorithm'],
                              ' %d bits' % found['bits'] if found.get('bits') else '')])
    return result, []


def _find(keyset, domain, selector):
    domain = domain.lower() if isinstance(domain, str) else domain
    problems = [] if selector_problem(selector) is None else ['%s: %s' % (domain, selector_problem(selector))]
    if not problems and selector not in (keyset or {}).get(domain, {}):
        known = ', '.join(sorted((keyset or {}).get(domain, {}))) or 'none'
        problems.append('%s has no selector %s in the key file (its selectors: %s)' % (domain, selector, known))
    return domain, problems


def switch(keyset, domain, selector, today):
    """Step 2: ``selector`` signs; the selector that signed with its algorithm goes back to published.

    Run it once the new record is visible in DNS. The old selector stays
    published (its record still verifies mail in flight) until ``retire``.
    """
    domain, problems = _find(keyset, domain, selector)
    result = _checked(keyset or {}, problems)
    selectors = result[domain]
    entry = selectors[selector]
    if entry['state'] == 'retired':
        raise KeySetError(['%s selector %s is retired; publish a new selector and switch to that' % (domain, selector)])
    if entry['state'] == 'signing':
        return result, []
    changed = []
    for name, other in selectors.items():
        if other['state'] == 'signing' and other['algorithm'] == entry['algorithm']:
            other['state'] = 'published'
            other['signing_ended'] = today.isoformat()
            changed.append('%s: selector %s stops signing (still published)' % (domain, name))
    entry['state'] = 'signing'
    entry.pop('signing_ended', None)
    changed.append('%s: selector %s signs' % (domain, selector))
    return result, changed


def retire(keyset, domain, selector, today, grace_days):
    """Step 3: withdraw ``selector``'s record and delete its private key, after the grace period.

    The grace period counts from the day the selector stopped signing, so that
    mail it signed and that is still queued somewhere can be verified.
    """
    domain, problems = _find(keyset, domain, selector)
    result = _checked(keyset or {}, problems)
    entry = result[domain][selector]
    if entry['state'] == 'retired':
        return result, []
    if entry['state'] == 'signing':
        raise KeySetError(['%s selector %s still signs; switch to another selector first' % (domain, selector)])
    ended = entry.get('signing_ended')
    if ended:
        until = datetime.date.fromisoformat(ended) + datetime.timedelta(days=grace_days)
        if today < until:
            raise KeySetError(['%s selector %s stopped signing on %s; retire it on or after %s '
                               '(dkim_keys_grace_days: %d)'
                               % (domain, selector, ended, until.isoformat(), grace_days)])
    entry['state'] = 'retired'
    entry.pop('private_key', None)
    return result, ['%s: selector %s retired (record withdrawn, private key deleted)' % (domain, selector)]


def public_view(keyset):
    """The key set without private keys: what may be shown, logged or returned."""
    return {domain: {selector: {key: value for key, value in entry.items() if key != 'private_key'}
                     for selector, entry in selectors.items()}
            for domain, selectors in (keyset or {}).items()}


def active_selectors(keyset, domain):
    """(selector, entry) of ``domain`` whose record must be in DNS: published and signing, by name."""
    return [(name, entry) for name, entry in sorted((keyset or {}).get(domain, {}).items())
            if entry.get('state') in ('published', 'signing')]
