# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic of a Postfix restart that first lets deliveries in progress end (module postfix_restart).

On ``postfix stop`` master(8) sends SIGTERM to every child. A delivery agent
killed after the next hop accepted a message, and before it marked the
recipient done in the queue file, leaves the message queued: it goes out
again after the restart (RFC 1047's duplicate). So before the restart the
delivery transports are deferred (``defer_transports``, applied by a
reload), and the restart waits until no delivery agent runs any more.
"""

from __future__ import annotations

import json
import os
import re

# Postfix programs that hand mail to the next hop or to a mailbox, as master.cf names them.
DELIVERY_AGENTS = frozenset(('smtp', 'lmtp', 'local', 'virtual', 'pipe'))

_LIST_SEPARATORS = re.compile(r'[\s,]+')


def delivery_transports(services_output):
    """The master.cf services (``postconf -M`` output) whose command is a delivery agent, in file order."""
    names = []
    for line in services_output.splitlines():
        fields = line.split()
        if len(fields) < 8 or fields[1] != 'unix':
            continue
        if os.path.basename(fields[7]) in DELIVERY_AGENTS and fields[0] not in names:
            names.append(fields[0])
    return names


def defer_list(current, transports):
    """``defer_transports`` for the drain: what main.cf already defers, then every delivery transport."""
    names = [name for name in _LIST_SEPARATORS.split(current.strip()) if name]
    return ' '.join(names + [name for name in transports if name not in names])


def parse_stat(text):
    """``/proc/PID/stat`` as (pid, command name, parent pid); the name may hold spaces and parentheses."""
    head, _sep, tail = text.rpartition(')')
    pid, _sep, comm = head.partition(' (')
    return int(pid), comm, int(tail.split()[1])


def children(stats, parent, commands):
    """Pids among ``stats`` (parse_stat tuples) that ``parent`` started and that run one of ``commands``."""
    return {pid for pid, comm, ppid in stats if ppid == parent and comm in commands}


def deferred_ids(queue_output):
    """Queue ids in the deferred queue, from ``postqueue -j`` (one JSON object per line)."""
    ids = set()
    for line in queue_output.splitlines():
        if line.strip():
            entry = json.loads(line)
            if entry.get('queue_name') == 'deferred':
                ids.add(entry['queue_id'])
    return ids
