# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an MX needs to sign with dkimpy-milter: key files and its two tables.

Pure logic: the key set (with private keys: the caller keeps the result out
of every output), the domains to sign and the fleet's domains in; the plan
out, or KeySetError naming every culprit. Every MX gets the same plan, so
one DNS record per selector serves the whole fleet.

dkimpy-milter 1.2.3 reads a KeyTable per algorithm (``KeyTable`` for RSA,
``KeyTableEd25519``), each line ``NAME DOMAIN:SELECTOR:/path/of/key``, and a
SigningTable (``refile:``, wildcard keys) that maps ``*@DOMAIN`` to the key
NAME. It splits the table values at ``:`` (so paths never hold one) and, once
both key tables exist, looks every matched NAME up in both: a domain signed
with only one algorithm while another is signed with two would make the
milter fail on that domain's mail. The plan refuses that mix instead.

Whose mail is signed is not the milter's choice here: its InternalHosts and
MacroList only skip verification, and 1.2.3 signs whatever reaches it in a
signing mode. Postfix hands it only the mail of internal clients (the milters
role's chains, module milter_chain).
"""

from __future__ import annotations

from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_keyset import (
    KeySetError, domain_problems, keyset_problems)

KEY_DIR = '/etc/dkimpy-milter/keys'


def key_path(domain, selector, algorithm, key_dir=KEY_DIR):
    return '%s/%s.%s.%s' % (key_dir, domain, selector, algorithm)


def plan(keyset, domains, fleet_domains, key_dir=KEY_DIR):
    """The signing plan of the fleet's MX hosts.

    Returns ``key_files`` ([{path, content}]), ``key_table`` and
    ``key_table_ed25519`` (lines, empty when that algorithm signs nothing),
    ``signing_table`` (lines), ``signed`` ({domain:
    {algorithm: selector}}) and ``unsigned`` (domains to sign that have no
    signing selector yet: their keys wait in state published).
    """
    problems = domain_problems(domains, fleet_domains, 'dkim_signing_domains')
    problems += keyset_problems(keyset)
    if problems:
        raise KeySetError(problems)
    signed, unsigned, files = {}, [], []
    tables = {'rsa': [], 'ed25519': []}
    for domain in sorted({name.lower() for name in domains}):
        selectors = (keyset or {}).get(domain)
        if not selectors:
            problems.append('%s has no keys in the key file; run playbooks/dkim_keys.yml first' % domain)
            continue
        signing = {entry['algorithm']: (selector, entry) for selector, entry in sorted(selectors.items())
                   if entry['state'] == 'signing'}
        if not signing:
            unsigned.append(domain)
            continue
        signed[domain] = {}
        for algorithm, (selector, entry) in sorted(signing.items()):
            path = key_path(domain, selector, algorithm, key_dir)
            files.append(dict(path=path, content=entry['private_key'].rstrip('\n') + '\n'))
            tables[algorithm].append('%s %s:%s:%s' % (domain, domain, selector, path))
            signed[domain][algorithm] = selector
    both = [domain for domain, algorithms in signed.items() if len(algorithms) == 2]
    if both:
        for domain, algorithms in sorted(signed.items()):
            if len(algorithms) == 1:
                problems.append('%s signs with %s only, while %s sign%s with rsa and ed25519; dkimpy-milter needs '
                                'the same algorithms for every signed domain: switch a selector of the other '
                                'algorithm for %s, or stop signing with it elsewhere'
                                % (domain, list(algorithms)[0], ', '.join(both), 's' if len(both) == 1 else '',
                                   domain))
    if problems:
        raise KeySetError(problems)
    return dict(
        key_files=files,
        key_table=tables['rsa'],
        key_table_ed25519=tables['ed25519'],
        signing_table=['*@%s %s' % (domain, domain) for domain in sorted(signed)],
        signed=signed,
        unsigned=unsigned,
    )
