# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain names, local parts and addresses as the tables of this collection accept them."""

from __future__ import annotations

import re

# RFC 5322 atext without the characters that Postfix treats as routing
# ("%", "!") or that break a table line or an alias list ("|", ",", quotes).
_ATOM = r"[A-Za-z0-9#$&*+/=?^_`{}~-]+"
LOCAL_PART = re.compile(r'^%s(?:\.%s)*$' % (_ATOM, _ATOM))
_LABEL = re.compile(r'^(?!-)[a-z0-9-]{1,63}(?<!-)$')


def is_domain(name):
    if not isinstance(name, str) or len(name) > 253 or '.' not in name:
        return False
    return all(_LABEL.match(label) for label in name.lower().split('.'))


def split_address(address):
    """(local part, domain) of ``local@domain`` or ``@domain``; None when it is neither."""
    if not isinstance(address, str) or address.count('@') != 1:
        return None
    local, domain = address.split('@')
    if (local and not LOCAL_PART.match(local)) or not is_domain(domain):
        return None
    return local, domain.lower()
