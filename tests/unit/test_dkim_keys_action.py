"""The DKIM key file on the controller: vault-encrypted with a throwaway password, never in clear text."""
import datetime
import os
import stat

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.mailforge.postfix.plugins.action.dkim_keys import apply_step
from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_keyset import KeySetError
from ansible_collections.mailforge.postfix.plugins.plugin_utils import dkim_keyfile

SECRETS = [('default', VaultSecret(b'throwaway-test-password'))]
OTHER = [('default', VaultSecret(b'some-other-password'))]
FLEET = {'falcot.test'}
DAY = datetime.date(2026, 11, 26)
ARGS = dict(step='ensure', domains={'falcot.test': [{'selector': 'r1', 'algorithm': 'rsa', 'bits': 2048},
                                                   {'selector': 'e1', 'algorithm': 'ed25519'}]},
            algorithm='rsa', bits=None, grace_days=7, domain=None, selector=None)


def refused(call, *args):
    with pytest.raises(KeySetError) as caught:
        call(*args)
    assert 'PRIVATE KEY' not in str(caught.value)
    return str(caught.value)


def test_ensure_writes_an_encrypted_0600_file_and_reads_it_back(tmp_path):
    path = str(tmp_path / 'keys' / 'dkim_keys.vault.yml')
    keys, changes = apply_step(dkim_keyfile.read(path, SECRETS), ARGS, FLEET, DAY)
    assert len(changes) == 2
    dkim_keyfile.write(path, keys, SECRETS)
    raw = open(path, 'rb').read()
    assert raw.startswith(b'$ANSIBLE_VAULT;1.1;AES256')
    assert b'PRIVATE' not in raw and keys['falcot.test']['e1']['private_key'].encode() not in raw
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path / 'keys') == ['dkim_keys.vault.yml'], 'no temporary file is left'
    again = dkim_keyfile.read(path, SECRETS)
    assert again == keys
    assert apply_step(again, ARGS, FLEET, DAY) == (keys, [])


def test_rotation_through_the_file(tmp_path):
    path = str(tmp_path / 'k.yml')
    keys, _ = apply_step({}, ARGS, FLEET, DAY)
    for step, selector in (('switch', 'r1'), ('publish', 'r2'), ('switch', 'r2')):
        keys, changes = apply_step(keys, dict(ARGS, step=step, domain='falcot.test', selector=selector), FLEET, DAY)
        assert changes
        dkim_keyfile.write(path, keys, SECRETS)
        keys = dkim_keyfile.read(path, SECRETS)
    assert {name: entry['state'] for name, entry in keys['falcot.test'].items()} == \
        {'r1': 'published', 'r2': 'signing', 'e1': 'published'}
    retire = dict(ARGS, step='retire', domain='falcot.test', selector='r1')
    assert 'retire it on or after 2026-12-03' in refused(apply_step, keys, retire, FLEET, DAY)
    keys, changes = apply_step(keys, retire, FLEET, DAY + datetime.timedelta(days=7))
    assert 'private_key' not in keys['falcot.test']['r1']


@pytest.mark.parametrize('args, problem', [
    (dict(ARGS, step='switch'), 'step switch needs domain and selector'),
    (dict(ARGS, step='publish', domain='falcot.test', selector='r3', bits=1024), 'RSA key size 1024 is below 2048'),
    (dict(ARGS, step='publish', domain='falcot.test', selector='r3', algorithm='dsa'), "unknown algorithm 'dsa'"),
    (dict(ARGS, step='publish', domain='example.org', selector='r3'), "'example.org' is not a domain the fleet"),
    (dict(ARGS, step='publish', domain='falcot.test', selector='r_3'), "selector 'r_3' is not a DNS label"),
])
def test_steps_refuse_bad_input(args, problem):
    assert problem in refused(apply_step, {}, args, FLEET, DAY)


def test_a_clear_text_key_file_is_refused(tmp_path):
    path = tmp_path / 'k.yml'
    path.write_text('dkim_keys: {}\n')
    assert 'is not vault-encrypted' in refused(dkim_keyfile.read, str(path), SECRETS)


def test_a_wrong_or_missing_vault_password_is_named(tmp_path):
    path = str(tmp_path / 'k.yml')
    dkim_keyfile.write(path, {}, SECRETS)
    assert 'none of the vault passwords given decrypts it' in refused(dkim_keyfile.read, path, OTHER)
    assert 'no vault password was given' in refused(dkim_keyfile.read, path, [])
    assert 'no vault password to encrypt' in refused(dkim_keyfile.write, path, {}, [])


@pytest.mark.parametrize('change, problem', [
    (lambda keys: keys['falcot.test']['r1'].update(public_key=keys['falcot.test']['e1']['public_key']),
     'selector r1: the public key does not belong to the private key'),
    (lambda keys: keys['falcot.test']['r1'].update(bits=4096), 'selector r1: bits does not match the key'),
    (lambda keys: keys['falcot.test']['e1'].update(private_key='garbage'),
     'selector e1: not a readable ed25519 private key'),
    (lambda keys: keys['falcot.test']['r1'].update(state='signing') or keys['falcot.test']['e1'].update(
        state='signing', algorithm='rsa'), 'both sign with rsa'),
])
def test_a_damaged_file_is_refused(tmp_path, change, problem):
    keys, _ = apply_step({}, ARGS, FLEET, DAY)
    change(keys)
    path = str(tmp_path / 'k.yml')
    open(path, 'wb').write(VaultLib(SECRETS).encrypt(dkim_keyfile.dump(keys)))
    assert problem in refused(dkim_keyfile.read, path, SECRETS)


@pytest.mark.parametrize('text, problem', [
    ('dkim_keys: [\n', 'is not valid YAML'),
    ('keys: {}\n', 'must hold one mapping, dkim_keys'),
])
def test_file_shape(text, problem):
    assert problem in refused(dkim_keyfile.parse, text, 'k.yml')
