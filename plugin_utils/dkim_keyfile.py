# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's DKIM key file on the controller: one vault-encrypted YAML file.

    dkim_keys:
      falcot.test:
        mf2026r: {algorithm: rsa, bits: 2048, state: signing, created: ..., public_key: ..., private_key: ...}

It is read with the run's vault secrets (``--vault-password-file``,
``--ask-vault-pass``, ``vault_password_file`` or vault ids, as any vaulted
file) and written back encrypted with the first matching secret, atomically,
mode 0600. A file that is not vault-encrypted is refused: private keys never
sit in clear text on disk or in a repository. Messages name the file and the
culprit and never quote file contents.
"""

from __future__ import annotations

import os
import tempfile

import yaml

from ansible.parsing.vault import AnsibleVaultError, VaultLib, is_encrypted, match_encrypt_secret

from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_keyset import KeySetError, keyset_problems
from ansible_collections.mailforge.postfix.plugins.plugin_utils.dkim_keygen import public_key_of, rsa_bits

TOP_KEY = 'dkim_keys'
SafeLoader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
SafeDumper = getattr(yaml, 'CSafeDumper', yaml.SafeDumper)


def parse(text, where):
    """The key set of a decrypted key file's text; KeySetError otherwise (keys and pairs checked)."""
    try:
        data = yaml.load(text, Loader=SafeLoader)
    except yaml.YAMLError:
        raise KeySetError(['%s is not valid YAML' % where]) from None
    if data is None:
        data = {TOP_KEY: {}}
    if not isinstance(data, dict) or set(data) != {TOP_KEY}:
        raise KeySetError(['%s must hold one mapping, %s (domain -> selector -> key)' % (where, TOP_KEY)])
    keyset = data[TOP_KEY] or {}
    problems = ['%s: %s' % (where, problem) for problem in keyset_problems(keyset)]
    if problems:
        raise KeySetError(problems)
    for domain, selectors in keyset.items():
        for selector, entry in selectors.items():
            if not entry.get('private_key'):
                continue
            try:
                matches = public_key_of(entry['algorithm'], entry['private_key']) == entry['public_key']
                size_ok = entry['algorithm'] != 'rsa' or rsa_bits(entry['private_key']) == entry.get('bits')
            except ValueError as error:
                problems.append('%s: %s selector %s: %s' % (where, domain, selector, error))
                continue
            if not matches:
                problems.append('%s: %s selector %s: the public key does not belong to the private key'
                                % (where, domain, selector))
            elif not size_ok:
                problems.append('%s: %s selector %s: bits does not match the key' % (where, domain, selector))
    if problems:
        raise KeySetError(problems)
    return keyset


def dump(keyset):
    return yaml.dump({TOP_KEY: keyset}, Dumper=SafeDumper, default_flow_style=False, sort_keys=True, width=1000)


def read(path, secrets):
    """The key set in ``path`` (empty when the file does not exist yet)."""
    if not os.path.exists(path):
        return {}
    with open(path, 'rb') as handle:
        raw = handle.read()
    if not is_encrypted(raw):
        raise KeySetError(['%s is not vault-encrypted; encrypt it (ansible-vault encrypt) before use: it holds '
                           'private keys' % path])
    if not secrets:
        raise KeySetError(['%s is vault-encrypted and no vault password was given (--vault-password-file, '
                           '--ask-vault-pass or vault_password_file in ansible.cfg)' % path])
    try:
        text = VaultLib(secrets).decrypt(raw)
    except AnsibleVaultError:
        raise KeySetError(['%s: none of the vault passwords given decrypts it' % path]) from None
    return parse(text.decode('utf-8'), path)


def write(path, keyset, secrets):
    """Encrypt ``keyset`` with the run's vault secret and put it in ``path`` atomically, mode 0600."""
    if not secrets:
        raise KeySetError(['no vault password to encrypt %s with (--vault-password-file, --ask-vault-pass or '
                           'vault_password_file in ansible.cfg)' % path])
    vault_id, secret = match_encrypt_secret(secrets)
    encrypted = VaultLib(secrets).encrypt(dump(keyset), secret=secret,
                                          vault_id=vault_id if vault_id and vault_id != 'default' else None)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix='.dkim_keys.', dir=directory)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, 'wb') as out:
            out.write(encrypted)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
