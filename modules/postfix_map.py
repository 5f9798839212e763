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
  - Or writes several tables in one module call, O(maps), where a role would otherwise run one task (a module
    execution on the host) per table. Every table is checked, and its new file built and checked by Postfix, before
    any table changes; then they are installed in the order of O(maps).
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
    description:
      - Source file of the table, for example C(/etc/postfix/virtual).
      - Required unless O(maps) is given, and then not allowed.
    type: path
  maps:
    description:
      - Several tables, written in one module call, instead of O(path), O(entries) and O(rules).
      - Each takes the options of a single table; those it does not give (O(type), O(actions), O(owner), O(group),
        O(mode), O(hide_values), O(header)) are taken from the task.
      - Nothing is written when any table is wrong, and none is installed before every changed one was built and
        checked by Postfix.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      path:
        description: Source file of the table. A path may be listed once.
        type: path
        required: true
      type:
        description: As O(type).
        type: str
        choices: [hash, btree, lmdb, cdb, texthash, cidr, regexp, pcre]
      entries:
        description: As O(entries).
        type: raw
      rules:
        description: As O(rules).
        type: list
        elements: dict
        suboptions:
          pattern:
            description: As O(rules[].pattern).
            type: str
            required: true
          action:
            description: As O(rules[].action).
            type: str
            required: true
      actions:
        description: As O(actions).
        type: list
        elements: str
      owner:
        description: As O(owner).
        type: str
      group:
        description: As O(group).
        type: str
      mode:
        description: As O(mode).
        type: raw
      hide_values:
        description: As O(hide_values).
        type: bool
      header:
        description: As O(header).
        type: str
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

- name: Transport and relay recipients, in one module call
  mailforge.postfix.postfix_map:
    maps:
      - path: /etc/postfix/transport
        entries:
          example.org: "relay:[mail.example.org]"
      - path: /etc/postfix/relay_recipients
        entries:
          alice@example.org: OK
  register: relay_tables

- name: Reload Postfix when the transport table changed
  ansible.builtin.systemd_service:
    name: postfix
    state: reloaded
  when: "'/etc/postfix/transport' in relay_tables.changed_paths"
"""

RETURN = r"""
map_ref:
  description: C(type:path) reference to the table, ready for C(main.cf).
  returned: when O(path) is given
  type: str
  sample: hash:/etc/postfix/virtual
type:
  description: Table type used, O(type) or the target's default.
  returned: when O(path) is given
  type: str
  sample: hash
rebuilt:
  description: Whether the index was rebuilt (in check mode, would be). Always false for tables without index.
  returned: when O(path) is given
  type: bool
  sample: true
added_keys:
  description: Keys (patterns, for rule tables) new in the file, sorted.
  returned: when O(path) is given
  type: list
  elements: str
  sample: [team@example.org]
removed_keys:
  description: Keys no longer in the file, sorted.
  returned: when O(path) is given
  type: list
  elements: str
  sample: []
changed_keys:
  description: Keys whose value changed, sorted.
  returned: when O(path) is given
  type: list
  elements: str
  sample: [postmaster@example.org]
changed_paths:
  description: The source files of the tables that changed (in check mode, would change), in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/postfix/transport]
  version_added: 0.2.0
maps:
  description:
    - One result per table of O(maps), in their order, with V(path), V(changed) and the values returned for a
      single table (V(map_ref), V(type), V(rebuilt), V(added_keys), V(removed_keys), V(changed_keys)).
  returned: when O(maps) is given
  type: list
  elements: dict
  sample: [{path: /etc/postfix/transport, changed: false, map_ref: hash:/etc/postfix/transport, type: hash,
            rebuilt: false, added_keys: [], removed_keys: [], changed_keys: []}]
  version_added: 0.2.0
"""

import os
from contextlib import ExitStack

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils import lookup_table
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import (
    Postconf, Postmap, PostfixCommandError)
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import (
    StagedValidationError, attributes_differ, parse_mode, read_bytes, resolve_gid, resolve_uid,
    scratch_directory, set_attributes, sync_directory)

# What a table of O(maps) takes from the task when it does not say.
INHERITED = ('type', 'actions', 'owner', 'group', 'mode', 'hide_values', 'header')


def tables_of(params):
    """The tables of a task: its one table (O(path)), or each of O(maps) with the task's settings it does not give.

    ValueError when a path is listed twice or a table has neither entries nor rules.
    """
    if params.get('maps') is None:
        return [params]
    tables, seen = [], set()
    for index, item in enumerate(params['maps']):
        table = dict(item)
        for name in INHERITED:
            if table.get(name) is None:
                table[name] = params.get(name)
        table.setdefault('entries', None)
        table.setdefault('rules', None)
        path = table.get('path')
        if path in seen:
            raise ValueError('maps[%d]: %s is listed twice' % (index, path))
        seen.add(path)
        if table['entries'] is not None and table['rules'] is not None:
            raise ValueError('maps[%d] (%s): give entries or rules, not both' % (index, path))
        tables.append(table)
    return tables


def converge(params, postmap, postconf, check_mode=False):
    """Bring the table at ``params['path']`` to the desired content and attributes."""
    return converge_tables([params], postmap, postconf, check_mode)[0]


def converge_tables(tables, postmap, postconf, check_mode=False, name_tables=False):
    """Bring every table of ``tables`` (see tables_of) to its content and attributes: one result each.

    Every table is checked first (ValueError, which starts with the table's
    path when ``name_tables``), then every changed one is built and checked by
    Postfix in a private directory (StagedValidationError names the table),
    and only then are they installed, in order (with ``name_tables``, an
    OSError there is a PartlyInstalled naming the tables changed before it).
    """
    default_type = []

    def type_of(table):
        if table['type']:
            return table['type']
        if not default_type:
            default_type.append(postconf.value('default_database_type'))
        return default_type[0]

    plans = []
    for table in tables:
        try:
            plans.append(_plan(table, type_of(table)))
        except ValueError as error:
            if not name_tables:
                raise
            raise ValueError('%s: %s' % (table['path'], error)) from error
    with ExitStack() as stack:
        staged = [_stage(plan, postmap, stack, check_mode) if plan['rewrite'] or plan['rebuild'] else None
                  for plan in plans]
        if not check_mode:
            done = []
            for plan, files in zip(plans, staged):
                try:
                    _install(plan, files)
                except OSError as error:
                    if not name_tables:
                        raise
                    raise PartlyInstalled('%s: %s' % (plan['path'], error), done) from error
                if plan['result']['changed']:
                    done.append(plan['path'])
    return [plan['result'] for plan in plans]


class PartlyInstalled(Exception):
    """Installing a table failed on the host; ``done`` lists the tables changed before it."""

    def __init__(self, message, done):
        super().__init__(message)
        self.done = done


def _plan(params, map_type):
    """What the table needs, checked and compared with the host; nothing is written."""
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
    return dict(map_type=map_type, path=path, index=index, text=text, header=header, records=records,
                attributes=(uid, gid, mode), rewrite=rewrite, rebuild=rebuild, wrong_attributes=wrong_attributes,
                result=result)


def _stale(index, source):
    return not os.path.exists(index) or os.path.getmtime(index) < os.path.getmtime(source)


def _stage(plan, postmap, stack, check_mode):
    """The table's new source (and index) built and checked in a private directory that ``stack`` removes:
    a list of (staged, live) paths, index first; StagedValidationError when Postfix warns."""
    map_type, path, index, header, records = (plan[name] for name in ('map_type', 'path', 'index', 'header',
                                                                      'records'))
    directory = os.path.dirname(os.path.abspath(path))
    scratch = stack.enter_context(scratch_directory(None if check_mode else directory))
    staged = os.path.join(scratch, os.path.basename(path))
    with open(staged, 'w', encoding='utf-8') as handle:
        handle.write(plan['text'])
    if index:
        warnings = postmap.build(map_type, staged)
    else:
        warnings = postmap.probe(map_type, staged)
    if warnings:
        what = 'rule' if map_type in lookup_table.RULE_TYPES else 'entry'
        explained = lookup_table.explain_warnings(warnings, header, records, what)
        raise StagedValidationError('%s left unchanged: postmap reported problems: %s'
                                    % (path, '; '.join(e.replace(staged, path) for e in explained)))
    staged_files = [(staged, path)]
    if index:
        # Index first: daemons read only the index, and if we stop half
        # way the old source still differs from the desired text, so the
        # next run rebuilds instead of trusting a source that matches.
        staged_files.insert(0, (staged + lookup_table.INDEX_SUFFIXES[map_type], index))
    return staged_files


def _install(plan, staged_files):
    """Rename the staged files into place, or set the attributes of a table whose content is right."""
    if staged_files is None:
        for wrong in plan['wrong_attributes']:
            set_attributes(wrong, *plan['attributes'])
        return
    for staged_path, _live in staged_files:
        set_attributes(staged_path, *plan['attributes'])
        _fsync(staged_path)
    for staged_path, live in staged_files:
        os.rename(staged_path, live)
    sync_directory(os.path.dirname(os.path.abspath(plan['path'])))


def _fsync(path):
    with open(path, 'rb') as handle:
        os.fsync(handle.fileno())


def main():
    table_options = dict(
        type=dict(type='str', choices=list(lookup_table.TYPES)),
        entries=dict(type='raw'),
        rules=dict(type='list', elements='dict', options=dict(
            pattern=dict(type='str', required=True),
            action=dict(type='str', required=True),
        )),
    )
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path'),
            maps=dict(type='list', elements='dict', options=dict(
                table_options,
                path=dict(type='path', required=True),
                actions=dict(type='list', elements='str'),
                owner=dict(type='str'),
                group=dict(type='str'),
                mode=dict(type='raw'),
                hide_values=dict(type='bool'),
                header=dict(type='str'),
            ), mutually_exclusive=[('entries', 'rules')], required_one_of=[('entries', 'rules')]),
            actions=dict(type='list', elements='str'),
            owner=dict(type='str', default='root'),
            group=dict(type='str', default='root'),
            mode=dict(type='raw', default='0644'),
            hide_values=dict(type='bool', default=False),
            header=dict(type='str', default=lookup_table.DEFAULT_HEADER),
            config_dir=dict(type='path', default='/etc/postfix'),
            **table_options
        ),
        mutually_exclusive=[('entries', 'rules'), ('maps', 'path'), ('maps', 'entries'), ('maps', 'rules')],
        required_one_of=[('path', 'maps')],
        required_by={'entries': 'path', 'rules': 'path'},
        supports_check_mode=True,
    )
    params = module.params
    if params['path'] is not None and params['entries'] is None and params['rules'] is None:
        module.fail_json(msg='one of the following is required: entries, rules')
    config_dir = params['config_dir']
    postconf = Postconf(module.run_command, module.get_bin_path('postconf', required=True), config_dir)
    postmap = Postmap(module.run_command, module.get_bin_path('postmap', required=True), config_dir)
    try:
        tables = tables_of(params)
        for table in tables:
            if table['hide_values']:
                module.no_log_values.update(_secret_strings(table['entries']))
        results = converge_tables(tables, postmap, postconf, module.check_mode,
                                  name_tables=params['maps'] is not None)
    except PartlyInstalled as error:
        module.fail_json(msg='%s; changed before it: %s' % (error, ', '.join(error.done) or 'nothing'),
                         changed=bool(error.done), changed_paths=error.done)
    except (ValueError, OSError, PostfixCommandError, StagedValidationError) as error:
        module.fail_json(msg=str(error))
    diffs = [result.pop('diff') for result in results]
    changed_paths = [table['path'] for table, result in zip(tables, results) if result['changed']]
    if params['maps'] is None:
        result = dict(results[0], changed_paths=changed_paths)
        diff = diffs[0]
    else:
        result = dict(changed=bool(changed_paths), changed_paths=changed_paths,
                      maps=[dict(result, path=table['path']) for table, result in zip(tables, results)])
        diff = [one for one, table_result in zip(diffs, results) if table_result['changed']]
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
