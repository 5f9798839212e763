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

import re

RECIPIENT_LIST = 'smtpd_recipient_restrictions'

_LABEL = r'[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
_DOMAIN = re.compile(r'^(?:%s\.)*%s$' % (_LABEL, _LABEL))
_LOCAL_PART = re.compile(r'^[A-Za-z0-9!#$%&\'*+/=?^_`{|}~.-]+$')


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
        return None if _DOMAIN.match(key) else 'is not a domain name'
    if not local:
        return ('is a bare @domain, which access(5) does not look up; use the domain itself'
                if domain else 'is not a recipient address, user@ or domain')
    if not _LOCAL_PART.match(local) or local.startswith('.') or local.endswith('.') or '..' in local:
        return 'has an invalid local part'
    if domain and not _DOMAIN.match(domain):
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


def hook_items(table_ref, recipients, default):
    """The recipient-list items that apply the model: the table lookup, then the default class."""
    items = []
    if recipients:
        items.append('check_recipient_access %s' % table_ref)
    if default:
        items.append(default)
    return items


def with_hook(items, hook):
    """``items`` then ``hook``.

    Classes come last, after the relay guard and every hard rejection of the
    list, so that greylisting never delays mail that would be refused anyway
    and a permissive class cannot skip those checks.
    """
    return list(items) + list(hook)


def apply(lists, classes, model):
    """(lists with the hook in the recipient list, table ref, table actions, problems).

    ``model`` is {table, recipients, default}. Nothing is added when the model
    is empty.
    """
    recipients = model.get('recipients') or {}
    default = model.get('default') or ''
    problems = model_problems(recipients, default, classes or {})
    if problems:
        return lists, None, {}, problems
    hook = hook_items(model.get('table'), recipients, default)
    if not hook:
        return lists, None, {}, []
    lists = dict(lists)
    lists[RECIPIENT_LIST] = with_hook(lists.get(RECIPIENT_LIST, []), hook)
    actions = sorted(set(action.strip() for action in recipients.values()))
    table_actions = {model['table']: actions} if recipients else {}
    return lists, model['table'] if recipients else None, table_actions, []
