# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DKIM key pairs in the forms dkimpy-milter reads and DNS publishes (controller side).

Runs on the controller only (``cryptography`` comes with ansible-core there).

* RSA: the private key as unencrypted PEM (PKCS#1, "BEGIN RSA PRIVATE KEY",
  which dkimpy and OpenDKIM both read); the public key as the base64 DER
  SubjectPublicKeyInfo that goes into ``p=`` (RFC 6376 3.6.1).
* Ed25519 (RFC 8463): the private key as the base64 of its 32-byte seed,
  dkimpy-milter's KeyFileEd25519 format; ``p=`` is the base64 of the raw
  32-byte public key.
"""

from __future__ import annotations

import base64

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
except ImportError as error:    # ansible-core depends on it; a bare environment may still lack it
    CRYPTOGRAPHY_ERROR = error
else:
    CRYPTOGRAPHY_ERROR = None


def _need_cryptography():
    if CRYPTOGRAPHY_ERROR is not None:
        raise ValueError('DKIM keys need the Python library cryptography on the controller (%s)'
                         % CRYPTOGRAPHY_ERROR)


def generate(algorithm, bits=None):
    """(private key text, public key base64) of a new key pair."""
    _need_cryptography()
    if algorithm == 'rsa':
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()).decode('ascii')
        return private, _rsa_public(key.public_key())
    if algorithm == 'ed25519':
        key = ed25519.Ed25519PrivateKey.generate()
        seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
        return base64.b64encode(seed).decode('ascii'), _ed25519_public(key.public_key())
    raise ValueError('unknown DKIM algorithm %r' % (algorithm,))


def public_key_of(algorithm, private):
    """The ``p=`` value that belongs to ``private``; ValueError (without key material) if it is not one."""
    _need_cryptography()
    try:
        if algorithm == 'rsa':
            key = serialization.load_pem_private_key(private.encode('ascii'), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError
            return _rsa_public(key.public_key())
        if algorithm == 'ed25519':
            seed = base64.b64decode(private, validate=True)
            return _ed25519_public(ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key())
    except Exception:
        pass    # the message must not carry the library's text, which may quote the key
    raise ValueError('not a readable %s private key' % algorithm)


def rsa_bits(private):
    _need_cryptography()
    return serialization.load_pem_private_key(private.encode('ascii'), password=None).key_size


def _rsa_public(public):
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode('ascii')


def _ed25519_public(public):
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode('ascii')
