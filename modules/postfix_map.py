#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postfix_map
short_description: Manage a whole Postfix lookup table and its index
description:
  - Writes a Postfix lookup table source file from O(entries) or O(rules). The module owns the
    whole file, so entries that are not listed are removed.
  - The file is rendered deterministically, a header comment and then one C(key value) or
    C(pattern action) a line; O(entries) given as a dict are sorted by key, lists keep their order.
  - Input is checked before anything is written. The new file is then checked by Postfix in a
    private directory; for indexed types C(postmap) builds the index there, and the index and then
    the source are renamed into place. Tables without an index are parsed with C(postmap -q), and
    a warning about a rule names the rule's pattern.
  - C(postmap) runs only when the source changes or the index is missing or older than the source.
version_added: 0.1.0
author: mailforge team (!UNKNOWN)
options:
  path:
    description: Source file of the table, for example C(/etc/postfix/virtual).
    type: path
    required: true
  type:
    description:
      - Table type. C(hash), C(btree), C(lmdb) and C(cdb) are indexed (C(.db), C(.db), C(.lmdb), C(.cdb)
        next to the source); C(texthash), C(cidr), C(regexp) and C(pcre) are read from the source itself.
      - C(cidr) keys are networks (C(192.0.2.0/24), C(2001:db8::/32)) or addresses, and the first line that
        matches wins, so give its O(entries) as a list, in order; a network with host bits set is refused
        (Postfix would skip it with a warning).
      - Defaults to the target's C(postconf -h default_database_type).
      - C(regexp) and C(pcre) take O(rules); the other types take O(entries).
    type: str
    choices: [hash, btree, lmdb, cdb, texthash, cidr, regexp, pcre]
  entries:
    description:
      - Key to value, as a dict (written sorted by key) or as a list of C({key, value}) items
        (written in order; a key listed twice is an error).
      - Keys must not be empty, contain whitespace or start with C(#). Keys differing only in case
        collide, because C(postmap) folds keys to lower case.
      - A value is a non-empty string or number, or a list joined with C(", "). Booleans are refused, so
        quote C(yes), C(no), C(true), C(false).
    type: raw
  rules:
    description: Ordered rules of a C(regexp) or C(pcre) table.
    type: list
    elements: dict
    suboptions:
      pattern:
        description: Delimited pattern with optional flags, for example C(/^Subject:.*viagra/i) or C(!/^$/).
        type: str
        required: true
      action:
        description: Result of a match, for example C(REJECT no thanks).
        type: str
        required: true
  actions:
    description:
      - Words that the first word of every value (or rule action) must be, compared without case,
        for example C([REJECT, DISCARD, WARN, ...]) for C(header_checks). A typo such as C(REJEKT)
        then fails here instead of being ignored by Postfix with a log warning.
      - Not given, values are not checked.
    type: list
    elements: str
  owner:
    description: Owner of the source and the index.
    type: str
    default: root
  group:
    description: Group of the source and the index.
    type: str
    default: root
  mode:
    description: Octal mode of the source and the index, as a string such as C("0640").
    type: raw
    default: '0644'
  hide_values:
    description:
      - For secret tables such as C(sasl_passwd). Values are replaced by C(<hidden>) in the diff and
        masked in the module's result; keys are still shown.
      - Also set C(no_log) on the task, otherwise the module arguments, values included, reach the
        target's journal and the controller's callbacks.
    type: bool
    default: false
  header:
    description: Comment written at the top of the file, one C(#) line per line; empty for none.
    type: str
    default: Managed by mailforge (Ansible). Do not edit by hand, changes will be overwritten.
  config_dir:
    description: Postfix configuration directory that C(postconf) and C(postmap) read (C(-c)).
    type: path
    default: /etc/postfix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The new file and index are built and checked in a private temporary directory only.
  diff_mode:
    support: full
    details: Source text before and after; with O(hide_values) keys only, values masked.
  platform:
    platforms: posix
notes:
  - Requires C(postconf) and C(postmap) on the target, and the C(postfix-lmdb), C(postfix-cdb) or
    C(postfix-pcre) package for those types. Commands run with C(LC_ALL=C).
  - Postfix daemons notice a rebuilt index by themselves; a reload is not needed. Tables without an index
    (C(texthash), C(cidr), C(regexp), C(pcre)) are read when a daemon process starts, so reload Postfix after a
    change so that running processes do not keep the old table.
seealso:
  - module: mailforge.postfix.postconf
"""

EXAMPLES = r"""
- name: Virtual aliases
  mailforge.postfix.postfix_map:
    path: /etc/postfix/virtual
    type: hash
    entries:
      postmaster@example.org: admin@example.org
      team@example.org: [alice@example.org, bob@example.org]
  register: virtual

- name: Use it
  mailforge.postfix.postconf:
    parameters:
      virtual_alias_maps: "{{ virtual.map_ref }}"

- name: Relay credentials
  mailforge.postfix.postfix_map:
    path: /etc/postfix/sasl_passwd
    mode: "0600"
    hide_values: true
    entries:
      - key: "[smtp.example.net]:587"
        value: "{{ relay_user }}:{{ relay_password }}"
  no_log: true

- name: Header checks
  mailforge.postfix.postfix_map:
    path: /etc/postfix/header_checks
    type: pcre
    rules:
      - pattern: /^Subject:.*\bviagra\b/i
        action: REJECT no thanks
      - pattern: /^Received:.*\bnetscape\.net\b/
        action: IGNORE
"""

RETURN = r"""
map_ref:
  description: C(type:path) reference to the table, ready for C(main.cf).
  returned: always
  type: str
  sample: hash:/etc/postfix/virtual
type:
  description: Table type used, O(type) or the target's default.
  returned: always
  type: str
  sample: hash
rebuilt:
  description: Whether the index was rebuilt (in check mode, would be). Always false for tables without index.
  returned: always
  type: bool
  sample: true
added_keys:
  description: Keys (patterns, for rule tables) new in the file, sorted.
  returned: always
  type: list
  elements: str
  sample: [team@example.org]
removed_keys:
  description: Keys no longer in the file, sorted.
  returned: always
  type: list
  elements: str
  sample: []
changed_keys:
  description: Keys whose value changed, sorted.
  returned: always
  type: list
  elements: str
  sample: [postmaster@example.org]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils import lookup_table
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import (
    Postconf, Postmap, PostfixCommandError)
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import (
    StagedValidationError, attributes_differ, parse_mode, read_bytes, resolve_gid, resolve_uid,
    scratch_directory, set_attributes, sync_directory)


def converge(params, postmap, postconf, check_mode=False):
    """Bring the table at ``params['path']`` to the desired content and attributes."""
    map_type = params['type'] or postconf.value('default_database_type')
    records = lookup_table.desired_records(map_type, params['entries'], params['rules'], params.get('actions'))
    uid, gid, mode = resolve_uid(params['owner']), resolve_gid(params['group']), parse_mode(params['mode'])
    path, header = params['path'], params['header'] or ''
    text = lookup_table.render(header, records)
    old = read_bytes(path)
    old_text = '' if old is None else old.decode('utf-8', 'replace')
    old_records = lookup_table.parse_records(old_text, map_type)
    added, removed, changed = lookup_table.key_changes(old_records, records)

    index = path + lookup_table.INDEX_SUFFIXES[map_type] if lookup_table.is_indexed(map_type) else None
    rewrite = old != text.encode('utf-8')
    rebuild = index is not None and (rewrite or _stale(index, path))
    wrong_attributes = [p for p in (path, index)
                        if p and os.path.exists(p) and attributes_differ(p, uid, gid, mode)]
    if params['hide_values']:
        diff = dict(before=lookup_table.render_masked(old_records, changed),
                    after=lookup_table.render_masked(records, changed))
    else:
        diff = dict(before=old_text, after=text)
    result = dict(
        changed=rewrite or rebuild or bool(wrong_attributes),
        map_ref=lookup_table.map_ref(map_type, path),
        type=map_type,
        rebuilt=rebuild,
        added_keys=added,
        removed_keys=removed,
        changed_keys=changed,
        diff=dict(diff, before_header=path, after_header=path),
    )
    if rewrite or rebuild:
        _stage_and_install(postmap, map_type, path, index, text, header, records,
                           (uid, gid, mode), check_mode)
    elif not check_mode:
        for wrong in wrong_attributes:
            set_attributes(wrong, uid, gid, mode)
    return result


def _stale(index, source):
    return not os.path.exists(index) or os.path.getmtime(index) < os.path.getmtime(source)


def _stage_and_install(postmap, map_type, path, index, text, header, records, attributes, check_mode):
    directory = os.path.dirname(os.path.abspath(path))
    with scratch_directory(None if check_mode else directory) as scratch:
        staged = os.path.join(scratch, os.path.basename(path))
        with open(staged, 'w', encoding='utf-8') as handle:
            handle.write(text)
        if index:
            warnings = postmap.build(map_type, staged)
        else:
            warnings = postmap.probe(map_type, staged)
        if warnings:
            what = 'rule' if map_type in lookup_table.RULE_TYPES else 'entry'
            explained = lookup_table.explain_warnings(warnings, header, records, what)
            raise StagedValidationError('%s left unchanged: postmap reported problems: %s'
                                        % (path, '; '.join(e.replace(staged, path) for e in explained)))
        if check_mode:
            return
        staged_files = [(staged, path)]
        if index:
            # Index first: daemons read only the index, and if we stop half
            # way the old source still differs from the desired text, so the
            # next run rebuilds instead of trusting a source that matches.
            staged_files.insert(0, (staged + lookup_table.INDEX_SUFFIXES[map_type], index))
        for staged_path, _live in staged_files:
            set_attributes(staged_path, *attributes)
            _fsync(staged_path)
        for staged_path, live in staged_files:
            os.rename(staged_path, live)
        sync_directory(directory)


def _fsync(path):
    with open(path, 'rb') as handle:
        os.fsync(handle.fileno())


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            type=dict(type='str', choices=list(lookup_table.TYPES)),
            entries=dict(type='raw'),
            rules=dict(type='list', elements='dict', options=dict(
                pattern=dict(type='str', required=True),
                action=dict(type='str', required=True),
            )),
            actions=dict(type='list', elements='str'),
            owner=dict(type='str', default='root'),
            group=dict(type='str', default='root'),
            mode=dict(type='raw', default='0644'),
            hide_values=dict(type='bool', default=False),
            header=dict(type='str', default=lookup_table.DEFAULT_HEADER),
            config_dir=dict(type='path', default='/etc/postfix'),
        ),
        mutually_exclusive=[('entries', 'rules')],
        required_one_of=[('entries', 'rules')],
        supports_check_mode=True,
    )
    if module.params['hide_values']:
        module.no_log_values.update(_secret_strings(module.params['entries']))
    config_dir = module.params['config_dir']
    postconf = Postconf(module.run_command, module.get_bin_path('postconf', required=True), config_dir)
    postmap = Postmap(module.run_command, module.get_bin_path('postmap', required=True), config_dir)
    try:
        result = converge(module.params, postmap, postconf, module.check_mode)
    except (ValueError, OSError, PostfixCommandError, StagedValidationError) as error:
        module.fail_json(msg=str(error))
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


def _secret_strings(entries):
    """Every value string of ``entries``, so that Ansible masks it in the result."""
    if isinstance(entries, dict):
        values = list(entries.values())
    elif isinstance(entries, list):
        values = [item.get('value') for item in entries if isinstance(item, dict)]
    else:
        values = []
    secrets = set()
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (str, int)) and str(item).strip():
                secrets.add(str(item).strip())
        if isinstance(value, list):
            secrets.add(', '.join(str(item).strip() for item in value))
    return secrets


if __name__ == '__main__':
    main()
