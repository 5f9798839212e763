# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's whole set of files, compared with the host in one go (module file_set).

A role used to write each of its files with a task of its own (copy,
template, file), and every task is one module execution on the host. The
module file_set takes the set as a list of entries, reads every path first,
and plans what differs: which files to write, which directories to make,
which attributes to set, what to remove. Nothing is written when any entry is
wrong. Pure logic: the module reads the host (a snapshot per path) and
resolves owner and group names; here the entries are checked, compared and
turned into steps and diffs. A directory entry with ``purge`` also removes
the regular files directly in it that no entry lists (such as the keys of
retired DKIM selectors); their content is never shown.

A snapshot is None (nothing at the path) or a dict with ``kind`` (file,
directory, link or other), ``uid``, ``gid``, ``mode`` (permission bits) and,
for files, ``content`` (bytes).
"""

from __future__ import annotations

import os

from ansible_collections.mailforge.postfix.plugins.module_utils.staging import parse_mode

STATES = ('file', 'directory', 'absent')
ATTRIBUTES = ('owner', 'group', 'mode')
SECRET_TEXT = '(secret content, not shown)\n'


class FileSetError(Exception):
    pass


def check_entries(entries):
    """The entries as the module takes them, normalised; FileSetError naming every problem.

    A normalised entry has path, state, content (bytes, or None), owner,
    group (None: leave as it is, new paths get the module's user and group),
    mode (int, or None for absent), secret and purge.
    """
    if not isinstance(entries, list):
        raise FileSetError('entries must be a list')
    problems, checked, states = [], [], {}
    for index, item in enumerate(entries):
        if not isinstance(item, dict):
            problems.append('entries[%d] must be a dict' % index)
            continue
        path, state = item.get('path'), item.get('state') or 'file'
        where = 'entries[%d] (%s)' % (index, path)
        if not isinstance(path, str) or not path.startswith('/') or path == '/' or os.path.normpath(path) != path:
            problems.append('%s: path must be an absolute, normalised path other than / (no trailing /, // or ..)'
                            % where)
            continue
        if path in states:
            problems.append('%s: the path is listed twice' % where)
            continue
        if state not in STATES:
            problems.append('%s: state must be one of %s' % (where, ', '.join(STATES)))
            continue
        content, mode, secret = item.get('content'), item.get('mode'), item.get('secret', False)
        if state == 'file' and not isinstance(content, str):
            problems.append('%s: a file needs its content, a string' % where)
        if state != 'file' and content is not None:
            problems.append('%s: only a file has content' % where)
        if state == 'absent':
            given = [name for name in ATTRIBUTES if item.get(name) is not None]
            if given:
                problems.append('%s: %s mean nothing for an absent path' % (where, ', '.join(given)))
        elif mode is None:
            problems.append('%s: a %s needs its mode, such as "0644"' % (where, state))
        else:
            try:
                mode = parse_mode(mode)
            except ValueError as error:
                problems.append('%s: %s' % (where, error))
        for name in ('owner', 'group'):
            value = item.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))
                                      or str(value).strip() == ''):
                problems.append('%s: %s must be a name or a number' % (where, name))
        if not isinstance(secret, bool):
            problems.append('%s: secret must be true or false' % where)
        purge = item.get('purge', False)
        if not isinstance(purge, bool):
            problems.append('%s: purge must be true or false' % where)
        elif purge and state != 'directory':
            problems.append('%s: only a directory is purged' % where)
        states[path] = state
        checked.append(dict(path=path, state=state,
                            content=content.encode('utf-8') if state == 'file' and isinstance(content, str) else None,
                            owner=item.get('owner'), group=item.get('group'),
                            mode=mode if state != 'absent' else None, secret=secret, purge=purge))
    # An entry below another one comes after it, and never below a file or a path that goes.
    order = {entry['path']: index for index, entry in enumerate(checked)}
    for index, entry in enumerate(checked):
        parent = os.path.dirname(entry['path'])
        while parent != '/':
            if parent in states and states[parent] != 'directory':
                problems.append('%s: it lies below %s, which is listed as %s'
                                % (entry['path'], parent, states[parent]))
            elif parent in states and order[parent] > index:
                problems.append('%s: list its directory %s before it' % (entry['path'], parent))
            parent = os.path.dirname(parent)
    if problems:
        raise FileSetError('; '.join(problems))
    return checked


def resolve_ids(entries, uid_of, gid_of):
    """The entries with ``uid`` and ``gid`` (None where owner or group is not given).

    ``uid_of``/``gid_of`` turn a name or number into an id or raise
    ValueError; FileSetError names every unknown owner and group.
    """
    problems, resolved = [], []
    for entry in entries:
        ids = {}
        for name, lookup in (('owner', uid_of), ('group', gid_of)):
            value = entry[name]
            key = 'uid' if name == 'owner' else 'gid'
            ids[key] = None
            if value is None:
                continue
            try:
                ids[key] = lookup(value)
            except ValueError as error:
                problems.append('%s: %s' % (entry['path'], error))
        resolved.append(dict(entry, **ids))
    if problems:
        raise FileSetError('; '.join(problems))
    return resolved


def plan(entries, snapshot, listing=lambda path: [], check_mode=False):
    """What brings the host to ``entries`` (checked, with ids): a list of steps; FileSetError if none can.

    ``snapshot(path)`` reads one path (see the module docstring); it is asked
    for every entry's path and for the parent directories that no entry
    makes. ``listing(path)`` names what is in a directory to purge (nothing
    when it does not exist). A step is a dict: path, entry, action (create,
    write, attributes, remove), changes (what differs: created, content,
    owner, group, mode, removed) and before (the snapshot). Entries already
    right give no step; the files a purge removes come last.

    In check mode a missing directory (not one that is a file) is taken to
    be made before the real run, by a package installed earlier in the same
    run for one: the entries below it are planned as created, their steps
    naming it in ``assumes``. The real run refuses them while it is missing.
    """
    problems, steps, made = [], [], set()
    for entry in entries:
        path, state = entry['path'], entry['state']
        current = snapshot(path)
        kind = current['kind'] if current else None
        where = '%s (%s)' % (path, state)
        assumes = None
        if state != 'absent':
            parent = os.path.dirname(path)
            if parent not in made:
                above = snapshot(parent)
                if above is None and check_mode:
                    assumes = parent
                elif not above or above['kind'] != 'directory':
                    problems.append('%s: its directory %s does not exist; list it as a directory entry before it'
                                    % (where, parent))
            if state == 'directory':
                made.add(path)
        if kind in ('link', 'other') and state != 'absent':
            problems.append('%s: %s is a %s; the module neither follows nor replaces it'
                            % (where, path, 'symbolic link' if kind == 'link' else 'special file'))
            continue
        if kind and state != 'absent' and kind != state:
            problems.append('%s: %s is a %s' % (where, path, kind))
            continue
        if state == 'absent':
            if current:
                steps.append(dict(path=path, entry=entry, action='remove', changes=['removed'], before=current))
            continue
        if current is None:
            steps.append(dict(path=path, entry=entry, action='create', changes=['created'], before=None))
            if assumes:
                steps[-1]['assumes'] = assumes
            continue
        changes = []
        if state == 'file' and current['content'] != entry['content']:
            changes.append('content')
        for name, key in (('owner', 'uid'), ('group', 'gid'), ('mode', 'mode')):
            if entry[key] is not None and entry[key] != current[key]:
                changes.append(name)
        if changes:
            action = 'write' if 'content' in changes else 'attributes'
            steps.append(dict(path=path, entry=entry, action=action, changes=changes, before=current))
    listed = {entry['path'] for entry in entries}
    for entry in entries:
        if not entry.get('purge'):
            continue
        for name in sorted(listing(entry['path'])):
            path = os.path.join(entry['path'], name)
            current = None if path in listed else snapshot(path)
            if current and current['kind'] == 'file':
                unlisted = dict(path=path, state='absent', content=None, owner=None, group=None, mode=None,
                                secret=True, purge=False, uid=None, gid=None)
                steps.append(dict(path=path, entry=unlisted, action='remove', changes=['removed'], before=current))
    if problems:
        raise FileSetError('; '.join(problems))
    return steps


def shown(data, secret):
    """Content as the diff shows it: the text, or a placeholder for secrets and content that is not text."""
    if data is None:
        return ''
    if secret:
        return SECRET_TEXT
    if b'\0' in data:
        return '(binary content, %d bytes)\n' % len(data)
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        return '(binary content, %d bytes)\n' % len(data)


def _attributes(path, kind, uid, gid, mode):
    if kind is None:
        return dict(path=path, state='absent')
    found = dict(path=path, state=kind)
    for name, value in (('owner', uid), ('group', gid)):
        if value is not None:
            found[name] = value
    if mode is not None:
        found['mode'] = '%04o' % mode
    return found


def diffs(steps):
    """Ansible's diff of the steps: a list of dicts, a text one where content changes, one of attributes
    (state, numeric owner and group, mode) where those change. Secret content is never shown."""
    found = []
    for step in steps:
        entry, before, changes = step['entry'], step['before'], step['changes']
        path, secret = step['path'], entry['secret']
        old_content = before.get('content') if before else None
        texts = None
        if 'content' in changes:
            old_text, new_text = shown(old_content, secret), shown(entry['content'], secret)
            if secret:
                new_text = '(secret content, not shown: changed)\n'
            texts = (old_text, new_text)
        elif step['action'] == 'create' and entry['state'] == 'file':
            texts = ('', shown(entry['content'], secret))
        elif step['action'] == 'remove' and before['kind'] == 'file':
            texts = (shown(old_content, secret), '')
        if texts:
            found.append(dict(before_header=path, after_header=path, before=texts[0], after=texts[1]))
        if step['action'] in ('create', 'remove') or set(changes) & set(ATTRIBUTES):
            old = _attributes(path, before['kind'] if before else None, *(
                (before['uid'], before['gid'], before['mode']) if before else (None, None, None)))
            if step['action'] == 'remove':
                new = _attributes(path, None, None, None, None)
            else:
                new = _attributes(path, entry['state'],
                                  entry['uid'] if entry['uid'] is not None else (before or {}).get('uid'),
                                  entry['gid'] if entry['gid'] is not None else (before or {}).get('gid'),
                                  entry['mode'])
            found.append(dict(before_header='%s (attributes)' % path, after_header='%s (attributes)' % path,
                              before=old, after=new))
    return found
