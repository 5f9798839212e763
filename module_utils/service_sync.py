# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which services run with older configuration than their files on disk.

A reload or restart that Ansible queued as a handler is lost when the run
dies between writing a file and running the handler; the host then disagrees
with its files and every later run would say all is well. So the roles do
not trust a handler queue: they compare when each service last loaded its
configuration with when its files last changed, and act on the difference.

When a service loaded its configuration is the later of the time its unit
became active (a start or restart) and the time of a stamp file that its
reload handler touches after a successful reload. Pure logic; the module
gathers the times.
"""

from __future__ import annotations

import re

ACTIONS = ('reload', 'restart')
_UNIT = re.compile(r'^[A-Za-z0-9@._:-]+\.(service|socket)$|^[A-Za-z0-9@._:-]+$')


class ServiceSyncError(Exception):
    pass


def check_services(services):
    """The services as the module takes them, normalised; ServiceSyncError naming every problem."""
    problems, checked = [], []
    if not isinstance(services, list):
        raise ServiceSyncError('services must be a list')
    for index, item in enumerate(services):
        if not isinstance(item, dict):
            problems.append('services[%d] must be a dict' % index)
            continue
        unit, files, action = item.get('unit'), item.get('files'), item.get('action', 'restart')
        if not isinstance(unit, str) or not _UNIT.match(unit):
            problems.append('services[%d]: unit %r is not a systemd unit name' % (index, unit))
        if not isinstance(files, list) or not files or not all(isinstance(f, str) and f.startswith('/')
                                                               for f in files):
            problems.append('services[%d] (%s): files must be a non-empty list of absolute paths' % (index, unit))
        if action not in ACTIONS:
            problems.append('services[%d] (%s): action must be one of %s' % (index, unit, ', '.join(ACTIONS)))
        stamp = item.get('stamp')
        if stamp is not None and (not isinstance(stamp, str) or not stamp.startswith('/')):
            problems.append('services[%d] (%s): stamp must be an absolute path' % (index, unit))
        check = item.get('check')
        if check is not None and (not isinstance(check, list) or not all(isinstance(a, str) for a in check)):
            problems.append('services[%d] (%s): check must be an argv list' % (index, unit))
        checked.append(dict(unit=unit, files=files, action=action, stamp=stamp, check=check))
    if problems:
        raise ServiceSyncError('; '.join(problems))
    return checked


def stale(service, file_times, active_since, stamp_time):
    """The newest file that ``service`` has not loaded yet, or None.

    ``file_times`` maps path -> mtime (missing files left out); ``active_since``
    is when the unit last became active (None: it is not running, so there is
    nothing to bring in line: whoever starts it loads the files);
    ``stamp_time`` the stamp's mtime or None.
    """
    if active_since is None:
        return None
    loaded = max(active_since, stamp_time or 0.0)
    newer = [(mtime, path) for path, mtime in file_times.items() if mtime > loaded]
    return max(newer)[1] if newer else None
