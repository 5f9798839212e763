# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A Postfix restart that first lets the deliveries in progress end (modules postfix_restart and service_sync).

On ``postfix stop`` master(8) sends SIGTERM to every child. A delivery agent
killed after the next hop accepted a message, and before it marked the
recipient done in the queue file, leaves the message queued: it goes out
again after the restart (RFC 1047's duplicate). So before the restart the
delivery transports are deferred (``defer_transports``, applied by a
reload), and the restart waits until no delivery agent runs any more.

Pure helpers first, then ``PostfixRestart``, which runs the commands through
an AnsibleModule.
"""

from __future__ import annotations

import json
import os
import re
import time

from ansible_collections.mailforge.postfix.plugins.module_utils import master_cf
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import (
    C_LOCALE, PostfixCommandError, Postconf)
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import read_bytes, write_atomically

# Postfix programs that hand mail to the next hop or to a mailbox, as master.cf names them.
DELIVERY_AGENTS = frozenset(('smtp', 'lmtp', 'local', 'virtual', 'pipe'))

_LIST_SEPARATORS = re.compile(r'[\s,]+')
POLL_SECONDS = 0.1


def delivery_transports(services_output):
    """The master.cf services (``postconf -M`` output) whose command is a delivery agent, in file order."""
    names = []
    for identity, entry in master_cf.parse_services(services_output).items():
        name, service_type = identity.split('/', 1)
        if service_type == 'unix' and os.path.basename(entry.split()[7]) in DELIVERY_AGENTS and name not in names:
            names.append(name)
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


# --- side effects -------------------------------------------------------------------------------------------

def running_stats():
    stats = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    stats.append(parse_stat(handle.read()))
            except (OSError, ValueError, IndexError):
                continue    # it ended meanwhile
    return stats


def master_pid(queue_directory):
    """The pid of the running master(8), or None."""
    try:
        with open(os.path.join(queue_directory, 'pid', 'master.pid')) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if any(p == pid and comm == 'master' for p, comm, _ppid in running_stats()) else None


def wait_for(condition, deadline):
    """Poll ``condition`` until it holds (True) or ``deadline`` (time.monotonic) has passed (False)."""
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


class PostfixRestart:
    """Restarts the Postfix instance of ``config_dir`` (run by systemd ``unit``) through ``module``."""

    def __init__(self, module, config_dir):
        self.module = module
        self.config_dir = config_dir
        self.postconf = Postconf(module.run_command, module.get_bin_path('postconf', required=True), config_dir)

    def run(self, *argv):
        rc, stdout, stderr = self.module.run_command(list(argv), environ_update=dict(C_LOCALE))
        if rc != 0:
            self.module.fail_json(msg='%s failed: %s' % (' '.join(argv), stderr.strip()))
        return stdout

    def deferred(self):
        return deferred_ids(self.run(self.module.get_bin_path('postqueue', required=True), '-c', self.config_dir, '-j'))

    def reload(self):
        self.run(self.module.get_bin_path('postfix', required=True), '-c', self.config_dir, 'reload')

    def drain(self, master, transports, timeout):
        """Defer ``transports``, and wait until no delivery agent of ``master`` runs. main.cf is put back."""
        main_cf = os.path.join(self.config_dir, 'main.cf')
        original = read_bytes(main_cf)
        deadline = time.monotonic() + timeout
        queue_managers = children(running_stats(), master, {'qmgr'})
        try:
            self.postconf.set_parameters(
                {'defer_transports': defer_list(self.postconf.value('defer_transports'), transports)})
            self.reload()
            # The queue manager of before the reload hands out jobs until it exits; agents it started
            # meanwhile run with the old configuration, so a second reload makes them exit once idle.
            wait_for(lambda: not queue_managers & children(running_stats(), master, {'qmgr'}), deadline)
            self.reload()
            return wait_for(lambda: not children(running_stats(), master, DELIVERY_AGENTS), deadline)
        finally:
            write_atomically(main_cf, original)

    def restart(self, unit, timeout):
        """Drain (unless Postfix is down or ``timeout`` is 0), restart ``unit``, send what the drain deferred.

        Returns drained, deferred_transports and flushed, as module postfix_restart does.
        """
        result = dict(drained=False, deferred_transports=[], flushed=[])
        try:
            master = master_pid(self.postconf.value('queue_directory'))
            if master is not None and timeout > 0:
                result['deferred_transports'] = delivery_transports(self.postconf.services()[0])
            if result['deferred_transports']:
                queued_before = self.deferred()
                result['drained'] = self.drain(master, result['deferred_transports'], timeout)
        except PostfixCommandError as error:
            self.module.fail_json(msg=str(error), changed=True, **result)
        self.run(self.module.get_bin_path('systemctl', required=True), 'restart', unit)
        if result['deferred_transports']:
            postqueue = self.module.get_bin_path('postqueue', required=True)
            for queue_id in sorted(self.deferred() - queued_before):
                # One may have been delivered meanwhile (a queue run); that is no failure.
                rc, _out, _err = self.module.run_command([postqueue, '-c', self.config_dir, '-i', queue_id],
                                                         environ_update=dict(C_LOCALE))
                if rc == 0:
                    result['flushed'].append(queue_id)
            if not result['drained']:
                self.module.warn('Postfix was restarted while delivery agents still ran (drain timeout %ss): a '
                                 'message they were sending may be delivered twice' % timeout)
        return result
