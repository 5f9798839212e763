# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: greylist_db_rules
author: mailforge team (!UNKNOWN)
version_added: 0.2.0
short_description: The rules of the greylisting database's identifiers and password, shared by its roles
description:
  - Returns the regular expression, for Jinja's C(match) test, that a value must match. The greylist_db role
    (the PostgreSQL side) and the greylisting role (sqlgrey on the MX hosts) check the database name, the
    role name and the password with the same rules (through the C(role_input) lookup), so that a value is
    refused by both or by neither; this lookup gives them to checks of your own.
  - C(identifier) - a lower-case PostgreSQL identifier that needs no quoting.
  - C(password) - at least 16 letters, digits or punctuation other than quotes, backslash, C(#), C($) and
    backquote, which sqlgrey's configuration file or psql would mangle.
options:
  _terms:
    description: The rule, C(identifier) or C(password).
    required: true
"""

EXAMPLES = r"""
- name: Check the database settings
  ansible.builtin.assert:
    that:
      - greylist_db_user is match(lookup('mailforge.postfix.greylist_db_rules', 'identifier'))
      - greylist_db_password is match(lookup('mailforge.postfix.greylist_db_rules', 'password'))
"""

RETURN = r"""
_raw:
  description: One regular expression per term.
  type: list
  elements: str
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mailforge.postfix.plugins.module_utils.greylist_db import RULES


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        unknown = [str(term) for term in terms if term not in RULES]
        if unknown or not terms:
            raise AnsibleError('greylist_db_rules: the terms are %s, got %s'
                               % (' and '.join(sorted(RULES)), ', '.join(unknown) or 'none'))
        return [RULES[term] for term in terms]
