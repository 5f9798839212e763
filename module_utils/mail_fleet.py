# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet as one mail system: what each host does with the company's domains.

MX hosts (inventory group ``mx_hosts``) receive mail from the Internet and
filter it; mailbox hosts (group ``mailbox_hosts``) deliver it. An MX that does
not hold a domain's mailboxes relays that domain to the host that does, and
accepts only the recipients that exist there (relay_recipient_maps), so that
unknown addresses are refused at RCPT even while the mailbox host is down.
A mailbox host that is not an MX takes mail only from the MX hosts and
mynetworks. With neither group in the inventory, every mail server is both:
the Handbook's single server.

Pure logic: inventory data in, the plan for one host out, every problem
collected before anything changes.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.mailforge.postfix.plugins.module_utils.mail_names import (
    LOCAL_PART, is_domain, split_address)
from ansible_collections.mailforge.postfix.plugins.module_utils.virtual_domains import (
    VirtualDomainsError, plan as virtual_plan)

FLEET_GROUP = 'mail_servers'
MX_GROUP = 'mx_hosts'
MAILBOX_GROUP = 'mailbox_hosts'
# main.cf parameters through which a host delivers a domain itself.
LOCAL_DELIVERY_PARAMETERS = ('mydestination', 'virtual_alias_domains', 'virtual_mailbox_domains')
CLASS_VARIABLES = {'local': 'postfix_mydestination_domains', 'alias': 'virtual_domains_alias_domains',
                   'mailbox': 'virtual_domains_mailbox_domains'}
MAILBOX_ONLY_RELAY_RESTRICTIONS = ['permit_mynetworks', 'reject']
# Postfix's default (3.7 and 3.10) without relay_domains: relaying falcot.test
# must not make its subdomains (the hosts' own names, such as
# mx2.falcot.test) relay domains whose recipients the MX does not know.
PARENT_DOMAIN_MATCHES = ['debug_peer_list', 'fast_flush_domains', 'mynetworks', 'permit_mx_backup_networks',
                         'qmqpd_authorized_clients', 'smtpd_access_maps']


class FleetError(Exception):
    """The fleet cannot be configured; ``problems`` lists every reason."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__('mail fleet refused, nothing changed: ' + '; '.join(problems))


def domain_kinds(local_domains=(), alias_domains=(), mailbox_domains=(), problems=None):
    """The company's domains (lower case) -> 'local', 'alias' or 'mailbox'.

    The one place that says which domains the fleet handles: the fleet plan
    and every role that must refuse a domain the fleet does not handle (DKIM
    signing, the DNS records) read them from here. A domain in two classes is
    added to ``problems``; names that are not domains are skipped, the roles
    owning those lists name them.
    """
    kinds = {}
    for kind, names in (('local', local_domains), ('alias', alias_domains), ('mailbox', mailbox_domains)):
        for name in names or []:
            if not is_domain(name):
                continue
            if kinds.setdefault(name.lower(), kind) != kind and problems is not None:
                problems.append('%s is in %s and in %s; a domain must be local or virtual (alias or mailbox), '
                                'not both' % (name, CLASS_VARIABLES[kinds[name.lower()]], CLASS_VARIABLES[kind]))
    return kinds


def node(variables, name):
    """{fqdn, address} of mail server ``name`` from its host variables.

    ``fqdn`` is postfix_myhostname or the inventory name (the relay next hop);
    ``address`` is postfix_fleet_address, else ansible_host, else the name
    (how the mailbox host lets it in, and what SPF publishes for it).
    """
    return dict(fqdn=str(variables.get('postfix_myhostname') or name),
                address=str(variables.get('postfix_fleet_address') or variables.get('ansible_host') or name))


def parts(host, groups):
    """(is_mx, is_mailbox) of ``host``; FleetError when the groups do not say."""
    mx, mailbox = _members(groups, MX_GROUP), _members(groups, MAILBOX_GROUP)
    if not mx and not mailbox:
        return True, True
    if host not in mx and host not in mailbox:
        raise FleetError(['%s is in %s but in neither %s nor %s; put it in one of them (or both)'
                          % (host, FLEET_GROUP, MX_GROUP, MAILBOX_GROUP)])
    return host in mx, host in mailbox


def _members(groups, name):
    return list(groups.get(name) or [])


def _names(value):
    """Domain names of a main.cf value given as a string or a list."""
    items = value if isinstance(value, list) else [value]
    return [name.lower() for item in items if isinstance(item, str)
            for name in re.split(r'[\s,]+', item) if name]


def _assign(host_names, groups, mailbox_hosts, company, problems):
    """domain -> inventory name of its mailbox host."""
    mailbox_group = _members(groups, MAILBOX_GROUP)
    if not isinstance(mailbox_hosts, dict):
        problems.append('postfix_fleet_mailbox_hosts must map a mailbox host to the list of its domains')
        return {}
    if not mailbox_hosts:
        if not mailbox_group:
            problems.append('group %s is empty: name the host that holds the mailboxes' % MAILBOX_GROUP)
            return {}
        if len(mailbox_group) > 1:
            problems.append('group %s has %d hosts (%s): say in postfix_fleet_mailbox_hosts which domains each '
                            'one holds' % (MAILBOX_GROUP, len(mailbox_group), ', '.join(mailbox_group)))
            return {}
        return {domain: mailbox_group[0] for domain in company}
    assigned = {}
    for host, domains in mailbox_hosts.items():
        if host not in host_names:
            problems.append('postfix_fleet_mailbox_hosts: mailbox host %s is not a host of the inventory' % host)
        elif host not in mailbox_group:
            problems.append('postfix_fleet_mailbox_hosts: %s is not in group %s' % (host, MAILBOX_GROUP))
        if not isinstance(domains, list) or not domains:
            problems.append('postfix_fleet_mailbox_hosts: %s needs a list of domains' % host)
            continue
        for domain in domains:
            name = domain.lower() if isinstance(domain, str) else domain
            if name not in company:
                problems.append('postfix_fleet_mailbox_hosts: %r (mailbox host %s) is not one of the fleet\'s '
                                'domains (postfix_mydestination_domains, virtual_domains_alias_domains, '
                                'virtual_domains_mailbox_domains)' % (domain, host))
            elif name in assigned and assigned[name] != host:
                problems.append('%s has two mailbox hosts: %s and %s; one host holds the mailboxes of a domain'
                                % (name, assigned[name], host))
            else:
                assigned[name] = host
    for domain in company:
        if domain not in assigned:
            problems.append('%s has no mailbox host: add it to postfix_fleet_mailbox_hosts' % domain)
    return assigned


def _network(host, address, problems):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        problems.append('%s: postfix_fleet_address (or ansible_host) %r must be an IP address; the mailbox host '
                        'lets MX hosts in by address' % (host, address))
        return None
    return '%s/32' % ip if ip.version == 4 else '[%s]/128' % ip


def _recipients(relayed, local_domains, aliases, local_recipients, virtual_keys, problems):
    """relay_recipient_maps keys (lower case) for the relayed domains."""
    names = []
    for name in list(aliases or {}) + list(local_recipients or []):
        if not isinstance(name, str) or not LOCAL_PART.match(name):
            problems.append('local recipient %r is not a local part (a user or alias name)' % (name,))
        elif name.lower() not in names:
            names.append(name.lower())
    keys = {'%s@%s' % (name, domain) for domain in relayed if domain in local_domains for name in names}
    for address in virtual_keys:
        found = split_address(address)
        if found and found[1] in relayed:
            keys.add(address.lower())
    for domain in relayed:
        if not any(key.endswith('@' + domain) for key in keys):
            problems.append('%s: no recipient is known (postfix_aliases, postfix_local_recipients, '
                            'virtual_domains_aliases, virtual_domains_mailboxes), so the MX hosts would refuse '
                            'all its mail' % domain)
    return sorted(keys)


def plan(host, groups, nodes, mailbox_hosts, local_domains=(), alias_domains=(), mailbox_domains=(),
         aliases=None, local_recipients=(), virtual_aliases=None, virtual_mailboxes=None, layers=None):
    """What ``host`` does in the fleet, or FleetError with every problem.

    ``nodes`` maps each mail server's inventory name to its ``fqdn`` (the
    relay next hop) and ``address`` (how the mailbox host knows it).
    ``layers`` are the user's main.cf layers by variable name, checked for a
    relayed domain that they would also deliver locally.
    """
    problems = []
    try:
        is_mx, is_mailbox = parts(host, groups)
    except FleetError as error:
        raise FleetError(error.problems) from None
    if not isinstance(local_recipients, list):
        problems.append('postfix_local_recipients must be a list of local user names')
        local_recipients = []
    kinds = domain_kinds(local_domains, alias_domains, mailbox_domains, problems)
    company = sorted(kinds)
    single = not _members(groups, MX_GROUP) and not _members(groups, MAILBOX_GROUP)
    assigned = {domain: host for domain in company} if single else \
        _assign(set(groups.get('all') or nodes), groups, mailbox_hosts, company, problems)

    mine = [domain for domain in company if assigned.get(domain) == host]
    relayed = [domain for domain in company if is_mx and assigned.get(domain) not in (None, host)]
    for layer_name, layer in (layers or {}).items():
        for parameter in LOCAL_DELIVERY_PARAMETERS:
            for name in _names((layer or {}).get(parameter)):
                if name in relayed:
                    problems.append('%s is relayed to %s, but %s.%s would also deliver it locally on %s'
                                    % (name, assigned[name], layer_name, parameter, host))
    transport = {}
    for domain in relayed:
        target = nodes.get(assigned[domain], {})
        transport[domain] = 'relay:[%s]' % (target.get('fqdn') or assigned[domain])
    # The virtual data feeds the recipient list, so its own rules (virtual_domains) run here first,
    # on the controller: bad data fails on every host before any of them changes.
    own_names = [(nodes.get(host) or {}).get('fqdn') or host, 'localhost.localdomain', 'localhost']
    try:
        # Its table entries are the virtual recipients, read in either of the data's forms.
        virtual = virtual_plan(list(alias_domains or []), virtual_aliases or {}, list(mailbox_domains or []),
                               virtual_mailboxes or {}, local_domains=own_names + list(local_domains or []))
    except VirtualDomainsError as error:
        problems.extend(error.problems)
        virtual = None
    recipients = _recipients(
        relayed, [d for d in company if kinds[d] == 'local'], aliases, local_recipients,
        [entry['key'] for entry in virtual['alias_entries'] + virtual['mailbox_entries']], problems,
    ) if relayed and virtual else []
    trusted = []
    if is_mailbox and not single and any(assigned.get(domain) == host for domain in company):
        for name in _members(groups, MX_GROUP):
            if name != host:
                network = _network(name, (nodes.get(name) or {}).get('address'), problems)
                if network and network not in trusted:
                    trusted.append(network)
    if problems:
        raise FleetError(problems)
    return dict(
        mx=is_mx,
        mailbox=is_mailbox,
        local_domains=[domain for domain in mine if kinds[domain] == 'local'],
        relay_domains=relayed,
        parent_domain_matches_subdomains=list(PARENT_DOMAIN_MATCHES) if relayed else None,
        transport=transport,
        relay_recipients={key: 'OK' for key in recipients},
        trusted_networks=trusted,
        relay_restrictions=None if is_mx else list(MAILBOX_ONLY_RELAY_RESTRICTIONS),
        # Delivered by another host: the virtual_domains role checks their data but writes none of it.
        elsewhere_domains=[domain for domain in company if domain not in mine],
    )
