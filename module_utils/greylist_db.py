# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The greylisting database's naming and password rules, one definition for both of its sides.

The greylist_db role creates the PostgreSQL role and database and sets the
password; the greylisting role writes the same three into sqlgrey.conf on every
MX host. A value one side accepts and the other refuses would fail only when
sqlgrey logs in, so both roles check with these patterns (lookup
mailforge.postfix.greylist_db_rules), in Python's re syntax as Jinja's match test reads it.
"""

from __future__ import annotations

RULES = {
    # A PostgreSQL identifier that sqlgrey and the greylist_db role can use unquoted.
    'identifier': r'^[a-z_][a-z0-9_]{0,62}$',
    # sqlgrey's configuration reader cuts a line at "#" and strips spaces, and the
    # greylist_db role hands the password to psql inside single quotes: no quotes,
    # backslash, "#", "$", backquote or space; 16 characters at least.
    'password': r'^[A-Za-z0-9!%&()*+,./:;<=>?@^_{|}~-]{16,}$',
}
