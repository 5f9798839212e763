# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Relay simulation: how a request from a client that is not trusted, for a foreign domain, ends.

At RCPT TO smtpd evaluates smtpd_relay_restrictions and then
smtpd_recipient_restrictions; a reject in either one ends the request, a permit
ends only the list it is in, and the end of a list permits. Restriction classes
are expanded in place, and an access table's answers (access(5) actions,
restrictions or classes) are followed. A list is guarded when it reaches a relay
guard before anything that can permit such a client.
"""

from __future__ import annotations

from collections import namedtuple

from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.facts import (
    ACCESS_PERMIT, CLAIMED_TABLE, GUARD, OPENS, POLICY, RELAY_GUARDS, RELAY_GUARDS_TEXT, RELAY_LISTS, RESTRICTIONS)
from ansible_collections.mailforge.postfix.plugins.module_utils.restrictions.syntax import (
    Item, access_action_kind, table_ref_of, tokens)

Outcome = namedtuple('Outcome', 'kind path reason')   # kind: open, guarded, through


class Relay:
    """Follows checked items (container -> [Item, or None where refused]) as smtpd would."""

    def __init__(self, items, classes, version, actions_of):
        self.items = items
        self.classes = classes
        self.version = version
        self.actions_of = actions_of

    def outcome(self, container, items, active, warned=False):
        """How a list ends for an untrusted client sending to a foreign domain."""
        for index, item in enumerate(items, 1):
            if item is None:
                continue
            here = (container, index, item.text)
            result = self.item_outcome(item, active, warned or item.warn)
            if result.kind != 'through':
                return Outcome(result.kind, [here] + result.path, result.reason)
        return Outcome('through', [], None)

    def item_outcome(self, item, active, warned):
        name = item.name
        if name in self.classes:
            if name in active:
                return Outcome('through', [], None)
            return self.outcome('class %s' % name, self.items.get('class %s' % name, []),
                                active | {name}, warned)
        spec = RESTRICTIONS[name.lower()]
        kind = spec.relay
        if kind == GUARD:
            if warned or (spec.status == 'removed' and self.version >= spec.since):
                return Outcome('through', [], None)
            return Outcome('guarded', [], None)
        if kind == OPENS:
            return Outcome('open', [], {
                'permit': 'permits every request',
                'permit_mx_backup': 'permits mail for any domain whose DNS lists this host as a backup MX, '
                                    'and the sender controls that DNS',
                'permit_naked_ip_address': 'permits any client that sends an IP address in HELO',
            }[name.lower()])
        if kind == POLICY:
            return Outcome('open', [], 'can answer OK for any client (a policy server may permit)')
        if kind == CLAIMED_TABLE:
            return self.table_outcome(table_ref_of(item), active) if item.args else Outcome('through', [], None)
        return Outcome('through', [], None)

    def table_outcome(self, ref, active):
        if ('table', ref) in active:
            return Outcome('through', [], None)
        active = active | {('table', ref)}
        actions = self.actions_of(ref)
        if actions is None:
            return Outcome('open', [], 'can answer OK for any client (what %s answers is unknown; list its '
                                       'actions in table_actions)' % ref)
        for action in actions:
            result = self.action_outcome(action, active)
            if result.kind == 'open':
                reason = 'can answer %r for any client' % action
                if result.path[1:]:
                    reason += ', and then %s %s' % (path_text(result.path[1:]), result.reason)
                elif result.reason:
                    reason += ', which %s' % result.reason
                return Outcome('open', [], reason)
        return Outcome('through', [], None)

    def action_outcome(self, action, active):
        """How one table answer ends the request; path starts with the action's own restriction."""
        kind = access_action_kind(action)
        if kind == ACCESS_PERMIT:
            return Outcome('open', [], None)
        if kind is not None:
            return Outcome('through', [], None)
        items = []
        for word in tokens(action)[0]:
            if word in self.classes or word.lower() in RESTRICTIONS:
                items.append(Item(word, False, word, []))
            elif ':' in word and items:
                items[-1] = items[-1]._replace(text=items[-1].text + ' ' + word, args=[word])
            else:
                return Outcome('through', [], None)    # reported by check_action
        return self.outcome('action', items, active)


def relay_problem(relay, lists):
    """The open relay problem of ``lists`` (name -> items as given), or None when one list is guarded.

    Checked only when a relay list is given: the other one, when not given, counts as unguarded.
    """
    if not any(name in lists for name in RELAY_LISTS):
        return None
    states = {}
    for name in RELAY_LISTS:
        if name not in lists:
            states[name] = (Outcome('through', [], None),
                            'is not given (its live value is not checked here; pass it as well)')
            continue
        result = relay.outcome(name, relay.items.get(name, []), frozenset())
        if result.kind == 'guarded':
            return None
        if result.kind == 'open':
            text = '%s %s; no relay guard (%s) comes before it' % (
                path_text(result.path), result.reason, RELAY_GUARDS_TEXT)
        elif not lists[name]:
            text = '%s is empty' % name
        else:
            text = ('%s has no relay guard (%s) that is not behind warn_if_reject, so it ends with '
                    "Postfix's implicit permit" % (name, RELAY_GUARDS_TEXT))
        states[name] = (result, text)
    parts = []
    for name in RELAY_LISTS:
        result, text = states[name]
        parts.append(text if name in lists else '%s %s' % (name, text))
    return ('open relay: %s: any client could relay mail through this server; put '
            'reject_unauth_destination after the permits for trusted clients '
            '(permit_mynetworks, permit_sasl_authenticated) in one of the two lists' % ', and '.join(parts))


def permit_order_problems(items, permits):
    """Where a relay guard comes before one of ``permits``, which then could not let its clients relay.

    ``items`` maps list names to their items (Item, or None where refused).
    Lists without a guard, and guards behind warn_if_reject, ask nothing.
    """
    problems = []
    for name in RELAY_LISTS:
        listed = [item for item in items.get(name) or () if item is not None]
        guards = [index for index, item in enumerate(listed) if not item.warn and item.name.lower() in RELAY_GUARDS]
        if not guards:
            continue
        first = guards[0]
        before = {item.name.lower() for item in listed[:first] if not item.warn}
        for permit in permits:
            if permit.lower() not in before:
                problems.append("%s: %s must come before item %d '%s', the first relay guard (%s), or the "
                                'clients it permits cannot relay' % (name, permit, first + 1, listed[first].text,
                                                                     RELAY_GUARDS_TEXT))
    return problems


def path_text(path):
    """[(container, index, text), ...] -> "list item 2 'x' (class c item 1 'y')"."""
    head, rest = path[0], path[1:]
    if head[0] == 'action':
        text = "'%s'" % head[2]
    else:
        text = "%s item %d '%s'" % head
    if rest:
        text += ' (%s)' % path_text(rest)
    return text
