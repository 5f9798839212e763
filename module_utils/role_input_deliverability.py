# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The input checks of the deliverability roles (dkim_signing, spf_policy, dmarc, milters) that need no host.

The same contract as role_input, which merges CHECKS, VARIABLES and OPTIONAL
of this file into its own (lookup mailforge.postfix.role_input): each function
takes the role's variables as the play sees them and returns the problems,
each a message naming the culprit. Kept apart from role_input so that each
file has one concern: these roles check the fleet's DKIM, SPF and DMARC
settings with the models of issue 14 (dkim_keyset, dns_records, milter_chain).

What needs the fleet's vault-encrypted key file (selectors and keys as stored,
a domain to sign without keys, a mix of algorithms) stays with the
dkim_signing lookup, on the controller too, which the dkim_signing role's
tasks/check.yml calls right after these checks; the site playbook's first
play runs both on every MX before any host changes.
"""

from __future__ import annotations

import ipaddress
import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_keyset import domain_problems, wanted_problems
from ansible_collections.mailforge.postfix.plugins.module_utils.dns_records import dmarc_problems
from ansible_collections.mailforge.postfix.plugins.module_utils.mail_fleet import domain_kinds
from ansible_collections.mailforge.postfix.plugins.module_utils.milter_chain import ACTIONS, ChainError, chain

# An authserv-id: a host name (RFC 8601 takes the receiving host's name).
_HOST_NAME = re.compile(r'^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$')
_CANONICALIZATION = re.compile(r'^(relaxed|simple)(/(relaxed|simple))?$')
# RFC 8301: verifiers must not accept RSA keys below 1024 bits.
MIN_VERIFY_BITS = 1024
# How the SPF policy service is named in a restriction (spf_policy__service, master.cf).
SPF_SERVICE = 'private/policyd-spf'


def _strings(values):
    return [str(value) for value in values or []] if isinstance(values, (list, tuple)) else [str(values)]


def _not_networks(values):
    """The entries of ``values`` that are neither an IP address nor a network."""
    refused = []
    for value in _strings(values):
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            refused.append(value)
    return refused


def _not_host_names(values):
    return [value for value in _strings(values) if not _HOST_NAME.match(value)]


def _on(value):
    """A switch as Ansible reads it ("false" from -e key=value is off)."""
    return boolean(value, strict=False) if value is not None else False


def _whole(value):
    if isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def _fleet(v):
    """The domains the fleet handles, as mail_fleet reads them."""
    return set(domain_kinds(_strings(v.get('postfix_mydestination_domains')),
                            _strings(v.get('virtual_domains_alias_domains')),
                            _strings(v.get('virtual_domains_mailbox_domains'))))


def _words(item):
    """A restriction as Postfix reads it: whitespace runs are one space."""
    return ' '.join(str(item).split())


def dkim_signing(v):
    """The dkim_signing role's settings, the domains it signs and the selectors dkim_keys_domains asks for."""
    if not _on(v['dkim_signing_enabled']):
        return []
    problems = []
    if not v['dkim_signing__unix']:
        problems.append('dkim_signing: dkim_signing_socket %s must be unix:/var/spool/postfix/PATH (smtpd runs '
                        'chrooted there)' % (v['dkim_signing_socket'],))
    if _on(v['dkim_signing_verify']):
        if not v['dkim_signing__verify_unix']:
            problems.append('dkim_signing: dkim_signing_verify_socket %s must be unix:/var/spool/postfix/PATH (smtpd '
                            'runs chrooted there)' % (v['dkim_signing_verify_socket'],))
        elif str(v['dkim_signing_verify_socket']) == str(v['dkim_signing_socket']):
            problems.append('dkim_signing: dkim_signing_verify_socket and dkim_signing_socket are both %s: the '
                            'verifier and the signer are two milters, each on its own socket'
                            % (v['dkim_signing_socket'],))
    keys_file = str(v['dkim_signing_keys_file'] or '')
    if not keys_file.startswith('/'):
        problems.append('dkim_signing: dkim_signing_keys_file (%s) must be the absolute path of the fleet\'s key file '
                        'on the controller (default dkim_keys_file; playbooks/dkim_keys.yml writes it)'
                        % (keys_file or 'not set'))
    if _not_host_names([v['dkim_signing_authserv_id']]):
        problems.append('dkim_signing: dkim_signing_authserv_id %r must be a host name' % (v['dkim_signing_authserv_id'],))
    if not _CANONICALIZATION.match(str(v['dkim_signing_canonicalization'])):
        problems.append('dkim_signing: dkim_signing_canonicalization %s must be relaxed or simple, or HEADER/BODY of '
                        'them' % (v['dkim_signing_canonicalization'],))
    bits = _whole(v['dkim_signing_minimum_key_bits'])
    if bits is None or bits < MIN_VERIFY_BITS:
        problems.append('dkim_signing: dkim_signing_minimum_key_bits %s must be a whole number of at least %d '
                        '(RFC 8301)' % (v['dkim_signing_minimum_key_bits'], MIN_VERIFY_BITS))
    fleet = _fleet(v)
    domains = v['dkim_signing_domains']
    if not isinstance(domains, (list, tuple)):
        problems.append('dkim_signing: dkim_signing_domains must be a list of domains')
    else:
        problems += ['dkim_signing: %s' % problem for problem in domain_problems(domains, fleet, 'dkim_signing_domains')]
    if v.get('dkim_keys_domains') is not None:
        problems += ['dkim_signing: %s' % problem for problem in wanted_problems(v['dkim_keys_domains'], fleet)]
    return problems


def spf_policy(v):
    """The spf_policy role's settings, and its check in the recipient restrictions exactly when it is enabled."""
    problems = []
    enabled = _on(v['spf_policy_enabled'])
    if enabled:
        refused = _not_networks(v['spf_policy_skip_addresses'])
        if refused:
            problems.append('spf_policy: spf_policy_skip_addresses entries must be addresses or networks (refused: '
                            '%s)' % ', '.join(refused))
        if _not_host_names([v['spf_policy_authserv_id']]):
            problems.append('spf_policy: spf_policy_authserv_id %r must be a host name' % (v['spf_policy_authserv_id'],))
    recipient = [_words(item) for item in v.get('smtpd_restrictions_recipient') or []]
    check = _words(v['spf_policy_check'])
    if enabled and check not in recipient:
        problems.append('spf_policy: spf_policy_enabled is true but spf_policy_check (%s) is not an item of '
                        'smtpd_restrictions_recipient: put "{{ spf_policy_check }}" there after '
                        'reject_unauth_destination and the recipient checks, so that relay attempts and unknown '
                        'recipients cost no DNS lookups' % check)
    elif enabled and 'reject_unauth_destination' in recipient and (
            recipient.index(check) < recipient.index('reject_unauth_destination')):
        problems.append('spf_policy: spf_policy_check comes before reject_unauth_destination in '
                        'smtpd_restrictions_recipient: relay attempts would cost SPF lookups; move it after')
    if not enabled:
        left = [item for item in recipient if SPF_SERVICE in item]
        if left:
            problems.append('spf_policy: spf_policy_enabled is false but smtpd_restrictions_recipient still asks the '
                            'SPF policy service (%s): take it out, Postfix would ask a service that is not there'
                            % '; '.join(left))
    return problems


def dmarc(v):
    """The dmarc role's settings, the authserv-ids it must trust, and the policy the fleet publishes."""
    if not _on(v['dmarc_enabled']):
        return []
    problems = []
    if not v['dmarc__unix']:
        problems.append('dmarc: dmarc_socket %s must be unix:/var/spool/postfix/PATH (smtpd runs chrooted there)'
                        % (v['dmarc_socket'],))
    refused = _not_host_names([v['dmarc_authserv_id']] + _strings(v['dmarc_trusted_authserv_ids']))
    if refused:
        problems.append('dmarc: dmarc_authserv_id and dmarc_trusted_authserv_ids must be host names (refused: %s)'
                        % ', '.join(refused))
    refused = _not_networks(v['dmarc__ignore_hosts'])
    if refused:
        problems.append('dmarc: dmarc_ignore_hosts entries must be addresses or networks (refused: %s)'
                        % ', '.join(refused))
    trusted = {name.lower() for name in _strings(v['dmarc_trusted_authserv_ids'])}
    for variable, result, enabled in (
            ('dkim_signing_authserv_id', 'DKIM', _on(v.get('dkim_signing_enabled')) and _on(v.get('dkim_signing_verify'))),
            ('spf_policy_authserv_id', 'SPF', _on(v.get('spf_policy_enabled')) and v.get('spf_policy_header') == 'AR')):
        if enabled and v.get(variable) and str(v[variable]).lower() not in trusted:
            problems.append('dmarc: dmarc_trusted_authserv_ids (%s) lacks %s %s: OpenDMARC would ignore the %s '
                            'results in that header' % (', '.join(sorted(trusted)), variable, v[variable], result))
    # Without DKIM results, mail that passes DMARC by DKIM alone (forwarded mail) would fail it.
    if _on(v['dmarc_reject_failures']) and 'dkim_signing_enabled' in v and not (
            _on(v.get('dkim_signing_enabled')) and _on(v.get('dkim_signing_verify'))):
        problems.append('dmarc: dmarc_reject_failures needs the DKIM results of incoming mail (dkim_signing_enabled '
                        'and dkim_signing_verify): without them mail that passes DMARC by DKIM alone, such as '
                        'forwarded mail, would be rejected')
    policy = v.get('dns_records_dmarc')
    if policy is not None:
        if not isinstance(policy, dict):
            problems.append('dmarc: dns_records_dmarc must be a mapping {policy, subdomain_policy, pct, rua, ruf, '
                            'adkim, aspf}')
        else:
            problems += ['dmarc: %s' % problem for problem in dmarc_problems(policy)]
    return problems


def milters(v):
    """The milter chain the milters role will write (milter_chain, with the milter roles' entries)."""
    problems = []
    if v['milters_default_action'] not in ACTIONS:
        problems.append('milters: milters_default_action (%s) must be one of %s'
                        % (v['milters_default_action'], ', '.join(ACTIONS)))
    entries = v['milters_entries']
    if not isinstance(entries, (list, tuple)):
        return problems + ['milters: milters_entries must be a list of the milter roles\' entries']
    try:
        networks = v['milters_internal_networks']
        chain(list(entries), default_action=v['milters_default_action'],
              internal_networks=_strings(networks) if isinstance(networks, (list, tuple)) else [str(networks)])
    except ChainError as error:
        problems += ['milters: %s' % problem for problem in error.problems]
    return problems


CHECKS = {
    'dkim_signing': (dkim_signing,),
    'spf_policy': (spf_policy,),
    'dmarc': (dmarc,),
    'milters': (milters,),
}

# The fleet's domains, as the mail_fleet lookup reads them.
_FLEET = ('postfix_mydestination_domains', 'virtual_domains_alias_domains', 'virtual_domains_mailbox_domains')
VARIABLES = {
    'dkim_signing': ('dkim_signing_enabled', 'dkim_signing_socket', 'dkim_signing__unix', 'dkim_signing_verify',
                     'dkim_signing_verify_socket', 'dkim_signing__verify_unix', 'dkim_signing_keys_file',
                     'dkim_signing_authserv_id', 'dkim_signing_canonicalization', 'dkim_signing_minimum_key_bits',
                     'dkim_signing_domains', 'dkim_keys_domains') + _FLEET,
    'spf_policy': ('spf_policy_enabled', 'spf_policy_skip_addresses', 'spf_policy_authserv_id', 'spf_policy_check',
                   'smtpd_restrictions_recipient'),
    'dmarc': ('dmarc_enabled', 'dmarc_socket', 'dmarc__unix', 'dmarc_authserv_id', 'dmarc_trusted_authserv_ids',
              'dmarc__ignore_hosts', 'dmarc_reject_failures', 'dkim_signing_enabled', 'dkim_signing_verify',
              'dkim_signing_authserv_id', 'spf_policy_enabled', 'spf_policy_header', 'spf_policy_authserv_id',
              'dns_records_dmarc'),
    'milters': ('milters_entries', 'milters_default_action', 'milters_internal_networks'),
}
# Set by the inventory or by another role of the play; absent, the check that
# needs one says what it does then (an absent fleet list is an empty one).
OPTIONAL = {
    'dkim_signing': ('dkim_keys_domains',) + _FLEET,
    'spf_policy': ('smtpd_restrictions_recipient',),
    'dmarc': ('dkim_signing_enabled', 'dkim_signing_verify', 'dkim_signing_authserv_id', 'spf_policy_enabled',
              'spf_policy_header', 'spf_policy_authserv_id', 'dns_records_dmarc'),
}
