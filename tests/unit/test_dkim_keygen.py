"""DKIM key pairs: the forms dkimpy-milter reads and DNS publishes, checked with the keys themselves."""
import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding

from ansible_collections.mailforge.postfix.plugins.plugin_utils.dkim_keygen import generate, public_key_of, rsa_bits


@pytest.mark.parametrize('bits', [2048, 3072])
def test_rsa_pair_signs_and_verifies_through_the_published_key(bits):
    private, public = generate('rsa', bits)
    assert private.startswith('-----BEGIN RSA PRIVATE KEY-----')
    assert rsa_bits(private) == bits
    assert public_key_of('rsa', private) == public
    key = serialization.load_pem_private_key(private.encode(), password=None)
    signature = key.sign(b'message', padding.PKCS1v15(), hashes.SHA256())
    published = serialization.load_der_public_key(base64.b64decode(public))
    published.verify(signature, b'message', padding.PKCS1v15(), hashes.SHA256())


def test_ed25519_pair_is_a_seed_and_a_raw_public_key():
    private, public = generate('ed25519')
    assert len(base64.b64decode(private)) == 32 and len(base64.b64decode(public)) == 32
    assert public_key_of('ed25519', private) == public
    key = ed25519.Ed25519PrivateKey.from_private_bytes(base64.b64decode(private))
    ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(public)).verify(key.sign(b'm'), b'm')


def test_every_pair_is_new():
    assert generate('ed25519') != generate('ed25519')


@pytest.mark.parametrize('algorithm, private', [
    ('rsa', 'not a key'), ('ed25519', 'not base64!'), ('ed25519', base64.b64encode(b'short').decode()),
    ('dsa', 'x'),
])
def test_unreadable_keys_are_refused_without_quoting_them(algorithm, private):
    with pytest.raises(ValueError) as caught:
        public_key_of(algorithm, private)
    assert private not in str(caught.value)


def test_unknown_algorithm_is_not_generated():
    with pytest.raises(ValueError):
        generate('dsa')
