"""The lookups that read the vault-encrypted key file on the controller: dkim_signing and dns_records."""
import datetime

import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultSecret

from ansible_collections.mailforge.postfix.plugins.action.dkim_keys import apply_step
from ansible_collections.mailforge.postfix.plugins.lookup import dkim_signing, dns_records
from ansible_collections.mailforge.postfix.plugins.plugin_utils import dkim_keyfile

SECRETS = [('default', VaultSecret(b'throwaway-test-password'))]
FLEET = dict(local_domains=['falcot.test'], alias_domains=['legacy.falcot.test'])
DAY = datetime.date(2026, 11, 26)
VARIABLES = {
    'groups': {'mail_servers': ['mx1', 'mx2', 'mbox'], 'mx_hosts': ['mx1', 'mx2'], 'mailbox_hosts': ['mbox']},
    'hostvars': {'mx1': {'ansible_host': '198.18.0.10'}, 'mx2': {'ansible_host': '198.18.0.11'},
                 'mbox': {'ansible_host': '198.18.0.30'}},
}


@pytest.fixture
def key_file(tmp_path):
    args = dict(step='ensure', domains={'falcot.test': [{'selector': 'r1'}, {'selector': 'e1', 'algorithm': 'ed25519'}]},
                algorithm='rsa', bits=None, grace_days=7, domain=None, selector=None)
    keys, _ = apply_step({}, args, {'falcot.test', 'legacy.falcot.test'}, DAY)
    for selector in ('r1', 'e1'):
        keys, _ = apply_step(keys, dict(args, step='switch', domain='falcot.test', selector=selector),
                             {'falcot.test'}, DAY)
    path = str(tmp_path / 'dkim_keys.vault.yml')
    dkim_keyfile.write(path, keys, SECRETS)
    return path, keys


def lookup(module, secrets=SECRETS):
    """The lookup as Ansible loads it: its options come from its DOCUMENTATION."""
    loader = DataLoader()
    loader.set_vault_secrets(secrets)
    found = module.LookupModule(loader=loader)
    found._load_name = 'mailforge.postfix.' + module.__name__.rsplit('.', 1)[1]
    options = yaml.safe_load(module.DOCUMENTATION)['options']
    found.set_options = lambda var_options=None, direct=None: setattr(found, '_options', dict(
        {name: spec.get('default') for name, spec in options.items() if name != '_terms'}, **(direct or {})))
    found.get_option = lambda name: found._options[name]
    return found


def test_signing_plan_has_keys_only_when_asked(key_file):
    path, keys = key_file
    plain = lookup(dkim_signing).run([path], VARIABLES, domains=['falcot.test'], **FLEET)[0]
    assert plain['key_files'] == [{'path': '/etc/dkimpy-milter/keys/falcot.test.e1.ed25519'},
                                  {'path': '/etc/dkimpy-milter/keys/falcot.test.r1.rsa'}]
    assert keys['falcot.test']['r1']['private_key'] not in repr(plain)
    full = lookup(dkim_signing).run([path], VARIABLES, domains=['falcot.test'], with_keys=True, **FLEET)[0]
    assert [item['content'] for item in full['key_files']] == [
        keys['falcot.test']['e1']['private_key'] + '\n', keys['falcot.test']['r1']['private_key']]


@pytest.mark.parametrize('domains, secrets, problem', [
    (['example.org'], SECRETS, "'example.org' is not a domain the fleet handles"),
    (['legacy.falcot.test'], SECRETS, 'legacy.falcot.test has no keys in the key file'),
    (['falcot.test'], [], 'no vault password was given'),
])
def test_signing_plan_refuses_naming_the_culprit(key_file, domains, secrets, problem):
    with pytest.raises(AnsibleError, match=problem):
        lookup(dkim_signing, secrets).run([key_file[0]], VARIABLES, domains=domains, **FLEET)


def test_dns_records_of_every_fleet_domain(key_file):
    path, keys = key_file
    found = lookup(dns_records).run([path], VARIABLES, dmarc={'policy': 'reject'}, **FLEET)[0]
    assert sorted(found) == ['falcot.test', 'legacy.falcot.test']
    owners = [owner for owner, _ in found['falcot.test']['records']]
    assert owners == ['e1._domainkey.falcot.test.', 'r1._domainkey.falcot.test.', 'falcot.test.',
                      '_dmarc.falcot.test.']
    assert found['falcot.test']['records'][2][1] == 'v=spf1 ip4:198.18.0.10 ip4:198.18.0.11 -all'
    assert 'PRIVATE' not in repr(found) and keys['falcot.test']['e1']['private_key'] not in repr(found)
    assert found['legacy.falcot.test']['zone'].endswith('_dmarc.legacy.falcot.test. 3600 IN TXT "v=DMARC1; p=reject"\n')


@pytest.mark.parametrize('options, problem', [
    (dict(domains=['example.org']), "dns_records_domains: 'example.org' is not a domain the fleet handles"),
    (dict(dmarc={'policy': 'block'}), "policy 'block' is not a DMARC policy"),
])
def test_dns_records_refuse_naming_the_culprit(key_file, options, problem):
    with pytest.raises(AnsibleError, match=problem):
        lookup(dns_records).run([key_file[0]], VARIABLES, **dict(FLEET, **options))


def test_dns_records_without_a_key_file_yet(tmp_path):
    found = lookup(dns_records).run([str(tmp_path / 'none.yml')], VARIABLES, **FLEET)[0]
    assert [owner for owner, _ in found['falcot.test']['records']] == ['falcot.test.', '_dmarc.falcot.test.']
