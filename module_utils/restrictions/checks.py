# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Checks of restriction lists and classes item by item: names, arguments, history, tables, classes.

smtpd accepts every restriction in every list (with smtpd_delay_reject=yes, the
default, client, helo and sender lists are evaluated at RCPT TO). A restriction
whose information is missing (no recipient in the client list of a "RCPT-less"
session, no ETRN domain at RCPT TO) does nothing. The only stage error is a bare
"type:table" in smtpd_data_restrictions or smtpd_end_of_data_restrictions, which
have no default access check.
"""

from __future__ import annotations

import difflib

from ansible_collections.mailforge.postfix.plugins.module_utils.main_cf import PARAMETER_NAME
from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.facts import (
    CLASSES_PARAMETER, DEFAULT_ACCESS_CHECK, LIST_NAMES, NO_OK_TABLE, RESTRICTIONS, TABLE, WARNABLE)
from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.relay import Relay
from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.syntax import (
    Item, access_action_kind, argument_problem, built_in_actions, parse_item, table_is_defined, table_problem,
    table_ref_of, tokens, version_text)


def takes_table(item):
    """True when ``item`` is an access check, whose argument is a lookup table."""
    spec = RESTRICTIONS.get(item.name.lower())
    return spec is not None and spec.arg == TABLE


class RestrictionError(ValueError):
    """The input is wrong; ``problems`` lists every problem found, ``warnings`` the warnings."""

    def __init__(self, problems, warnings=()):
        self.problems = list(problems)
        self.warnings = list(warnings)
        super().__init__('restriction lists refused (%d problem%s): %s'
                         % (len(self.problems), '' if len(self.problems) == 1 else 's',
                            '; '.join(self.problems)))


class Checker:
    """Validates one input; collects problems and warnings in order."""

    def __init__(self, lists, classes, tables, table_actions, version, parameter_names):
        self.lists = lists
        self.classes = classes
        self.tables = tables
        self.table_actions = table_actions
        self.version = version
        self.parameter_names = set(parameter_names or ())
        self.problems = []
        self.warnings = []
        self.sources = {}        # container ("smtpd_..." or "class NAME") -> item texts as given
        self.items = {}          # container -> [Item, or None where the item is refused]
        self.relay = Relay(self.items, classes, version, self.actions_of)

    def problem(self, text):
        if text not in self.problems:
            self.problems.append(text)

    def warn(self, text):
        if text not in self.warnings:
            self.warnings.append(text)

    # -- per item -----------------------------------------------------------------------------

    def check_all(self):
        for name in self.classes:
            self.check_class_name(name)
        containers = [(name, self.lists[name], DEFAULT_ACCESS_CHECK[name]) for name in LIST_NAMES
                      if name in self.lists]
        containers += [('class %s' % name, items, False) for name, items in self.classes.items()]
        for container, texts, default_check in containers:
            self.sources[container] = texts
            self.items[container] = [self.check_item(container, index, text, default_check)
                                     for index, text in enumerate(texts, 1)]
            self.check_unreachable(container)
            if container.startswith('class ') and not texts:
                self.problem('%s is empty; Postfix refuses to start with a restriction class that has no '
                             'definition' % container)
        self.check_table_actions()
        self.check_recursion()

    def where(self, container, index, text):
        return "%s item %d '%s'" % (container, index, text)

    def check_item(self, container, index, text, default_check):
        try:
            item = parse_item(text)
        except ValueError as error:
            self.problem('%s item %d %r: %s' % (container, index, text, error))
            return None
        where = self.where(container, index, item.text)
        name = item.name
        if ':' in name and name.lower() not in RESTRICTIONS:
            return self.check_bare_table(where, item, default_check)
        if name in self.classes:
            if item.args:
                self.problem('%s: restriction class %s takes no argument (one restriction per item)'
                             % (where, name))
            return item
        spec = RESTRICTIONS.get(name.lower())
        if spec is None:
            self.problem('%s: %s' % (where, self.unknown(name)))
            return None
        if name.lower() == 'warn_if_reject':
            self.problem('%s: warn_if_reject is given twice' % where)
            return None
        self.check_history(where, name.lower(), spec)
        problem = argument_problem(spec.arg, item.args)
        if problem:
            self.problem('%s: %s %s' % (where, name, problem))
            return None
        if item.warn and spec.relay not in WARNABLE:
            self.problem('%s: warn_if_reject has no effect on %s; it applies to reject-type restrictions, '
                         'access tables, policy services and restriction classes' % (where, name))
        if spec.arg == TABLE:
            self.check_table_defined(where, table_ref_of(item))
        return item

    def check_bare_table(self, where, item, default_check):
        problem = table_problem(item.name)
        if problem:
            self.problem('%s: %s' % (where, self.unknown(item.name)))
            return None
        if default_check is None:
            self.problem('%s: Postfix has no default access check for a bare lookup table here; write '
                         'check_client_access, check_sender_access, ... in front of it' % where)
            return None
        if default_check is False:
            self.problem('%s: a bare lookup table in a restriction class means a different check in each '
                         'list that uses the class; write check_client_access, check_recipient_access, ... '
                         'in front of it' % where)
            return None
        if item.args:
            self.problem('%s: takes no argument (one restriction per item)' % where)
            return None
        self.warn('%s: a bare lookup table means "%s %s" here; write that instead'
                  % (where, default_check, item.name))
        self.check_table_defined(where, item.name)
        return Item(item.text, item.warn, default_check, [item.name])

    def unknown(self, name):
        known = list(RESTRICTIONS) + list(self.classes)
        close = difflib.get_close_matches(name.lower(), known, n=1)
        insensitive = [defined for defined in self.classes if defined.lower() == name.lower()]
        if insensitive:
            hint = ' (restriction class names are case-sensitive; did you mean %s?)' % insensitive[0]
        elif close:
            hint = ' (did you mean %s?)' % close[0]
        else:
            hint = ''
        return ('unknown restriction %r: not a Postfix restriction, and no class of that name is defined in '
                'classes (referenced but not defined)%s' % (name, hint))

    def check_history(self, where, name, spec):
        version = version_text(self.version)
        if spec.added and self.version < spec.added:
            self.problem('%s: %s is available from Postfix %s; this host runs %s'
                         % (where, name, version_text(spec.added), version))
        if spec.status == 'renamed':
            self.warn('%s: %s is the old name of %s; Postfix %s still accepts it, prefer %s'
                      % (where, name, spec.replacement, version, spec.replacement))
        elif spec.status == 'removed' and self.version >= spec.since:
            self.problem('%s: %s was removed in Postfix %s (this host runs %s, where it answers "451 Server '
                         'configuration error"); use %s' % (where, name, version_text(spec.since), version,
                                                            spec.replacement))
        elif spec.status == 'removed':
            self.warn('%s: %s is deprecated and was removed in Postfix %s; use %s'
                      % (where, name, version_text(spec.since), spec.replacement))
        elif spec.status == 'deprecated' and self.version >= spec.since:
            self.warn('%s: %s is deprecated as of Postfix %s (this host runs %s) and will be removed; use %s'
                      % (where, name, version_text(spec.since), version, spec.replacement))

    def check_table_defined(self, where, ref):
        if not table_is_defined(ref, self.tables):
            self.problem('%s: table %s is referenced but not defined (add it to tables, or manage it in '
                         'the same play)' % (where, ref))

    def check_unreachable(self, container):
        for index, item in enumerate(self.items[container][:-1], 1):
            if item is not None and not item.warn and item.name.lower() in ('permit', 'reject', 'defer'):
                self.warn("%s item %d '%s' and the items after it are never evaluated: %s decides first"
                          % (container, index + 1, self.sources[container][index], item.name))
                return

    # -- classes ------------------------------------------------------------------------------

    def check_class_name(self, name):
        what = 'classes: class name %r' % (name,)
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            self.problem('%s is not a valid name (letters, digits, "_" and "-")' % what)
        elif name.lower() in RESTRICTIONS:
            self.problem('%s is the name of a Postfix restriction, which smtpd would apply instead of the '
                         'class' % what)
        elif name in self.parameter_names or name == CLASSES_PARAMETER or name in LIST_NAMES:
            self.problem('%s is a Postfix parameter name (postconf -d); the class definition would change '
                         'that parameter' % what)

    def class_references(self, name):
        """Classes that class ``name`` uses directly or through table_actions."""
        found = []
        for item in self.items.get('class %s' % name, ()):
            if item is None:
                continue
            if item.name in self.classes:
                found.append(item.name)
            elif takes_table(item):
                for action in self.actions_of(table_ref_of(item)) or ():
                    found.extend(word for word in tokens(action)[0] if word in self.classes)
        return found

    def check_recursion(self):
        state = {}

        def visit(name, trail):
            if state.get(name) == 'done':
                return
            if state.get(name) == 'active':
                cycle = trail[trail.index(name):] + [name]
                self.problem('classes: restriction class recursion %s' % ' -> '.join(cycle))
                return
            state[name] = 'active'
            for used in self.class_references(name):
                visit(used, trail + [name])
            state[name] = 'done'

        for name in self.classes:
            visit(name, [])

    # -- tables -------------------------------------------------------------------------------

    def actions_of(self, ref):
        """The actions a table can answer, or None when unknown."""
        given = self.table_actions.get(ref)
        if given is None and ref.startswith('proxy:'):
            given = self.table_actions.get(ref[len('proxy:'):])
        built_in = built_in_actions(ref)
        if given is None:
            return built_in
        return list(given) + list(built_in or ())

    def check_table_actions(self):
        used = {table_ref_of(item) for items in self.items.values() for item in items
                if item is not None and takes_table(item)}
        for ref, actions in self.table_actions.items():
            if not table_is_defined(ref, self.tables):
                self.problem('table_actions: %s is not in tables' % ref)
            if ref not in used:
                self.warn('table_actions: %s is not used by any restriction given here' % ref)
            for action in actions:
                self.check_action('table_actions %s action %r' % (ref, action), action)
        for items in self.items.values():
            for item in items:
                if item is not None and takes_table(item):
                    ref = table_ref_of(item)
                    if ref not in self.table_actions:
                        for action in built_in_actions(ref) or ():
                            self.check_action('table %s action %r' % (ref, action), action)
                    if RESTRICTIONS[item.name.lower()].relay == NO_OK_TABLE:
                        self.check_no_ok(item, ref)

    def check_action(self, where, action):
        if not isinstance(action, str) or not action.strip():
            self.problem('%s: an action must be a non-empty string' % where)
            return
        kind = access_action_kind(action)
        if kind is not None:
            return
        for word in tokens(action)[0]:
            if word in self.classes:
                continue
            spec = RESTRICTIONS.get(word.lower())
            if spec is None:
                if ':' in word:
                    continue   # argument of the previous restriction
                self.problem('%s: %s is not an access(5) action, a Postfix restriction, or a class defined '
                             'in classes (a class referenced but not defined)' % (where, word))

    def check_no_ok(self, item, ref):
        for action in self.actions_of(ref) or ():
            if self.relay.action_outcome(action, frozenset()).kind == 'open':
                self.problem("%s '%s': table %s can answer %r, but %s does not allow OK (Postfix answers "
                             '"451 Server configuration error"); use DUNNO to make an exception'
                             % (self.container_of(item), item.text, ref, action, item.name))

    def container_of(self, wanted):
        for container, items in self.items.items():
            for index, item in enumerate(items, 1):
                if item is wanted:
                    return '%s item %d' % (container, index)
        return 'item'


def shape_problems(lists, classes, tables, table_actions):
    problems = []
    if not isinstance(lists, dict):
        return ['lists must be a dict of restriction list name to list of restrictions']
    for name, items in lists.items():
        if name not in LIST_NAMES:
            hint = difflib.get_close_matches(str(name), LIST_NAMES, n=1)
            problems.append('lists: %r is not a restriction list (one of %s)%s'
                            % (name, ', '.join(LIST_NAMES), ' - did you mean %s?' % hint[0] if hint else ''))
        elif not isinstance(items, list):
            problems.append('lists: %s must be a list of restrictions' % name)
    if not isinstance(classes, dict):
        problems.append('classes must be a dict of class name to list of restrictions')
    else:
        for name, items in classes.items():
            if not isinstance(items, list):
                problems.append('classes: class %s must be a list of restrictions' % (name,))
    if not isinstance(tables, list) or not all(isinstance(ref, str) for ref in tables):
        problems.append('tables must be a list of table references such as hash:/etc/postfix/access')
    else:
        for ref in tables:
            problem = table_problem(ref)
            if problem:
                problems.append('tables: %r %s' % (ref, problem))
    if not isinstance(table_actions, dict):
        problems.append('table_actions must be a dict of table reference to list of actions')
    else:
        for ref, actions in table_actions.items():
            if not isinstance(actions, list):
                problems.append('table_actions: %s must be a list of actions' % (ref,))
    return problems
