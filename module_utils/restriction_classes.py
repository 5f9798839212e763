# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-recipient restriction classes (Debian Handbook 11.1.5) as data.

The model is: class name -> restrictions (validated with the lists, in
smtpd_restrictions.py), a recipient access table mapping recipients or domains
to a class or an access(5) action, and an optional default class for every
other recipient. This file turns the table and the default into the items of
smtpd_recipient_restrictions and checks the table's keys; everything else
(undefined classes, colliding names, relay) is checked with the lists.
"""

from __future__ import annotations

from ansible_collections.mailforge.postfix.plugins.module_utils.mail_names import LOCAL_PART, is_domain

RECIPIENT_LIST = 'smtpd_recipient_restrictions'


def key_problem(key):
    """Why ``key`` is not a recipient key of access(5), or None.

    Keys are a full address, a user@ local part (any domain) or a domain,
    which with Postfix's default parent_domain_matches_subdomains also
    covers its subdomains.
    """
    if not isinstance(key, str) or not key:
        return 'is not a recipient address, user@ or domain'
    local, at, domain = key.rpartition('@')
    if not at:
        return None if is_domain(key) else 'is not a domain name'
    if not local:
        return ('is a bare @domain, which access(5) does not look up; use the domain itself'
                if domain else 'is not a recipient address, user@ or domain')
    if not LOCAL_PART.match(local):
        return 'has an invalid local part'
    if domain and not is_domain(domain):
        return 'has an invalid domain'
    return None


def model_problems(recipients, default, classes):
    """Problems of the table keys and the default class (shape, syntax, case duplicates)."""
    if not isinstance(recipients, dict):
        return ['recipient_classes: recipients must be a dict of recipient or domain to a class or action']
    problems = []
    seen = {}
    for key, action in recipients.items():
        problem = key_problem(key)
        if problem:
            problems.append('recipient_classes: key %r %s' % (key, problem))
            continue
        if not isinstance(action, str) or not action.strip():
            problems.append('recipient_classes: %s must map to a class name or an access action' % key)
        folded = key.lower()
        if folded in seen:
            problems.append('recipient_classes: %s and %s differ only in case; Postfix folds keys to lower '
                            'case, so one would hide the other' % (seen[folded], key))
        seen.setdefault(folded, key)
    if default and default not in classes:
        problems.append('recipient_classes: default class %r is not defined in classes (a class referenced '
                        'but not defined)' % (default,))
    return problems


def apply(lists, classes, tables, table_actions, model):
    """(lists, tables, table_actions, table ref or None, problems) with the model added.

    ``model`` is {table, recipients, default}. The table lookup, then the
    default class, come last in the recipient list: after the relay guard and
    every hard rejection, so that greylisting never delays mail that would be
    refused anyway and a permissive class cannot skip those checks. Nothing is
    added when the model is empty.
    """
    recipients = model.get('recipients') or {}
    default = model.get('default') or ''
    table = model.get('table') if recipients else None
    problems = model_problems(recipients, default, classes or {})
    if table and table in tables:
        problems.append('recipient_classes: table %s is also one of the access tables; give it its own name' % table)
    if problems:
        return lists, tables, table_actions, None, problems
    hook = (['check_recipient_access %s' % table] if table else []) + ([default] if default else [])
    if not hook:
        return lists, tables, table_actions, None, []
    lists = dict(lists, **{RECIPIENT_LIST: list(lists.get(RECIPIENT_LIST, [])) + hook})
    if table:
        tables = list(tables) + [table]
        table_actions = dict(table_actions, **{table: sorted(set(action.strip() for action in recipients.values()))})
    return lists, tables, table_actions, table, []
