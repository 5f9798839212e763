#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: file_set
short_description: Write a whole set of files and directories in one module call
description:
  - Brings a list of paths to their state at once, where a role would otherwise run one
    M(ansible.builtin.copy), M(ansible.builtin.template) or M(ansible.builtin.file) task per path. Each task is a
    module execution on the host, so a role's set of files costs one instead of one per file.
  - Every path is read first and compared with its entry (content, owner, group, mode). Nothing is written when an
    entry is wrong, an owner or group is unknown, or a path's directory is missing; otherwise only what differs is
    changed, in the order of O(entries).
  - A file is written to a temporary file in its directory, with its owner, group and mode, synced, and renamed
    over the old one, so that readers see the old or the new file, never a part. A file whose content is right but
    whose owner, group or mode differs keeps its content and modification time; only the attributes are set.
  - Render templates into O(entries[].content) with C(lookup('ansible.builtin.template', ...)).
version_added: 0.2.0
author: mailforge team (!UNKNOWN)
options:
  entries:
    description: The paths and what they should be. Directories come before the paths below them.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description:
          - Absolute, normalised path. Symbolic links are neither followed nor replaced (refused), except that
            O(entries[].state=absent) removes the link itself.
        type: str
        required: true
      state:
        description:
          - V(file) writes O(entries[].content); V(directory) makes the directory (not its parents, which must exist
            or be listed before it); V(absent) removes the path, a directory with everything in it.
          - A path of another type than its state (a directory where a file should be) is refused.
        type: str
        choices: [file, directory, absent]
        default: file
      content:
        description: The file's content (text, written as UTF-8). Required for, and only for, V(file).
        type: str
      owner:
        description: User name or uid. Not given, an existing path keeps its owner and a new one gets the module's user.
        type: str
      group:
        description: Group name or gid. Not given, an existing path keeps its group and a new one gets the module's group.
        type: str
      mode:
        description: Octal mode as a string such as C("0644"). Required for V(file) and V(directory), not given for V(absent).
        type: raw
      purge:
        description:
          - For a V(directory), remove the regular files directly in it that no entry lists, hidden ones too (a
            temporary file a killed run left, for one). Links and directories in it are left alone. The content
            of a file removed so is never shown.
        type: bool
        default: false
      secret:
        description:
          - The content is never shown, neither in the diff nor in the result, only that it changed; the module
            also masks it in its result.
          - Set C(no_log) on the task as well, otherwise the module arguments, contents included, reach the
            target's journal and the controller's callbacks.
        type: bool
        default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads and compares every path and reports what would change; writes nothing. A directory that an earlier
        entry would make counts as existing.
      - A missing directory that no entry makes is taken to be made before the real run (by a package installed
        earlier in the same run, for one), so the paths below it are reported as created and the directory is
        listed in RV(assumed_directories); the real run refuses them, writing nothing, while it is missing.
  diff_mode:
    support: full
    details:
      - A text diff per file whose content changes (a placeholder for secret entries and content that is not text),
        and one of state, numeric owner and group and mode per path whose attributes change.
  platform:
    platforms: posix
notes:
  - Runs no command. Works on what the module's user may read and change.
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
  - module: mailforge.postfix.service_sync
"""

EXAMPLES = r"""
- name: Write OpenDMARC's files
  mailforge.postfix.file_set:
    entries:
      - path: /etc/opendmarc
        state: directory
        owner: root
        group: root
        mode: "0755"
      - path: /etc/opendmarc/ignore.hosts
        content: "{{ lookup('ansible.builtin.template', 'ignore.hosts.j2') }}"
        owner: root
        group: root
        mode: "0644"
      - path: /etc/opendmarc.conf
        content: "{{ lookup('ansible.builtin.template', 'opendmarc.conf.j2') }}"
        owner: root
        group: root
        mode: "0644"
      - path: /etc/opendmarc/old.conf
        state: absent
  register: opendmarc_files

- name: Restart OpenDMARC when its configuration changed
  ansible.builtin.systemd_service:
    name: opendmarc
    state: restarted
  when: opendmarc_files.changed_paths | intersect(['/etc/opendmarc.conf', '/etc/opendmarc/ignore.hosts']) | length > 0

- name: Install the private keys, and remove the files of keys that no longer sign
  mailforge.postfix.file_set:
    entries:
      - path: /etc/dkimpy-milter/keys
        state: directory
        owner: dkimpy-milter
        group: dkimpy-milter
        mode: "0700"
        purge: true
      - path: /etc/dkimpy-milter/keys/example.org.key
        content: "{{ private_key }}"
        owner: dkimpy-milter
        group: dkimpy-milter
        mode: "0600"
        secret: true
  no_log: true
"""

RETURN = r"""
changed_paths:
  description: The paths written, made, changed or removed (in check mode, that would be), in the order of the entries.
  returned: always
  type: list
  elements: str
  sample: [/etc/opendmarc/ignore.hosts]
changes:
  description:
    - What changed for each of RV(changed_paths) (C(created), C(content), C(owner), C(group), C(mode), C(removed));
      never the content itself.
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/opendmarc/ignore.hosts, changes: [content]}, {path: /etc/opendmarc, changes: [mode]}]
assumed_directories:
  description:
    - In check mode, the missing directories that no entry makes and that the paths below them were planned
      in; a real run needs them. Always empty outside check mode.
  returned: always
  type: list
  elements: str
  sample: [/etc/dkimpy-milter]
"""

import os
import shutil
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils.file_set import (
    FileSetError, check_entries, diffs, plan, resolve_ids)
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import (
    resolve_gid, resolve_uid, sync_directory, write_atomically)


def snapshot(path):
    """What is at ``path`` (see module_utils.file_set), without following a symbolic link."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(found.st_mode):
        kind = 'link'
    elif stat.S_ISDIR(found.st_mode):
        kind = 'directory'
    elif stat.S_ISREG(found.st_mode):
        kind = 'file'
    else:
        kind = 'other'
    content = None
    if kind == 'file':
        with open(path, 'rb') as handle:
            content = handle.read()
    return dict(kind=kind, uid=found.st_uid, gid=found.st_gid, mode=stat.S_IMODE(found.st_mode), content=content)


def listing(path):
    """The names in directory ``path``; none when it does not exist (yet)."""
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def apply(step):
    """Carry out one step of the plan."""
    entry, path = step['entry'], step['path']
    uid, gid, mode = entry['uid'], entry['gid'], entry['mode']
    if step['action'] == 'remove':
        if step['before']['kind'] == 'directory':
            shutil.rmtree(path)
        else:
            os.unlink(path)
        sync_directory(os.path.dirname(path))
    elif entry['state'] == 'file' and step['action'] in ('create', 'write'):
        write_atomically(path, entry['content'], uid, gid, mode)
    elif step['action'] == 'create':
        # Private until its owner and mode are set.
        os.mkdir(path, 0o700)
        _set_attributes(path, uid, gid, mode)
        sync_directory(os.path.dirname(path))
    else:
        _set_attributes(path, uid, gid, mode)


def _set_attributes(path, uid, gid, mode):
    # Owner first: chown clears set-id bits that chmod then sets.
    if uid is not None or gid is not None:
        os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
    os.chmod(path, mode)


class PartlyApplied(Exception):
    """A step failed on the host; ``done`` lists the paths changed before it."""

    def __init__(self, message, done):
        super().__init__(message)
        self.done = done


def converge(entries, check_mode=False):
    """Bring the host to ``entries`` (the module's parameter): the module's result, with its diff."""
    checked = resolve_ids(check_entries(entries), resolve_uid, resolve_gid)
    steps = plan(checked, snapshot, listing, check_mode)
    if not check_mode:
        done = []
        for step in steps:
            try:
                apply(step)
            except OSError as error:
                raise PartlyApplied('%s: %s' % (step['path'], error), done)
            done.append(step['path'])
    return dict(
        changed=bool(steps),
        changed_paths=[step['path'] for step in steps],
        changes=[dict(path=step['path'], changes=step['changes']) for step in steps],
        diff=diffs(steps),
        assumed_directories=sorted({step['assumes'] for step in steps if step.get('assumes')}),
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            entries=dict(type='list', elements='dict', required=True, options=dict(
                path=dict(type='str', required=True),
                state=dict(type='str', choices=['file', 'directory', 'absent'], default='file'),
                content=dict(type='str'),
                owner=dict(type='str'),
                group=dict(type='str'),
                mode=dict(type='raw'),
                secret=dict(type='bool', default=False),
                purge=dict(type='bool', default=False),
            )),
        ),
        supports_check_mode=True,
    )
    # Masked wherever it would appear in the result (the invocation's arguments above all).
    module.no_log_values.update(entry['content'] for entry in module.params['entries']
                                if entry.get('secret') and entry.get('content'))
    try:
        result = converge(module.params['entries'], module.check_mode)
    except PartlyApplied as error:
        module.fail_json(msg='%s; changed before it: %s' % (error, ', '.join(error.done) or 'nothing'),
                         changed=bool(error.done), changed_paths=error.done)
    except (FileSetError, ValueError, OSError) as error:
        module.fail_json(msg=str(error))
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
