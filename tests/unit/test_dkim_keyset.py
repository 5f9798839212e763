"""The DKIM key set model: validation naming the culprit, and the rotation steps as idempotent transitions."""
import datetime

import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.dkim_keyset import (
    KeySetError, active_selectors, ensure, public_view, publish, retire, selector_problem, spec_problems, switch)

FLEET = {'falcot.test', 'legacy.falcot.test', 'partners.falcot.test'}
DAY = datetime.date(2026, 11, 26)
SECRET = 'PRIVATE-KEY-MATERIAL'


def fake_generate(algorithm, bits):
    """Deterministic keys: the tests look at states, not at crypto."""
    fake_generate.count += 1
    return '%s-%s-%s-%d' % (SECRET, algorithm, bits, fake_generate.count), 'PUB%d' % fake_generate.count


fake_generate.count = 0


def entry(state='published', algorithm='rsa', **extra):
    found = dict(algorithm=algorithm, state=state, public_key='PUBx', created='2026-01-01', **extra)
    if algorithm == 'rsa':
        found.setdefault('bits', 2048)
    if state != 'retired':
        found['private_key'] = SECRET
    return found


def refused(call, *args):
    with pytest.raises(KeySetError) as caught:
        call(*args)
    assert SECRET not in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize('selector, ok', [
    ('mf2026a', True), ('a', True), ('s-1', True), ('A' * 63, True),
    ('', False), ('-a', False), ('a-', False), ('two.labels', False), ('under_score', False), ('A' * 64, False),
    (None, False), (2026, False),
])
def test_a_selector_is_one_dns_label(selector, ok):
    assert (selector_problem(selector) is None) == ok


@pytest.mark.parametrize('spec, problem', [
    ({'selector': 'a', 'algorithm': 'rsa', 'bits': 2048}, None),
    ({'selector': 'a'}, None),
    ({'selector': 'a', 'algorithm': 'ed25519'}, None),
    ({'selector': 'a', 'algorithm': 'rsa', 'bits': 1024}, 'falcot.test selector a: RSA key size 1024 is below 2048'),
    ({'selector': 'a', 'bits': '2048'}, "bits '2048' is not a whole number"),
    ({'selector': 'a', 'bits': 16384}, 'RSA key size 16384 is above 8192'),
    ({'selector': 'a', 'algorithm': 'dsa'}, "falcot.test selector a: unknown algorithm 'dsa'"),
    ({'selector': 'a', 'algorithm': 'ed25519', 'bits': 256}, 'ed25519 keys have a fixed size'),
    ({'selector': 'a.b'}, "falcot.test: selector 'a.b' is not a DNS label"),
    ({'selector': 'a', 'size': 2048}, 'unknown key(s) size'),
    ('a', 'must be a mapping'),
])
def test_wanted_selector_checks_name_the_culprit(spec, problem):
    found = spec_problems('falcot.test', spec)
    assert (found == []) if problem is None else any(problem in text for text in found)


def test_ensure_generates_missing_selectors_once():
    wanted = {'falcot.test': [{'selector': 'r1', 'algorithm': 'rsa', 'bits': 3072},
                              {'selector': 'e1', 'algorithm': 'ed25519'}]}
    first, changed = ensure({}, wanted, FLEET, fake_generate, DAY)
    assert sorted(first['falcot.test']) == ['e1', 'r1']
    assert first['falcot.test']['r1']['state'] == 'published'
    assert first['falcot.test']['r1']['bits'] == 3072
    assert 'bits' not in first['falcot.test']['e1']
    assert first['falcot.test']['e1']['created'] == '2026-11-26'
    assert len(changed) == 2
    assert ensure(first, wanted, FLEET, fake_generate, DAY) == (first, [])


def test_ensure_keeps_existing_and_retired_selectors():
    keys = {'falcot.test': {'r1': entry('retired'), 'r2': entry('signing')}}
    result, changed = ensure(keys, {'falcot.test': [{'selector': 'r1'}]}, FLEET, fake_generate, DAY)
    assert (result, changed) == (keys, [])


@pytest.mark.parametrize('wanted, problem', [
    ({'example.org': [{'selector': 'a'}]}, "dkim_keys_domains: 'example.org' is not a domain the fleet handles"),
    ({'falcot.test': []}, 'falcot.test needs a list of selectors'),
    ({'falcot.test': [{'selector': 'a'}, {'selector': 'a', 'algorithm': 'ed25519'}]}, 'lists selector a twice'),
    ({'falcot.test': [{'selector': 'a', 'bits': 1024}]}, 'RSA key size 1024 is below 2048'),
    (['falcot.test'], 'must map each domain'),
])
def test_ensure_refuses_before_generating_anything(wanted, problem):
    before = fake_generate.count
    assert problem in refused(ensure, {}, wanted, FLEET, fake_generate, DAY)
    assert fake_generate.count == before


@pytest.mark.parametrize('keys, problem', [
    ({'falcot.test': {'a': entry('signing'), 'b': entry('signing')}}, 'a and b both sign with rsa'),
    ({'falcot.test': {'a': entry('lost')}}, "state 'lost' is not one of"),
    ({'falcot.test': {'a': dict(entry(), private_key='')}}, 'needs its private and public key'),
    ({'falcot.test': {'a': dict(entry('retired'), private_key=SECRET)}}, 'a retired selector keeps no private key'),
    ({'falcot.test': {'a b': entry()}}, "selector 'a b' is not a DNS label"),
    ({'falcot.test': {'a': dict(entry(), colour='red')}}, 'unknown field(s) colour'),
    ({'falcot.test': ['a']}, 'must map each selector name'),
])
def test_a_damaged_key_file_is_refused_without_quoting_keys(keys, problem):
    assert problem in refused(switch, keys, 'falcot.test', 'a', DAY)


def test_rotation_publish_switch_retire_each_step_idempotent():
    keys = {'falcot.test': {'old': entry('signing')}}
    spec = {'selector': 'new', 'algorithm': 'rsa', 'bits': 2048}
    published, changed = publish(keys, 'Falcot.test', spec, FLEET, fake_generate, DAY)
    assert changed and published['falcot.test']['new']['state'] == 'published'
    assert published['falcot.test']['old']['state'] == 'signing'
    assert publish(published, 'falcot.test', spec, FLEET, fake_generate, DAY) == (published, [])
    assert keys == {'falcot.test': {'old': entry('signing')}}, 'the input is never changed'

    switched, changed = switch(published, 'falcot.test', 'new', DAY)
    assert [switched['falcot.test'][name]['state'] for name in ('old', 'new')] == ['published', 'signing']
    assert switched['falcot.test']['old']['signing_ended'] == '2026-11-26'
    assert len(changed) == 2
    assert switch(switched, 'falcot.test', 'new', DAY) == (switched, [])

    assert 'retire it on or after 2026-12-03' in refused(retire, switched, 'falcot.test', 'old', DAY, 7)
    later = DAY + datetime.timedelta(days=7)
    retired, changed = retire(switched, 'falcot.test', 'old', later, 7)
    assert retired['falcot.test']['old']['state'] == 'retired'
    assert 'private_key' not in retired['falcot.test']['old']
    assert retire(retired, 'falcot.test', 'old', later, 7) == (retired, [])
    assert [name for name, _ in active_selectors(retired, 'falcot.test')] == ['new']


def test_switch_leaves_the_other_algorithm_signing():
    keys = {'falcot.test': {'r1': entry('signing'), 'e1': entry('signing', 'ed25519'), 'r2': entry()}}
    result, _ = switch(keys, 'falcot.test', 'r2', DAY)
    assert {name: item['state'] for name, item in result['falcot.test'].items()} == \
        {'r1': 'published', 'e1': 'signing', 'r2': 'signing'}


@pytest.mark.parametrize('call, args, problem', [
    (publish, ({}, 'example.org', {'selector': 'a'}, FLEET, fake_generate, DAY),
     "dkim_keys_domain: 'example.org' is not a domain the fleet handles"),
    (publish, ({'falcot.test': {'a': entry('retired')}}, 'falcot.test', {'selector': 'a'}, FLEET, fake_generate,
               DAY), 'selector a is retired; publish a new selector name'),
    (publish, ({'falcot.test': {'a': entry()}}, 'falcot.test', {'selector': 'a', 'algorithm': 'ed25519'}, FLEET,
               fake_generate, DAY), 'selector a already exists with rsa 2048 bits'),
    (switch, ({'falcot.test': {'a': entry()}}, 'falcot.test', 'b', DAY),
     'falcot.test has no selector b in the key file (its selectors: a)'),
    (switch, ({'falcot.test': {'a': entry('retired')}}, 'falcot.test', 'a', DAY), 'selector a is retired'),
    (switch, ({}, 'falcot.test', 'bad_name', DAY), "selector 'bad_name' is not a DNS label"),
    (retire, ({'falcot.test': {'a': entry('signing')}}, 'falcot.test', 'a', DAY, 7),
     'selector a still signs; switch to another selector first'),
])
def test_steps_refuse_naming_the_culprit(call, args, problem):
    assert problem in refused(call, *args)


def test_a_selector_that_never_signed_retires_at_once():
    keys = {'falcot.test': {'a': entry(), 'b': entry('signing')}}
    result, changed = retire(keys, 'falcot.test', 'a', DAY, 7)
    assert result['falcot.test']['a']['state'] == 'retired' and changed


def test_public_view_has_no_private_keys():
    keys = {'falcot.test': {'a': entry('signing'), 'b': entry('retired')}}
    assert SECRET not in repr(public_view(keys))
    assert public_view(keys)['falcot.test']['a']['public_key'] == 'PUBx'
