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

An entry: ``{name, socket, state (present|absent), default_action
(accept|tempfail|reject|quarantine), smtpd (bool), non_smtpd (bool),
units (systemd units stopped once Postfix no longer uses an absent milter)}``.
"""

from __future__ import annotations

import re

ORDER = ('antivirus', 'dkim_signing', 'dmarc')
ACTIONS = ('accept', 'tempfail', 'reject', 'quarantine')
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


def chain(entries, default_action=None):
    """{smtpd_milters, non_smtpd_milters, milter_default_action, stop_units} of the entries.

    None entries are roles not in the play. ``default_action`` is the choice
    of an entry without its own. milter_default_action is the first milter's
    choice (None without milters, so that Postfix's default comes back).
    """
    problems, present, units, sockets = [], [], [], {}
    for entry in entries:
        if entry is None:
            continue
        if isinstance(entry, dict) and entry.get('default_action') in (None, '') and default_action:
            entry = dict(entry, default_action=default_action)
        name = entry.get('name') if isinstance(entry, dict) else None
        if name not in ORDER:
            problems.append('milter %r is not one of %s' % (name, ', '.join(ORDER)))
            continue
        if entry.get('state', 'present') == 'absent':
            units.extend(unit for unit in entry.get('units') or [] if unit not in units)
            continue
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
        present.append(entry)
    names = [entry['name'] for entry in present]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append('milter %s is listed twice' % name)
    if problems:
        raise ChainError(problems)
    present.sort(key=lambda entry: ORDER.index(entry['name']))
    used = [entry for entry in present if entry.get('smtpd', True) or entry.get('non_smtpd', False)]
    first = used[0]['default_action'] if used else None
    return dict(
        smtpd_milters=[_item(entry, first) for entry in present if entry.get('smtpd', True)] or None,
        non_smtpd_milters=[_item(entry, first) for entry in present if entry.get('non_smtpd', False)] or None,
        milter_default_action=first,
        stop_units=units,
    )
