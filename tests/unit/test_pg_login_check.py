"""pg_login_check against a scripted PostgreSQL server on a socket pair (no host, no PostgreSQL).

The server side of SCRAM-SHA-256 (RFC 5802/7677) is written here from the
RFC, independently of the module, so a wrong proof fails the test.
"""
import base64
import hashlib
import hmac
import socket
import struct
import threading

import pytest

from ansible_collections.mailforge.postfix.plugins.modules.pg_login_check import LoginError, login

SALT, ITERATIONS = b'lab-salt-16bytes', 4096


def frame(kind, payload):
    return kind + struct.pack('!i', len(payload) + 4) + payload


def read_frame(sock, typed=True):
    head = sock.recv(5 if typed else 4, socket.MSG_WAITALL)
    kind, length = (head[:1], struct.unpack('!i', head[1:])[0]) if typed else (b'', struct.unpack('!i', head)[0])
    return kind, sock.recv(length - 4, socket.MSG_WAITALL)


def error(code, text):
    return frame(b'E', b'SFATAL\0C' + code.encode() + b'\0M' + text.encode() + b'\0\0')


def scram_server(sock, password, tamper=False):
    read_frame(sock, typed=False)                                        # startup message
    sock.sendall(frame(b'R', struct.pack('!i', 10) + b'SCRAM-SHA-256\0\0'))
    _kind, payload = read_frame(sock)
    client_first = payload[payload.index(b'\0') + 5:].decode()
    client_bare = client_first.split(',', 2)[2]
    nonce = dict(part.split('=', 1) for part in client_bare.split(','))['r'] + 'server'
    server_first = 'r=%s,s=%s,i=%d' % (nonce, base64.b64encode(SALT).decode(), ITERATIONS)
    sock.sendall(frame(b'R', struct.pack('!i', 11) + server_first.encode()))
    _kind, final = read_frame(sock)
    without_proof, proof = final.decode().rsplit(',p=', 1)
    auth = ','.join((client_bare, server_first, without_proof)).encode()
    salted = hashlib.pbkdf2_hmac('sha256', password.encode(), SALT, ITERATIONS)
    stored = hashlib.sha256(hmac.new(salted, b'Client Key', hashlib.sha256).digest()).digest()
    signature = hmac.new(stored, auth, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature))
    if hashlib.sha256(client_key).digest() != stored:
        sock.sendall(error('28P01', 'password authentication failed for user "sqlgrey"'))
        return
    server_key = hmac.new(salted, b'Server Key', hashlib.sha256).digest()
    verifier = hmac.new(server_key, auth, hashlib.sha256).digest()
    if tamper:
        sock.sendall(frame(b'R', struct.pack('!i', 12) + b'v=' + base64.b64encode(bytes(32))))
        return
    sock.sendall(frame(b'R', struct.pack('!i', 12) + b'v=' + base64.b64encode(verifier)))
    sock.sendall(frame(b'R', struct.pack('!i', 0)) + frame(b'S', b'server_version\x0015\0') + frame(b'Z', b'I'))
    read_frame(sock)                                                     # Terminate


def run(server, password):
    ours, theirs = socket.socketpair()
    thread = threading.Thread(target=server, args=(theirs,), daemon=True)
    thread.start()
    try:
        ours.settimeout(10)
        return login(ours, 'sqlgrey', password, 'sqlgrey')
    finally:
        ours.close()
        thread.join(10)
        theirs.close()


def test_scram_login_with_the_right_password():
    assert run(lambda sock: scram_server(sock, 'right-password-123'), 'right-password-123') == 'SCRAM-SHA-256'


def test_wrong_password_reports_the_sqlstate():
    with pytest.raises(LoginError) as caught:
        run(lambda sock: scram_server(sock, 'right-password-123'), 'wrong-password-123')
    assert caught.value.sqlstate == '28P01' and 'password authentication failed' in str(caught.value)


def test_a_server_that_cannot_prove_it_knows_the_password_is_refused():
    with pytest.raises(LoginError, match='could not prove'):
        run(lambda sock: scram_server(sock, 'pw-0123456789abcdef', tamper=True), 'pw-0123456789abcdef')


def clear_text_server(sock):
    read_frame(sock, typed=False)
    sock.sendall(frame(b'R', struct.pack('!i', 3)))


def test_clear_text_password_request_is_refused():
    with pytest.raises(LoginError, match='clear text'):
        run(clear_text_server, 'pw-0123456789abcdef')


def no_database_server(sock):
    read_frame(sock, typed=False)
    sock.sendall(error('3D000', 'database "sqlgrey" does not exist'))


def test_missing_database_reports_the_sqlstate():
    with pytest.raises(LoginError) as caught:
        run(no_database_server, 'pw-0123456789abcdef')
    assert caught.value.sqlstate == '3D000'
