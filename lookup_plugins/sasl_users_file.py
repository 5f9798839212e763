# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: sasl_users_file
author: mailforge team (!UNKNOWN)
version_added: 0.1.0
short_description: Read a SASL users file, vault-encrypted or not, for the sasldb_users module
description:
  - Reads the file (decrypting it when it is vault-encrypted), checks its shape and returns a
    dictionary with C(users_json), the users as one JSON string for the C(users_json) option of
    M(mailforge.postfix.sasldb_users), C(exclusive) and C(count).
  - The file is a YAML mapping with C(sasl_users), a list of C({name, password}) items (optionally
    C(realm) and C(state)), and optionally C(sasl_users_exclusive). Any other key is refused, so a
    misspelt C(sasl_users_exclusive) cannot silently keep users that should be revoked.
  - It exists for speed. ansible-core 2.19 tags every value it parses from YAML; for 10,000 users
    that costs seconds, which a plain YAML parse and one JSON string avoid.
  - A relative path is looked up like other files of the playbook, then from the current directory.
options:
  _terms:
    description: Path of the users file.
    required: true
"""

EXAMPLES = r"""
- name: Read the users file
  ansible.builtin.set_fact:
    users_file: "{{ lookup('mailforge.postfix.sasl_users_file', '/srv/secrets/sasl_users.vault.yml') }}"
  no_log: true

- name: Roll them out
  mailforge.postfix.sasldb_users:
    users_json: "{{ users_file.users_json }}"
    exclusive: "{{ users_file.exclusive }}"
"""

RETURN = r"""
_raw:
  description: One dictionary per file, with C(users_json) (str), C(exclusive) (bool) and C(count) (int).
  type: list
  elements: dict
"""

import json
import os

import yaml

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

KEYS = ('sasl_users', 'sasl_users_exclusive')
SafeLoader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)


def parse_users_file(text, where):
    """(users, exclusive) of a users file's text; ValueError naming ``where`` otherwise.

    Messages never quote values: they hold passwords.
    """
    try:
        data = yaml.load(text, Loader=SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, 'problem_mark', None)
        position = ' (line %d, column %d)' % (mark.line + 1, mark.column + 1) if mark else ''
        raise ValueError('%s is not valid YAML%s' % (where, position))
    if not isinstance(data, dict) or 'sasl_users' not in data:
        raise ValueError('%s must be a mapping with sasl_users, a list of {name, password} items' % where)
    unknown = sorted(str(key) for key in data if key not in KEYS)
    if unknown:
        raise ValueError('%s: unknown key(s) %s; only %s are read' % (where, ', '.join(unknown), ', '.join(KEYS)))
    users, exclusive = data['sasl_users'], data.get('sasl_users_exclusive', False)
    if not isinstance(users, list):
        raise ValueError('%s: sasl_users must be a list of {name, password} items' % where)
    if not isinstance(exclusive, bool):
        raise ValueError('%s: sasl_users_exclusive must be true or false' % where)
    return users, exclusive


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        results = []
        for term in terms:
            path = term if os.path.isabs(term) else (
                self.find_file_in_search_path(variables, 'files', term, ignore_missing=True)
                or os.path.abspath(term))
            try:
                text = self._loader.get_text_file_contents(path)
                users, exclusive = parse_users_file(str(text), path)
            except ValueError as error:
                raise AnsibleError(str(error))
            results.append(dict(users_json=json.dumps(users), exclusive=exclusive, count=len(users)))
        return results
