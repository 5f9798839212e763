# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several milters in one Postfix: the milter lists, each with its own outage behaviour.

smtpd_milters, non_smtpd_milters and milter_default_action are main.cf
parameters with one owner (the milters role). Each milter role describes its
milter as an entry; this file puts the entries in a fixed order and renders
the two lists. Postfix 3.0+ takes per-milter settings in braces, so each
milter keeps its own outage choice (``{ unix:/x, default_action=accept }``)
instead of sharing the one global milter_default_action. That global one is
the first milter's choice, and a milter whose choice equals it is written
plainly: a chain of the antivirus milter alone is exactly what the antivirus
role wrote before this file owned the lists (``smtpd_milters =
unix:/clamav/clamav-milter.ctl``, ``milter_default_action = tempfail``).

The order is the mail's path, not the roles' run order: ClamAV first (a
rejected virus costs no signature), then DKIM (it verifies inbound mail and
adds Authentication-Results, or signs outbound mail), then DMARC, which reads
the DKIM result from that header.

Internal and external clients. A milter may be for some clients only
(``clients``): ``internal`` for the senders the fleet vouches for - clients in
mynetworks and the SASL-authenticated submission service - and ``external``
for every other SMTP client; ``all`` (the default) for both. A DKIM signer
must never see forged mail from the Internet, and no connect-time macro tells
a mynetworks client apart on port 25, so Postfix itself routes: smtpd_milters
is the external chain (port 25 for everyone), ``smtpd_milter_maps`` (Postfix
3.2+) a cidr table giving each internal network the internal chain (the same
``{ }`` items: smtpd parses a map result like smtpd_milters), and the
submission service takes the internal chain with ``-o smtpd_milters``. One
role may list two entries under its name, one internal and one external (two
instances of its milter); mail submitted on the host itself (non_smtpd) is
internal. Without any internal or external entry both chains are the same and
there is no map: the chain is exactly what it was before clients existed.

An entry: ``{name, socket, state (present|absent), default_action
(accept|tempfail|reject|quarantine), clients (all|internal|external), smtpd
(bool), non_smtpd (bool), units (systemd units stopped once Postfix no longer
uses an absent milter)}``.
"""

from __future__ import annotations

import ipaddress
import re

ORDER = ('antivirus', 'dkim_signing', 'dmarc')
ACTIONS = ('accept', 'tempfail', 'reject', 'quarantine')
CLIENTS = ('all', 'internal', 'external')
# A map result that turns milters off for the client (smtpd.c, SMTPD_MILTERS_DISABLE).
DISABLE = 'DISABLE'
# Postfix's notation: unix:PATH (relative to the chroot for smtpd) or inet:HOST:PORT.
_SOCKET = re.compile(r'^(?:unix:/?[A-Za-z0-9_./-]+|inet:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5})$')


class ChainError(ValueError):
    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__('milters refused, nothing changed: ' + '; '.join(self.problems))


def _item(entry, default_action):
    if entry['default_action'] == default_action:
        return entry['socket']
    return '{ %s, default_action=%s }' % (entry['socket'], entry['default_action'])


def cidr_key(entry):
    """A Postfix mynetworks entry ("[::1]/128", "192.0.2.7") as a cidr table key ("::1/128",
    "192.0.2.7/32"), or None when it is no address or network (a host name, a table).

    Host bits are cleared (Postfix skips a cidr line with host bits set), and an IPv4-mapped
    IPv6 network has one spelling whatever the controller's Python: 3.13 writes
    ::ffff:127.0.0.0/104, older versions ::ffff:7f00:0/104, and two controllers must not
    rewrite each other's files.
    """
    try:
        network = ipaddress.ip_network(str(entry).replace('[', '').replace(']', ''), strict=False)
    except ValueError:
        return None
    mapped = getattr(network.network_address, 'ipv4_mapped', None)
    if mapped is not None:
        return '::ffff:%s/%d' % (mapped, network.prefixlen)
    return str(network)


def _check(entry, default_action, problems, sockets):
    """The entry with its default action, or None for an absent one; its problems appended."""
    if isinstance(entry, dict) and entry.get('default_action') in (None, '') and default_action:
        entry = dict(entry, default_action=default_action)
    name = entry.get('name') if isinstance(entry, dict) else None
    if name not in ORDER:
        problems.append('milter %r is not one of %s' % (name, ', '.join(ORDER)))
        return None
    entry = dict(entry, clients=entry.get('clients') or 'all')
    if entry.get('state', 'present') == 'absent':
        return entry
    socket = entry.get('socket')
    if not isinstance(socket, str) or not _SOCKET.match(socket):
        problems.append('milter %s: socket %r must be unix:PATH or inet:HOST:PORT in Postfix\'s notation'
                        % (name, socket))
    elif socket in sockets:
        problems.append('milters %s and %s share the socket %s' % (sockets[socket], name, socket))
    else:
        sockets[socket] = name
    if entry.get('default_action') not in ACTIONS:
        problems.append('milter %s: default_action %r must be one of %s'
                        % (name, entry.get('default_action'), ', '.join(ACTIONS)))
    if entry['clients'] not in CLIENTS:
        problems.append('milter %s: clients %r must be one of %s' % (name, entry['clients'], ', '.join(CLIENTS)))
    elif entry['clients'] == 'external' and entry.get('non_smtpd', False):
        problems.append('milter %s is for external clients only, but non_smtpd_milters carries the mail submitted '
                        'on the host itself, which is internal' % name)
    return entry


def _twice(present):
    """Names listed more than once, except one role's internal and external pair."""
    listed = {}
    for entry in present:
        listed.setdefault(entry['name'], []).append(entry['clients'])
    return sorted(name for name, clients in listed.items()
                  if len(clients) > 1 and sorted(clients) != ['external', 'internal'])


def chain(entries, default_action=None, internal_networks=()):
    """Postfix's milter settings of the entries.

    ``{smtpd_milters, internal_milters, split, smtpd_milter_map, non_smtpd_milters,
    milter_default_action, stop_units}``: smtpd_milters is the chain of external clients
    (every client when nothing is split), internal_milters that of internal ones, split
    whether they differ; smtpd_milter_map the ``{key, value}`` lines of the cidr table that
    gives each of ``internal_networks`` (mynetworks) the internal chain (``DISABLE`` when it
    is empty), None when nothing is split or there is no network. None entries are roles not
    in the play. ``default_action`` is the choice of an entry without its own.
    milter_default_action is the first milter's choice (None without milters, so that
    Postfix's default comes back).
    """
    problems, present, units, sockets = [], [], [], {}
    for entry in entries:
        if entry is None:
            continue
        entry = _check(entry, default_action, problems, sockets)
        if entry is None:
            continue
        if entry.get('state', 'present') == 'absent':
            units.extend(unit for unit in entry.get('units') or [] if unit not in units)
            continue
        present.append(entry)
    for name in _twice(present):
        problems.append('milter %s is listed twice' % name)
    present.sort(key=lambda entry: ORDER.index(entry['name']))
    external = [entry for entry in present if entry.get('smtpd', True) and entry['clients'] != 'internal']
    internal = [entry for entry in present if entry.get('smtpd', True) and entry['clients'] != 'external']
    split = [entry['socket'] for entry in external] != [entry['socket'] for entry in internal]
    keys = []
    if split:
        for network in internal_networks or ():
            key = cidr_key(network)
            if key is None:
                problems.append('internal network %r (mynetworks) is not an address or network: smtpd_milter_maps, '
                                'a cidr table, gives the internal milters by address' % (network,))
            elif key not in keys:
                keys.append(key)
    if problems:
        raise ChainError(problems)
    used = [entry for entry in present if entry.get('smtpd', True) or entry.get('non_smtpd', False)]
    first = used[0]['default_action'] if used else None
    internal_items = [_item(entry, first) for entry in internal]
    return dict(
        smtpd_milters=[_item(entry, first) for entry in external] or None,
        internal_milters=internal_items or None,
        split=split,
        smtpd_milter_map=[dict(key=key, value=', '.join(internal_items) or DISABLE) for key in keys] or None,
        non_smtpd_milters=[_item(entry, first) for entry in present if entry.get('non_smtpd', False)] or None,
        milter_default_action=first,
        stop_units=units,
    )
