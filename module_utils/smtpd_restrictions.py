# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The SMTP server's restriction model, in one place: what the roles give, what they write.

The roles hand over their variables as written: restriction lists that name
access tables by name, the access tables with their entries, RBL zones, the
restriction classes and the recipient class table, the lists another task
writes, and the permits that must come before the relay guard. ``plan`` turns
them into the main.cf parameters and the tables to write, after checking
everything (restrictions/checks.py), the open relay guard and the order of the
permits (restrictions/relay.py). Nothing here reads or changes a host.
"""

from __future__ import annotations

import posixpath
import re

from ansible_collections.mailforge.postfix.plugins.module_utils import restriction_classes
from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.checks import (
    Checker, RestrictionError, shape_problems)
from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.facts import (
    CLASSES_PARAMETER, LIST_NAMES, RELAY_GUARDS, RELAY_GUARDS_TEXT, RELAY_LISTS, RESTRICTIONS, TABLE)
from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.relay import (
    permit_order_problems, relay_problem)
from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.syntax import (
    access_action_kind, parse_item, parse_version, split_value, tokens)

# Callers import the model's vocabulary from here, wherever it lives.
__all__ = ['CLASSES_PARAMETER', 'LIST_NAMES', 'RELAY_GUARDS', 'RELAY_GUARDS_TEXT', 'RELAY_LISTS', 'RESTRICTIONS',
           'RestrictionError', 'access_action_kind', 'parse_item', 'parse_version', 'plan', 'render', 'tokens',
           'validate']

# An access table's file name under the configuration directory.
_TABLE_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]*$')


def render(lists, classes):
    """The main.cf parameters, each list joined with ", " (lists in Postfix's order, then classes)."""
    parameters = {}
    for name in LIST_NAMES:
        if name in lists:
            parameters[name] = ', '.join(item.strip() for item in lists[name])
    if classes:
        parameters[CLASSES_PARAMETER] = ', '.join(classes)
        for name, items in classes.items():
            parameters[name] = ', '.join(item.strip() for item in items)
    return parameters


def _other_lists_problems(lists, other_lists):
    if not isinstance(other_lists, dict):
        return ['other_lists must be a dict of restriction list name to list of restrictions']
    if not isinstance(lists, dict):
        return []
    return ['other_lists: %s is also in lists; give it in one of the two (the task that writes it uses lists)'
            % name for name in other_lists if name in lists]


def _checked(lists, classes, tables, table_actions, version, parameter_names, other_lists, permit_before_guard):
    """(parameters, problems, warnings) of lists to write and lists written elsewhere, checked together."""
    problems = shape_problems(lists, classes, tables, table_actions)
    problems += _other_lists_problems(lists, other_lists)
    if not problems:
        problems = shape_problems(other_lists, {}, [], {})
    if problems:
        return None, problems, []
    every_list = dict(other_lists, **lists)
    checker = Checker(every_list, classes, tables, table_actions,
                      parse_version(version) if isinstance(version, str) else tuple(version), parameter_names)
    checker.check_all()
    open_relay = relay_problem(checker.relay, every_list)
    if open_relay:
        checker.problem(open_relay)
    for problem in permit_order_problems(checker.items, permit_before_guard):
        checker.problem(problem)
    if checker.problems:
        return None, checker.problems, checker.warnings
    return render(lists, classes), [], checker.warnings


def validate(lists, classes=None, tables=None, table_actions=None, version='3.7', parameter_names=(),
             other_lists=None, permit_before_guard=()):
    """Check restriction lists for Postfix ``version``; return (parameters, warnings).

    ``parameter_names`` are the names ``postconf -d`` prints; restriction classes
    must not take one of them. ``other_lists`` are checked with ``lists`` (the
    open relay guard sees both) but not rendered: another task writes them.
    Raises RestrictionError listing every problem.
    """
    parameters, problems, warnings = _checked(
        lists, {} if classes is None else classes, [] if tables is None else tables,
        {} if table_actions is None else table_actions, version, parameter_names,
        {} if other_lists is None else other_lists, permit_before_guard)
    if problems:
        raise RestrictionError(problems, warnings)
    return parameters, warnings


def _with_table_refs(items, refs):
    """Items with each access table named by its name turned into its reference."""
    result = []
    for text in items:
        try:
            item = parse_item(text)
        except ValueError:
            result.append(text)     # refused, with its reason, by the checks
            continue
        spec = RESTRICTIONS.get(item.name.lower())
        if spec is not None and spec.arg == TABLE and len(item.args) == 1 and item.args[0] in refs:
            text = '%s%s %s' % ('warn_if_reject ' if item.warn else '', item.name, refs[item.args[0]])
        result.append(text)
    return result


def _access_table_problems(access_tables, rbl_domains):
    problems = []
    if not isinstance(access_tables, dict):
        return ['access_tables must be a dict of table name to its entries (lookup key -> action)']
    for name, entries in access_tables.items():
        if not isinstance(name, str) or not _TABLE_NAME.match(name):
            problems.append('access_tables: %r is not a file name (letters, digits, ".", "_" and "-")' % (name,))
        elif not isinstance(entries, dict):
            problems.append('access_tables: %s must be a dict of lookup key to action' % name)
    if not isinstance(rbl_domains, (list, tuple)) or not all(isinstance(zone, str) for zone in rbl_domains):
        problems.append('rbl_domains must be a list of RBL zones')
    return problems


def plan(lists, classes=None, access_tables=None, rbl_domains=(), tables=None, table_actions=None,
         recipient_classes=None, other_lists=None, permit_before_guard=(), read_lists=None, version='3.7',
         parameter_names=(), map_type=None, config_dir='/etc/postfix'):
    """What to write for the restriction model; raises RestrictionError with every problem.

    ``access_tables`` maps a table name to its entries; the lists and classes
    name those tables by name, and each becomes ``map_type:config_dir/name``.
    ``rbl_domains`` are checked with reject_rbl_client at the end of the client
    list. ``recipient_classes`` is {table, recipients, default}; a table given
    by name is managed like the access tables. ``read_lists`` are lists as the
    host's main.cf holds them, checked only for ``permit_before_guard``.

    Returns parameters (main.cf), maps (each {name, path, type, entries}, in
    the order given, the recipient table last), restriction_warnings and
    recipient_table (the recipient table's reference when it has recipients).
    """
    classes = {} if classes is None else classes
    access_tables = {} if access_tables is None else access_tables
    problems = _access_table_problems(access_tables, rbl_domains)
    if problems or not isinstance(lists, dict) or not isinstance(classes, dict):
        raise RestrictionError(problems or shape_problems(lists, classes, [], {}))
    recipient_table_name = str((recipient_classes or {}).get('table') or '')
    if not map_type and (access_tables or (recipient_table_name and ':' not in recipient_table_name)):
        raise ValueError('map_type is needed to name the tables (the module reads default_database_type)')
    path_of = {name: posixpath.join(config_dir, name) for name in access_tables}
    refs = {name: '%s:%s' % (map_type, path) for name, path in path_of.items()}
    maps = [dict(name=name, path=path_of[name], type=map_type, entries=dict(entries))
            for name, entries in access_tables.items()]

    lists = {name: _with_table_refs(items, refs) if isinstance(items, list) else items
             for name, items in lists.items()}
    classes = {name: _with_table_refs(items, refs) if isinstance(items, list) else items
               for name, items in classes.items()}
    if rbl_domains:
        lists['smtpd_client_restrictions'] = (list(lists.get('smtpd_client_restrictions') or [])
                                              + ['reject_rbl_client %s' % zone for zone in rbl_domains])
    tables = list(tables or []) + list(refs.values())
    table_actions = dict(table_actions or {})
    table_actions.update((refs[name], list(entries.values())) for name, entries in access_tables.items())

    recipient_table = None
    if recipient_classes is not None:
        model = dict(recipient_classes)
        table = model.get('table') or ''
        if table and ':' not in table:
            if not _TABLE_NAME.match(table):
                raise RestrictionError(['recipient_classes: table %r is not a file name or a table reference'
                                        % (table,)])
            model['table'] = '%s:%s' % (map_type, posixpath.join(config_dir, table))
            maps.append(dict(name=table, path=posixpath.join(config_dir, table), type=map_type,
                             entries=dict(model.get('recipients') or {})))
        lists, tables, table_actions, recipient_table, problems = restriction_classes.apply(
            lists, classes, tables, table_actions, model)
        if problems:
            raise RestrictionError(problems)

    parameters, problems, warnings = _checked(
        lists, classes, tables, table_actions, version, parameter_names,
        {} if other_lists is None else other_lists, permit_before_guard)
    read = {}
    for name, value in (read_lists or {}).items():
        items = []
        for text in split_value(value or ''):
            try:
                items.append(parse_item(text))
            except ValueError:
                continue    # the task that wrote it had to check it
        read[name] = items
    problems += [problem for problem in permit_order_problems(read, permit_before_guard) if problem not in problems]
    if problems:
        raise RestrictionError(problems, warnings)
    result = dict(parameters=parameters, maps=maps, restriction_warnings=warnings)
    if recipient_classes is not None:
        result['recipient_table'] = recipient_table
    return result
