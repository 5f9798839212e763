# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DNS records of the fleet's sending domains: DKIM, SPF and DMARC.

Pure logic: the public side of the key set, the MX hosts' addresses and the
policy settings in; per domain, a list of TXT records out, rendered as a
zone-file snippet for an admin to paste, or as dnsmasq lines for the lab.

* DKIM: ``SELECTOR._domainkey.DOMAIN TXT "v=DKIM1; k=rsa|ed25519; p=..."``
  for every selector that is published or signing. A TXT string holds at
  most 255 octets, so a long record is split into several strings, which a
  verifier joins (RFC 6376 3.6.2.2).
* SPF: ``DOMAIN TXT "v=spf1 ip4:... ip6:... -all"``: the sending MX hosts'
  addresses, then optional extra mechanisms, then the ``all`` qualifier.
* DMARC: ``_dmarc.DOMAIN TXT "v=DMARC1; p=..."`` (RFC 7489 6.3).
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_keyset import active_selectors

TXT_STRING_MAX = 255
DMARC_POLICIES = ('none', 'quarantine', 'reject')
ALIGNMENTS = ('r', 's')
SPF_ALL = ('-all', '~all', '?all')
# Extra SPF terms an admin may add (RFC 7208 5 and 6); "all" is the qualifier setting's.
_SPF_TERM = re.compile(r'^[+?~-]?(?:a|mx|ptr|include|exists|ip4|ip6)(?::[^\s"]+)?(?:/\d{1,3})?$'
                       r'|^(?:redirect|exp)=[^\s"]+$', re.IGNORECASE)
_MAILTO = re.compile(r'^mailto:[^\s@;,!"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?:![0-9]+[kmgt]?)?$')


class RecordsError(ValueError):
    """The records cannot be written; ``problems`` lists every reason."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__('DNS records refused, nothing written: ' + '; '.join(self.problems))


def txt_strings(text):
    """``text`` cut into TXT character-strings of at most 255 octets."""
    return [text[start:start + TXT_STRING_MAX] for start in range(0, len(text), TXT_STRING_MAX)] or ['']


def dkim_value(algorithm, public_key):
    return 'v=DKIM1; k=%s; p=%s' % (algorithm, public_key)


def spf_value(addresses, extra=(), all_qualifier='-all'):
    terms = ['v=spf1']
    for address in addresses:
        ip = ipaddress.ip_address(address)
        terms.append('%s:%s' % ('ip4' if ip.version == 4 else 'ip6', ip))
    return ' '.join(terms + list(extra) + [all_qualifier])


def dmarc_value(policy):
    """The DMARC record of a checked ``policy`` dict (see dmarc_problems)."""
    tags = ['v=DMARC1', 'p=%s' % policy['policy']]
    if policy.get('subdomain_policy'):
        tags.append('sp=%s' % policy['subdomain_policy'])
    if policy.get('pct') not in (None, 100):
        tags.append('pct=%d' % policy['pct'])
    if policy.get('rua'):
        tags.append('rua=%s' % ','.join(policy['rua']))
    if policy.get('ruf'):
        tags.append('ruf=%s' % ','.join(policy['ruf']))
    for tag in ('adkim', 'aspf'):
        if policy.get(tag) and policy[tag] != 'r':
            tags.append('%s=%s' % (tag, policy[tag]))
    return '; '.join(tags)


def dmarc_problems(policy, where='dns_records_dmarc'):
    """Problems of a DMARC policy dict: policy, subdomain_policy, pct, rua, ruf, adkim, aspf."""
    problems = []
    if policy.get('policy') not in DMARC_POLICIES:
        problems.append('%s policy %r is not a DMARC policy; use one of %s'
                        % (where, policy.get('policy'), ', '.join(DMARC_POLICIES)))
    if policy.get('subdomain_policy') not in (None, '') + DMARC_POLICIES:
        problems.append('%s subdomain_policy %r is not a DMARC policy; use one of %s, or leave it empty'
                        % (where, policy.get('subdomain_policy'), ', '.join(DMARC_POLICIES)))
    pct = policy.get('pct', 100)
    if pct is not None and (isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100):
        problems.append('%s pct %r must be a whole number from 0 to 100' % (where, pct))
    for tag in ('rua', 'ruf'):
        for uri in policy.get(tag) or []:
            if not isinstance(uri, str) or not _MAILTO.match(uri):
                problems.append('%s %s %r is not a mailto: address' % (where, tag, uri))
    for tag in ('adkim', 'aspf'):
        if policy.get(tag) not in (None, '') + ALIGNMENTS:
            problems.append('%s %s %r must be r (relaxed) or s (strict)' % (where, tag, policy.get(tag)))
    return problems


def spf_problems(addresses, extra, all_qualifier):
    problems = []
    for host, address in addresses.items():
        try:
            ipaddress.ip_address(address)
        except ValueError:
            problems.append('%s: postfix_fleet_address (or ansible_host) %r must be an IP address; SPF publishes '
                            'the MX hosts by address' % (host, address))
    for term in extra:
        if not isinstance(term, str) or not _SPF_TERM.match(term):
            problems.append('dns_records_spf_extra: %r is not an SPF mechanism or modifier' % (term,))
    if all_qualifier not in SPF_ALL:
        problems.append('dns_records_spf_all %r must be one of %s' % (all_qualifier, ', '.join(SPF_ALL)))
    return problems


def records(domains, keyset, senders, spf_extra=(), spf_all='-all', dmarc=None):
    """domain -> [(owner name, TXT value)], or RecordsError with every problem.

    ``senders`` maps each sending MX host to its address; ``dmarc`` is the
    policy dict (see dmarc_problems). A domain without an active selector gets
    its SPF and DMARC records only.
    """
    dmarc = dmarc or {'policy': 'none'}
    problems = spf_problems(senders, spf_extra, spf_all) + dmarc_problems(dmarc)
    if not senders:
        problems.append('no sending host: the group mx_hosts (or mail_servers) is empty')
    if problems:
        raise RecordsError(problems)
    addresses = sorted({ipaddress.ip_address(address) for address in senders.values()},
                       key=lambda ip: (ip.version, ip))
    spf = spf_value([str(ip) for ip in addresses], spf_extra, spf_all)
    result = {}
    for domain in domains:
        found = [('%s._domainkey.%s.' % (selector, domain), dkim_value(entry['algorithm'], entry['public_key']))
                 for selector, entry in active_selectors(keyset, domain)]
        result[domain] = found + [('%s.' % domain, spf), ('_dmarc.%s.' % domain, dmarc_value(dmarc))]
    return result


def _quoted(text):
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')


def zone_snippet(domain, entries, ttl=3600):
    """Zone-file lines (RFC 1035 master file) for one domain's records."""
    lines = ['; DKIM, SPF and DMARC records of %s, written by mailforge (playbooks/dns_records.yml)' % domain]
    for owner, value in entries:
        strings = txt_strings(value)
        if len(strings) == 1:
            lines.append('%s %d IN TXT %s' % (owner, ttl, _quoted(strings[0])))
        else:
            # Parentheses let one record span lines; the strings are joined by the verifier.
            lines.append('%s %d IN TXT (' % (owner, ttl))
            lines.extend('    %s' % _quoted(string) for string in strings)
            lines.append('    )')
    return '\n'.join(lines) + '\n'


def dnsmasq_lines(domain, entries):
    """The same records as dnsmasq ``txt-record`` lines (the lab's DNS server)."""
    lines = ['# DKIM, SPF and DMARC records of %s, written by mailforge (playbooks/dns_records.yml)' % domain]
    for owner, value in entries:
        lines.append('txt-record=%s,%s' % (owner.rstrip('.'), ','.join(_quoted(s) for s in txt_strings(value))))
    return '\n'.join(lines) + '\n'


def txt_matches(strings, algorithm, public_key):
    """True when a TXT answer (its strings) is the DKIM record of this key: how step switch checks DNS."""
    text = ''.join(strings)
    tags = {}
    for part in text.split(';'):
        if '=' in part:
            name, value = part.split('=', 1)
            tags[name.strip()] = re.sub(r'\s+', '', value)
    return (tags.get('v', 'DKIM1') == 'DKIM1' and tags.get('k', 'rsa') == algorithm
            and tags.get('p') == public_key)
