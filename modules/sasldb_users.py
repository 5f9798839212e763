#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sasldb_users
short_description: Manage many users of a Cyrus SASL sasldb2 database in one call
description:
  - Sets the passwords of the listed users in a Cyrus SASL C(sasldb2) database, the one Postfix's
    C(smtpd) checks SMTP AUTH against when C(smtpd.conf) sets C(pwcheck_method) to C(auxprop) and
    C(auxprop_plugin) to C(sasldb).
  - The database is read and written directly with Python's C(dbm.ndbm) on Berkeley DB, in the Hash
    format C(saslpasswd2) writes; C(saslpasswd2) is never run, so ten thousand users take well under a second.
  - Input is checked, and the existing database read completely, before anything is written. When a
    record changes, the whole new database is built in a private directory next to O(path), synced,
    given its owner, group and mode, and renamed over O(path); readers see the old or the new database,
    and a failure half way leaves the old one as it was. When nothing changes the file is not rewritten.
  - A user whose stored password already matches is left alone. Only the C(userPassword) record is written;
    other records of a user (for example C(cmusaslsecretOTP)) are kept, and all of them go when the user
    is removed.
  - An existing file that is not a Berkeley DB hash database, or that cannot be read completely, is
    refused with an error naming it, and left byte for byte as it was.
version_added: 0.1.0
author: mailforge team (!UNKNOWN)
options:
  path:
    description:
      - The database file. Debian's C(smtpd) runs chrooted in C(/var/spool/postfix), so the default is the
        database inside the chroot. Its directory is created (mode C(0755)) when missing.
      - Must not be a symlink; give the file itself.
    type: path
    default: /var/spool/postfix/etc/sasldb2
  link:
    description:
      - A symlink created, or corrected, to point at O(path), so that C(saslpasswd2) and
        C(sasldblistusers2) outside the chroot see the same database. C(null) to leave it alone.
      - An existing file that is not a symlink is replaced only when it is a database without users (what
        C(sasl2-bin) installs); one with users is refused, so that no user is lost.
    type: path
    default: /etc/sasldb2
  users:
    description:
      - The users to manage. Users of the database that are not listed are kept, unless O(exclusive).
      - A user is identified by name and realm. Both are compared byte for byte, as SASL does, so
        user names are case-sensitive (C(Alice) and C(alice) are two users); listing a name twice with
        realms that differ only in case is refused, as one of them could never log in.
      - Give O(users) or O(users_json).
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - User name without realm; ASCII letters, digits, C(.), C(_), C(-) and C(+) only. C(@), C(:),
            whitespace and control characters would be misread by SASL or Postfix, and SASL does not
            normalise Unicode, so a non-ASCII name might never match what a client sends.
        type: str
        required: true
      realm:
        description:
          - Realm of the user, a domain name such as C(mail.example.org). Defaults to O(realm).
        type: str
      password:
        description: Plaintext password, stored as UTF-8. Required for O(users[].state=present); not empty, no NUL.
        type: str
      state:
        description: Whether the user should exist.
        type: str
        choices: [present, absent]
        default: present
  users_json:
    description:
      - The same list as O(users), as one JSON string, checked the same way.
      - For rollouts of thousands of users, such as C(playbooks/sasl_users.yml) does; ansible-core 2.19
        passes one string between its processes much faster than thousands of dicts.
    type: str
  exclusive:
    description:
      - Remove every user of the database that is not listed with O(users[].state=present), in every realm.
        With O(users) empty, this removes all users.
    type: bool
    default: false
  realm:
    description:
      - Realm of the users that do not give one. It must be the realm C(smtpd) asks for.
      - Defaults to the target's C(smtpd_sasl_local_domain), or to C(myhostname) when that is empty (as Postfix
        does), read with C(postconf -xh) when a user has no realm.
    type: str
  owner:
    description: Owner of the database.
    type: str
    default: root
  group:
    description: Group of the database; C(sasl) lets members read it without root.
    type: str
    default: sasl
  mode:
    description: Octal mode of the database, as a string such as C("0640").
    type: raw
    default: '0640'
  config_dir:
    description: Postfix configuration directory that C(postconf) reads (C(-c)) to find the default O(realm).
    type: path
    default: /etc/postfix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The database is read and the changes reported; nothing is written.
  diff_mode:
    support: full
    details: The users (C(user@realm), one a line) before and after; never passwords.
  platform:
    platforms: posix
notes:
  - Requires Python's C(dbm.ndbm) built on Berkeley DB on the target, as Debian's C(python3) is.
  - Passwords are marked C(no_log). Reports and diffs name users only.
  - C(saslpasswd2) does not lock the database; do not run it at the same time as this module.
seealso:
  - module: mailforge.postfix.postconf
"""

EXAMPLES = r"""
- name: SMTP AUTH users
  mailforge.postfix.sasldb_users:
    realm: "{{ postfix_myhostname }}"
    users:
      - name: alice
        password: "{{ vault_alice_password }}"
      - name: scanner
        realm: printers.example.org
        password: "{{ vault_scanner_password }}"
      - name: bob
        state: absent

- name: Exactly these users on every relay, all others revoked
  mailforge.postfix.sasldb_users:
    exclusive: true
    users: "{{ relay_users }}"
  register: sasl_users

- name: Show who lost access
  ansible.builtin.debug:
    var: sasl_users.removed_users
"""

RETURN = r"""
realm:
  description: Realm given to users without one; null when none was needed or given.
  returned: always
  type: str
  sample: mail.example.org
added_users:
  description: Users new in the database (in check mode, that would be), as C(user@realm), sorted.
  returned: always
  type: list
  elements: str
  sample: [alice@mail.example.org]
changed_users:
  description: Users whose password changed, sorted.
  returned: always
  type: list
  elements: str
  sample: []
removed_users:
  description: Users removed with all their records, sorted.
  returned: always
  type: list
  elements: str
  sample: [mallory@mail.example.org]
counts:
  description: Number of users added, changed, removed and listed but unchanged, and of all users afterwards.
  returned: always
  type: dict
  sample: {added: 1, changed: 0, removed: 1, unchanged: 41, total: 42}
"""

import json
import os
import sys
import tempfile
from contextlib import contextmanager

try:
    from dbm import ndbm
except ImportError:  # Python built without _dbm
    ndbm = None

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils import sasldb
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf, PostfixCommandError
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import (
    attributes_differ, parse_mode, resolve_gid, resolve_uid, scratch_directory, set_attributes, sync_directory)


def converge(params, check_mode=False, postconf=None):
    """Bring the database at ``params['path']`` to the listed users; ``postconf`` finds the default realm."""
    path, link = params['path'], params['link'] or None
    uid, gid, mode = resolve_uid(params['owner']), resolve_gid(params['group']), parse_mode(params['mode'])
    realm = params['realm']
    if realm is None and sasldb.needs_default_realm(params['users']):
        realm = _default_realm(postconf)
    wanted = sasldb.validate_users(params['users'], realm)
    _require_berkeley_db()
    _check_places(path, link)
    existing = read_records(path)
    records, added, changed, removed = sasldb.plan(existing, wanted, params['exclusive'])

    exists = os.path.exists(path)
    # A file of zero bytes reads as no users but is no database yet.
    rewrite = not exists or os.path.getsize(path) == 0 or records != existing
    wrong_attributes = exists and not rewrite and attributes_differ(path, uid, gid, mode)
    target = os.path.abspath(path)
    relink = link is not None and _link_target(link) != target
    listed = sum(1 for _user, _realm, _password, state in wanted if state == 'present')
    result = dict(
        changed=rewrite or wrong_attributes or relink,
        realm=realm,
        added_users=added,
        changed_users=changed,
        removed_users=removed,
        counts=dict(added=len(added), changed=len(changed), removed=len(removed),
                    unchanged=listed - len(added) - len(changed), total=len(sasldb.users_of(records))),
        diff=dict(before=sasldb.user_list(existing), after=sasldb.user_list(records),
                  before_header=path, after_header=path),
    )
    if check_mode:
        return result
    if rewrite:
        _install(path, records, (uid, gid, mode))
    elif wrong_attributes:
        set_attributes(path, uid, gid, mode)
    if relink:
        _install_link(link, target)
    return result


def _default_realm(postconf):
    if postconf is None:
        raise ValueError('some users have no realm and postconf was not found to read '
                         'smtpd_sasl_local_domain; set the option realm')
    return postconf.value('smtpd_sasl_local_domain', expand=True) or postconf.value('myhostname', expand=True)


def _require_berkeley_db():
    if ndbm is None or not getattr(ndbm, 'library', '').startswith('Berkeley DB'):
        # A gdbm-based ndbm would write .dir/.pag files that SASL cannot read.
        raise ValueError('Python on the target has no dbm.ndbm on Berkeley DB (found %s); install Debian\'s python3'
                         % (getattr(ndbm, 'library', None) or 'none'))


def _check_places(path, link):
    if os.path.islink(path):
        raise ValueError('%s is a symlink; give the database file itself as path' % path)
    parent = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    if not os.path.isdir(parent):
        raise ValueError('%s does not exist, so the directory of %s cannot be created' % (parent, path))
    if link is None:
        return
    if os.path.abspath(link) == os.path.abspath(path):
        raise ValueError('link and path are both %s' % path)
    if os.path.lexists(link) and not os.path.islink(link):
        # sasl2-bin's postinst leaves an empty database there: the symlink may
        # replace that, as the Handbook's "ln -sf" does, but never a user.
        users = sasldb.users_of(read_records(link)) if os.path.isfile(link) else ['?']
        if users:
            raise ValueError('%s is not a symlink and holds %d user(s); move them into %s or remove it, '
                             'then run again' % (link, len(users), path))
    if not os.path.isdir(os.path.dirname(os.path.abspath(link))):
        raise ValueError('the directory of link %s does not exist' % link)


def read_records(path):
    """Every record of the database at ``path``; {} when there is none.

    A file of zero bytes (what ``touch`` leaves) holds no users; ``converge`` replaces it
    with a real database.
    """
    try:
        with open(path, 'rb') as handle:
            header = handle.read(sasldb.HEADER_SIZE)
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ValueError('%s cannot be read (%s); nothing was changed' % (path, error.strerror))
    if size == 0:
        return {}
    try:
        sasldb.parse_header(header)
        records, complaint = _read_with_ndbm(path)
        problem = complaint or sasldb.read_problem(header, size, len(records))
    except ValueError as error:
        problem = str(error)
    if problem:
        raise ValueError('%s is not a usable sasldb2 (%s); nothing was changed' % (path, problem))
    return records


def _read_with_ndbm(path):
    """(records, None), or (None, what Berkeley DB said) when it failed or complained."""
    # ndbm appends ".db" to the name it opens. A symlink NAME.db -> path in a
    # private temporary directory lets it read the live file in place and
    # read-only: nothing is created next to the live file (check mode, or a
    # crash, leaves no trace there), and unlike a copy no second set of the
    # passwords is ever written to disk. A hard link would add a name in the
    # live directory and needs the same file system.
    with scratch_directory() as scratch, tempfile.TemporaryFile() as sink:
        alias = os.path.join(scratch, 'sasldb2')
        os.symlink(os.path.abspath(path), alias + '.db')
        records, failure = None, None
        with _stderr_into(sink):
            try:
                database = ndbm.open(alias, 'r')
                try:
                    records = {key: database[key] for key in database.keys()}
                finally:
                    database.close()
            except (ndbm.error, KeyError) as error:
                failure = error
        sink.seek(0)
        said = sink.read().decode('utf-8', 'replace').replace(alias + '.db', path).split('\n')
    said = '; '.join(line.strip() for line in said if line.strip())
    if said or failure is not None:
        return None, 'Berkeley DB: %s' % (said or failure)
    return records, None


@contextmanager
def _stderr_into(sink):
    """Send file descriptor 2 into ``sink`` for a while.

    Berkeley DB reports damaged pages only on stderr and then goes on as if
    they were empty; the dbm module does not pass that on, so the messages
    are the only sign that records were skipped.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _install(path, records, attributes):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.mkdir(directory, 0o755)
    # The private directory is mode 0700, so nobody can open the new file
    # before it has its final owner and mode.
    with scratch_directory(directory) as scratch:
        stem = os.path.join(scratch, 'sasldb2')
        database = ndbm.open(stem, 'n', 0o600)
        try:
            for key, value in records.items():
                database[key] = value
        finally:
            database.close()
        staged = stem + '.db'
        set_attributes(staged, *attributes)
        with open(staged, 'rb') as handle:
            os.fsync(handle.fileno())
        os.rename(staged, path)
    sync_directory(directory)


def _link_target(link):
    return os.readlink(link) if os.path.islink(link) else None


def _install_link(link, target):
    directory = os.path.dirname(os.path.abspath(link))
    with scratch_directory(directory) as scratch:
        staged = os.path.join(scratch, 'link')
        os.symlink(target, staged)
        os.rename(staged, link)
    sync_directory(directory)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/var/spool/postfix/etc/sasldb2'),
            link=dict(type='path', default='/etc/sasldb2'),
            # no_log on the whole list keeps thousands of users out of the
            # "Invoked with" line that Ansible writes to the target's journal.
            users=dict(type='list', elements='dict', no_log=True, options=dict(
                name=dict(type='str', required=True),
                realm=dict(type='str'),
                password=dict(type='str', no_log=True),
                state=dict(type='str', choices=list(sasldb.STATES), default='present'),
            )),
            users_json=dict(type='str', no_log=True),
            exclusive=dict(type='bool', default=False),
            realm=dict(type='str'),
            owner=dict(type='str', default='root'),
            group=dict(type='str', default='sasl'),
            mode=dict(type='raw', default='0640'),
            config_dir=dict(type='path', default='/etc/postfix'),
        ),
        required_one_of=[('users', 'users_json')],
        mutually_exclusive=[('users', 'users_json')],
        supports_check_mode=True,
    )
    params = dict(module.params)
    try:
        if params['users_json'] is not None:
            params['users'] = _users_from_json(params['users_json'])
    except ValueError as error:
        _finish(module, set(), module.fail_json, msg=str(error))
    passwords = {user['password'] for user in params['users']
                 if isinstance(user, dict) and isinstance(user.get('password'), str)}
    binary = module.get_bin_path('postconf')
    postconf = Postconf(module.run_command, binary, params['config_dir']) if binary else None
    try:
        result = converge(params, module.check_mode, postconf)
    except (ValueError, OSError, PostfixCommandError) as error:
        _finish(module, passwords, module.fail_json, msg=str(error))
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    _finish(module, passwords, module.exit_json, **result)


def _users_from_json(text):
    # The error never quotes the text: it holds passwords.
    try:
        users = json.loads(text)
    except ValueError as error:
        raise ValueError('users_json is not valid JSON (line %d, column %d)'
                         % (getattr(error, 'lineno', 0), getattr(error, 'colno', 0)))
    if not isinstance(users, list):
        raise ValueError('users_json must be a JSON list of {name, realm, password, state} objects')
    return users


def _finish(module, passwords, leave, **result):
    """Return ``result`` with every password that occurs in it masked, quickly.

    Ansible would mask each of its no_log values in each returned string: with
    10,000 users that is 10^8 replace calls (most of a minute). The passwords
    that really occur are found in one linear pass instead, and only those are
    left for Ansible to mask. The arguments are returned without the users.
    """
    hidden = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    result['invocation'] = dict(module_args=dict(module.params, users=hidden if module.params['users'] else None,
                                                 users_json=hidden if module.params['users_json'] else None))
    module.no_log_values = sasldb.secrets_in(sasldb.strings_of(result), passwords)
    leave(**result)


if __name__ == '__main__':
    main()
