"""The DNS records of the fleet's domains: DKIM TXT split into strings, SPF of the MX hosts, DMARC validated."""
import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.dns_records import (
    RecordsError, dmarc_problems, dmarc_value, dnsmasq_lines, records, spf_value, txt_matches, txt_strings,
    zone_snippet)

LONG_KEY = 'M' * 392     # the length of a 2048-bit key's p= value
KEYS = {'falcot.test': {
    'r1': dict(algorithm='rsa', state='signing', public_key=LONG_KEY),
    'e1': dict(algorithm='ed25519', state='published', public_key='E' * 44),
    'old': dict(algorithm='rsa', state='retired', public_key='OLD'),
}}
SENDERS = {'mx1': '198.18.0.10', 'mx2': '198.18.0.11', 'mx3': '2001:DB8::10'}


@pytest.mark.parametrize('length, sizes', [(0, [0]), (255, [255]), (256, [255, 1]), (600, [255, 255, 90])])
def test_txt_strings_are_at_most_255_octets(length, sizes):
    assert [len(part) for part in txt_strings('x' * length)] == sizes


def test_records_of_a_domain():
    found = records(['falcot.test', 'legacy.falcot.test'], KEYS, SENDERS,
                    dmarc={'policy': 'quarantine', 'rua': ['mailto:dmarc@falcot.test'], 'pct': 50, 'adkim': 's'})
    assert [owner for owner, _ in found['falcot.test']] == [
        'e1._domainkey.falcot.test.', 'r1._domainkey.falcot.test.', 'falcot.test.', '_dmarc.falcot.test.']
    assert found['falcot.test'][1][1] == 'v=DKIM1; k=rsa; p=' + LONG_KEY
    assert found['falcot.test'][0][1] == 'v=DKIM1; k=ed25519; p=' + 'E' * 44
    assert found['falcot.test'][2][1] == 'v=spf1 ip4:198.18.0.10 ip4:198.18.0.11 ip6:2001:db8::10 -all'
    assert found['falcot.test'][3][1] == 'v=DMARC1; p=quarantine; pct=50; rua=mailto:dmarc@falcot.test; adkim=s'
    assert [owner for owner, _ in found['legacy.falcot.test']] == ['legacy.falcot.test.', '_dmarc.legacy.falcot.test.']


@pytest.mark.parametrize('policy, value', [
    ({'policy': 'none'}, 'v=DMARC1; p=none'),
    ({'policy': 'reject', 'subdomain_policy': 'quarantine', 'pct': 100, 'adkim': 'r', 'aspf': 's',
      'rua': ['mailto:a@falcot.test', 'mailto:b@falcot.test!10m'], 'ruf': ['mailto:f@falcot.test']},
     'v=DMARC1; p=reject; sp=quarantine; rua=mailto:a@falcot.test,mailto:b@falcot.test!10m; '
     'ruf=mailto:f@falcot.test; aspf=s'),
])
def test_dmarc_value(policy, value):
    assert dmarc_problems(policy) == []
    assert dmarc_value(policy) == value


@pytest.mark.parametrize('policy, problem', [
    ({'policy': 'deny'}, "dns_records_dmarc policy 'deny' is not a DMARC policy; use one of none, quarantine, reject"),
    ({'policy': 'none', 'subdomain_policy': 'block'}, "subdomain_policy 'block' is not a DMARC policy"),
    ({'policy': 'none', 'pct': 101}, 'pct 101 must be a whole number from 0 to 100'),
    ({'policy': 'none', 'pct': True}, 'pct True must be a whole number'),
    ({'policy': 'none', 'rua': ['dmarc@falcot.test']}, "rua 'dmarc@falcot.test' is not a mailto: address"),
    ({'policy': 'none', 'adkim': 'strict'}, "adkim 'strict' must be r (relaxed) or s (strict)"),
])
def test_dmarc_problems_name_the_culprit(policy, problem):
    assert any(problem in text for text in dmarc_problems(policy))


@pytest.mark.parametrize('senders, extra, qualifier, problem', [
    ({'mx1': 'mx1.falcot.test'}, [], '-all', "mx1: postfix_fleet_address (or ansible_host) 'mx1.falcot.test' must be"),
    (SENDERS, ['include:_spf.example.net', 'bogus'], '-all', "dns_records_spf_extra: 'bogus' is not an SPF mechanism"),
    (SENDERS, [], 'all', "dns_records_spf_all 'all' must be one of -all, ~all, ?all"),
    ({}, [], '-all', 'no sending host'),
])
def test_records_refuse_naming_the_culprit(senders, extra, qualifier, problem):
    with pytest.raises(RecordsError) as caught:
        records(['falcot.test'], KEYS, senders, extra, qualifier)
    assert problem in str(caught.value)


def test_spf_value_with_extra_terms():
    assert spf_value(['198.18.0.10'], ['include:_spf.example.net', 'mx'], '~all') == \
        'v=spf1 ip4:198.18.0.10 include:_spf.example.net mx ~all'


def test_zone_snippet_splits_long_records_in_parentheses():
    entries = records(['falcot.test'], KEYS, SENDERS)['falcot.test']
    text = zone_snippet('falcot.test', entries, ttl=300)
    lines = text.splitlines()
    assert lines[1] == 'e1._domainkey.falcot.test. 300 IN TXT "v=DKIM1; k=ed25519; p=%s"' % ('E' * 44)
    assert lines[2] == 'r1._domainkey.falcot.test. 300 IN TXT ('
    joined = ''.join(line.strip().strip('"') for line in lines[3:5])
    assert joined == 'v=DKIM1; k=rsa; p=' + LONG_KEY
    assert all(len(line.strip()) <= 257 for line in lines[3:5])
    assert lines[5] == '    )'
    assert lines[-1] == '_dmarc.falcot.test. 300 IN TXT "v=DMARC1; p=none"'


def test_dnsmasq_lines_serve_the_same_strings():
    entries = records(['falcot.test'], KEYS, {'mx1': '198.18.0.10'})['falcot.test']
    lines = dnsmasq_lines('falcot.test', entries).splitlines()
    assert lines[2] == 'txt-record=r1._domainkey.falcot.test,"%s","%s"' % (
        ('v=DKIM1; k=rsa; p=' + LONG_KEY)[:255], ('v=DKIM1; k=rsa; p=' + LONG_KEY)[255:])
    assert lines[3] == 'txt-record=falcot.test,"v=spf1 ip4:198.18.0.10 -all"'


@pytest.mark.parametrize('strings, ok', [
    (['v=DKIM1; k=rsa; p=' + LONG_KEY[:200], LONG_KEY[200:]], True),
    (['v=DKIM1; k=rsa; p=' + LONG_KEY[:200] + ' ', LONG_KEY[200:]], True),
    (['v=DKIM1; k=ed25519; p=' + LONG_KEY], False),
    (['v=DKIM1; k=rsa; p=OTHER'], False),
    ([], False),
])
def test_txt_matches_a_published_key(strings, ok):
    assert txt_matches(strings, 'rsa', LONG_KEY) == ok
