"""The dkimpy-milter signing plan: one plan for every MX, key tables per algorithm, culprits named."""
import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_keyset import KeySetError
from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_signing import plan

FLEET = {'falcot.test', 'legacy.falcot.test', 'partners.falcot.test'}
SECRET = 'PRIVATE-KEY-MATERIAL'


def key(state, algorithm='rsa'):
    found = dict(algorithm=algorithm, state=state, public_key='PUB')
    if state != 'retired':
        found['private_key'] = '%s-%s' % (SECRET, algorithm)
    return found


KEYS = {
    'falcot.test': {'r1': key('published'), 'r0': key('signing'), 'e1': key('signing', 'ed25519'),
                    'old': key('retired')},
    'legacy.falcot.test': {'r1': key('signing'), 'e1': key('signing', 'ed25519')},
    'partners.falcot.test': {'new': key('published')},
}


def test_plan_signs_with_the_signing_selectors_only():
    found = plan(KEYS, ['falcot.test', 'Legacy.falcot.test', 'partners.falcot.test'], FLEET)
    assert found['key_table'] == [
        'falcot.test falcot.test:r0:/etc/dkimpy-milter/keys/falcot.test.r0.rsa',
        'legacy.falcot.test legacy.falcot.test:r1:/etc/dkimpy-milter/keys/legacy.falcot.test.r1.rsa']
    assert found['key_table_ed25519'] == [
        'falcot.test falcot.test:e1:/etc/dkimpy-milter/keys/falcot.test.e1.ed25519',
        'legacy.falcot.test legacy.falcot.test:e1:/etc/dkimpy-milter/keys/legacy.falcot.test.e1.ed25519']
    assert found['signing_table'] == ['*@falcot.test falcot.test', '*@legacy.falcot.test legacy.falcot.test']
    assert found['unsigned'] == ['partners.falcot.test']
    assert found['signed'] == {'falcot.test': {'rsa': 'r0', 'ed25519': 'e1'},
                               'legacy.falcot.test': {'rsa': 'r1', 'ed25519': 'e1'}}
    assert [item['path'] for item in found['key_files']] == [
        '/etc/dkimpy-milter/keys/falcot.test.e1.ed25519', '/etc/dkimpy-milter/keys/falcot.test.r0.rsa',
        '/etc/dkimpy-milter/keys/legacy.falcot.test.e1.ed25519', '/etc/dkimpy-milter/keys/legacy.falcot.test.r1.rsa']
    assert all(item['content'].endswith('\n') for item in found['key_files'])
    assert all(':' not in path.split('keys/')[1] for path in found['key_table'])


@pytest.mark.parametrize('keys, domains, problem', [
    (KEYS, ['example.org'], "dkim_signing_domains: 'example.org' is not a domain the fleet handles"),
    ({}, ['falcot.test'], 'falcot.test has no keys in the key file; run playbooks/dkim_keys.yml first'),
    ({'falcot.test': {'a': key('signing'), 'e': key('signing', 'ed25519')},
      'legacy.falcot.test': {'a': key('signing')}}, ['falcot.test', 'legacy.falcot.test'],
     'legacy.falcot.test signs with rsa only, while falcot.test signs with rsa and ed25519'),
    ({'falcot.test': {'a': key('signing'), 'b': key('signing')}}, ['falcot.test'], 'a and b both sign with rsa'),
])
def test_plan_refuses_naming_the_culprit(keys, domains, problem):
    with pytest.raises(KeySetError) as caught:
        plan(keys, domains, FLEET)
    assert problem in str(caught.value)
    assert SECRET not in str(caught.value)
