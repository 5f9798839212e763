#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_login_check
short_description: Check that a PostgreSQL server accepts a login, without any client installed
description:
  - Opens a TCP connection from the managed host to a PostgreSQL server and logs in with the given
    user, password and database, speaking the PostgreSQL protocol (version 3) with Python's standard
    library only, so nothing (C(psql), C(psycopg2)) has to be installed first.
  - Proves in one step that the server is reachable from the host, that C(pg_hba.conf) lets the host in,
    that the password is right and that the database exists. Nothing is changed, on either side.
  - Supports SCRAM-SHA-256 (without channel binding) and MD5 password authentication. A server that asks
    for the password in clear text is refused, so the password never crosses the network unprotected.
  - The connection is not encrypted; SCRAM never sends the password itself.
version_added: 0.1.0
author: mailforge team (!UNKNOWN)
options:
  host:
    description: Address or name of the PostgreSQL server.
    type: str
    required: true
  port:
    description: TCP port of the server.
    type: int
    default: 5432
  user:
    description: Role to log in as.
    type: str
    required: true
  password:
    description: Password of O(user).
    type: str
    required: true
  database:
    description: Database to connect to.
    type: str
    required: true
  timeout:
    description: Seconds allowed for the connection and for each answer of the server.
    type: float
    default: 5
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - On failure, RV(sqlstate) carries the server's SQLSTATE when it sent one, for example C(28P01) (wrong
    password), C(28000) (no C(pg_hba.conf) entry for this host, user and database) or C(3D000) (no such
    database).
"""

EXAMPLES = r"""
- name: Check the greylisting database login before installing sqlgrey
  mailforge.postfix.pg_login_check:
    host: 198.18.0.30
    user: sqlgrey
    password: "{{ greylisting_sql_password }}"
    database: sqlgrey
  no_log: true
"""

RETURN = r"""
method:
  description: The authentication method the server asked for.
  returned: success
  type: str
  sample: SCRAM-SHA-256
sqlstate:
  description: SQLSTATE of the server's error.
  returned: failure, when the server sent an error
  type: str
  sample: 28P01
"""

import base64
import hashlib
import hmac
import os
import socket
import struct

from ansible.module_utils.basic import AnsibleModule

PROTOCOL_3 = 196608


class LoginError(Exception):
    def __init__(self, message, sqlstate=None):
        super().__init__(message)
        self.sqlstate = sqlstate


def _recv_exact(sock, count):
    data = b''
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise LoginError('the server closed the connection during the login')
        data += chunk
    return data


def read_message(sock):
    header = _recv_exact(sock, 5)
    kind = header[:1]
    (length,) = struct.unpack('!i', header[1:])
    if length < 4 or length > 1 << 20:
        raise LoginError('the server sent a message of impossible length %d: not PostgreSQL?' % length)
    return kind, _recv_exact(sock, length - 4)


def message(kind, payload):
    return kind + struct.pack('!i', len(payload) + 4) + payload


def parse_error(payload):
    fields = {}
    for field in payload.split(b'\0'):
        if field:
            fields[field[:1].decode('ascii', 'replace')] = field[1:].decode('utf-8', 'replace')
    return LoginError(
        '%s: %s' % (fields.get('S', 'ERROR'), fields.get('M', 'login refused')),
        fields.get('C'),
    )


def scram_exchange(sock, mechanisms, password, nonce=None):
    if 'SCRAM-SHA-256' not in mechanisms:
        raise LoginError('the server offers only %s; SCRAM-SHA-256 is needed' % ', '.join(mechanisms))
    nonce = nonce or base64.b64encode(os.urandom(18)).decode('ascii')
    # The user name is taken from the startup message; PostgreSQL ignores the one in SCRAM.
    client_first_bare = 'n=,r=' + nonce
    first = ('n,,' + client_first_bare).encode('ascii')
    sock.sendall(message(b'p', b'SCRAM-SHA-256\0' + struct.pack('!i', len(first)) + first))

    kind, payload = read_message(sock)
    if kind == b'E':
        raise parse_error(payload)
    if kind != b'R' or struct.unpack('!i', payload[:4])[0] != 11:
        raise LoginError('unexpected answer to the SCRAM first message')
    server_first = payload[4:].decode('ascii')
    attrs = dict(item.split('=', 1) for item in server_first.split(','))
    if not attrs.get('r', '').startswith(nonce):
        raise LoginError('the server changed the SCRAM nonce: refusing')
    salt = base64.b64decode(attrs['s'])
    iterations = int(attrs['i'])

    salted = hashlib.pbkdf2_hmac('sha256', password.encode('utf-8'), salt, iterations)
    client_key = hmac.new(salted, b'Client Key', hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_without_proof = 'c=biws,r=' + attrs['r']
    auth_message = ','.join((client_first_bare, server_first, final_without_proof)).encode('ascii')
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = final_without_proof + ',p=' + base64.b64encode(proof).decode('ascii')
    sock.sendall(message(b'p', final.encode('ascii')))

    kind, payload = read_message(sock)
    if kind == b'E':
        raise parse_error(payload)
    if kind != b'R' or struct.unpack('!i', payload[:4])[0] != 12:
        raise LoginError('unexpected answer to the SCRAM final message')
    server_key = hmac.new(salted, b'Server Key', hashlib.sha256).digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest()).decode('ascii')
    if payload[4:].decode('ascii') != 'v=' + expected:
        raise LoginError('the server could not prove that it knows the password: refusing')


def login(sock, user, password, database):
    """Log in on a connected socket; returns the authentication method used."""
    params = b''.join(
        key + b'\0' + value.encode('utf-8') + b'\0'
        for key, value in ((b'user', user), (b'database', database), (b'application_name', 'mailforge-check'))
    )
    startup = struct.pack('!i', PROTOCOL_3) + params + b'\0'
    sock.sendall(struct.pack('!i', len(startup) + 4) + startup)
    method = 'trust'
    while True:
        kind, payload = read_message(sock)
        if kind == b'E':
            raise parse_error(payload)
        if kind == b'R':
            (code,) = struct.unpack('!i', payload[:4])
            if code == 0:
                continue
            if code == 10:
                mechanisms = [m.decode('ascii') for m in payload[4:].split(b'\0') if m]
                scram_exchange(sock, mechanisms, password)
                method = 'SCRAM-SHA-256'
            elif code == 5:
                inner = hashlib.md5((password + user).encode('utf-8')).hexdigest().encode('ascii')
                outer = 'md5' + hashlib.md5(inner + payload[4:8]).hexdigest()
                sock.sendall(message(b'p', outer.encode('ascii') + b'\0'))
                method = 'md5'
            elif code == 3:
                raise LoginError('the server asks for the password in clear text: refusing to send it')
            else:
                raise LoginError('unsupported authentication request %d' % code)
        elif kind == b'Z':
            sock.sendall(message(b'X', b''))
            return method
        # ParameterStatus (S), BackendKeyData (K) and NoticeResponse (N) need no answer.


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str', required=True),
            port=dict(type='int', default=5432),
            user=dict(type='str', required=True),
            password=dict(type='str', required=True, no_log=True),
            database=dict(type='str', required=True),
            timeout=dict(type='float', default=5),
        ),
        supports_check_mode=True,
    )
    p = module.params
    where = '%s@%s:%d/%s' % (p['user'], p['host'], p['port'], p['database'])
    try:
        with socket.create_connection((p['host'], p['port']), timeout=p['timeout']) as sock:
            method = login(sock, p['user'], p['password'], p['database'])
    except LoginError as err:
        module.fail_json(msg='PostgreSQL login %s failed: %s' % (where, err), sqlstate=err.sqlstate)
    except OSError as err:
        module.fail_json(msg='PostgreSQL server %s:%d unreachable: %s' % (p['host'], p['port'], err))
    module.exit_json(changed=False, method=method)


if __name__ == '__main__':
    main()
