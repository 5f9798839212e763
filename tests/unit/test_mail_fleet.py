"""The fleet plan: inventory groups and the company's mail data in, one host's part out."""
import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.mail_fleet import (
    PARENT_DOMAIN_MATCHES, FleetError, domain_kinds, node, parts, plan)

GROUPS = {'all': ['mx1', 'mx2', 'mbox', 'office'], 'mail_servers': ['mx1', 'mx2', 'mbox'],
          'mx_hosts': ['mx1', 'mx2'], 'mailbox_hosts': ['mbox']}
NODES = {'mx1': {'fqdn': 'mx1.falcot.test', 'address': '198.18.0.10'},
         'mx2': {'fqdn': 'mx2.falcot.test', 'address': '2001:db8::11'},
         'mbox': {'fqdn': 'mbox.falcot.test', 'address': '198.18.0.30'}}
DATA = dict(
    local_domains=['falcot.test'],
    alias_domains=['legacy.falcot.test'],
    mailbox_domains=['partners.falcot.test'],
    aliases={'postmaster': 'root', 'abuse': 'root'},
    local_recipients=['jean'],
    virtual_aliases={'webmaster@legacy.falcot.test': 'jean@falcot.test', '@legacy.falcot.test': 'postmaster',
                     'postmaster@partners.falcot.test': 'postmaster@falcot.test'},
    virtual_mailboxes=[{'address': 'anna@partners.falcot.test', 'path': 'partners.falcot.test/anna/'}],
)
COMPANY = ['falcot.test', 'legacy.falcot.test', 'partners.falcot.test']


def fleet(host, groups=GROUPS, mailbox_hosts=None, **changes):
    return plan(host, groups, NODES, mailbox_hosts or {}, **dict(DATA, **changes))


def problems(host='mx1', groups=GROUPS, mailbox_hosts=None, **changes):
    with pytest.raises(FleetError) as caught:
        fleet(host, groups, mailbox_hosts, **changes)
    return ' | '.join(caught.value.problems)


@pytest.mark.parametrize('host, groups, expected', [
    ('solo', {'mail_servers': ['solo']}, (True, True)),
    ('mx1', GROUPS, (True, False)),
    ('mbox', GROUPS, (False, True)),
    ('both', {'mx_hosts': ['both'], 'mailbox_hosts': ['both']}, (True, True)),
])
def test_parts_come_from_the_groups(host, groups, expected):
    assert parts(host, groups) == expected


def test_an_mx_relays_every_company_domain_to_the_mailbox_host():
    mx1 = fleet('mx1')
    assert (mx1['mx'], mx1['mailbox']) == (True, False)
    assert mx1['relay_domains'] == COMPANY
    assert mx1['local_domains'] == []
    assert mx1['transport'] == {domain: 'relay:[mbox.falcot.test]' for domain in COMPANY}
    assert mx1['parent_domain_matches_subdomains'] == PARENT_DOMAIN_MATCHES
    assert 'relay_domains' not in PARENT_DOMAIN_MATCHES
    assert mx1['relay_restrictions'] is None
    assert mx1['trusted_networks'] == []
    # Nothing of the relayed domains is delivered on the MX.
    assert mx1['elsewhere_domains'] == COMPANY


def test_the_recipient_list_comes_from_the_delivery_data():
    assert sorted(fleet('mx1')['relay_recipients']) == [
        '@legacy.falcot.test', 'abuse@falcot.test', 'anna@partners.falcot.test', 'jean@falcot.test',
        'postmaster@falcot.test', 'postmaster@partners.falcot.test', 'webmaster@legacy.falcot.test']
    assert set(fleet('mx1')['relay_recipients'].values()) == {'OK'}


def test_the_mailbox_host_delivers_and_trusts_only_the_mx_hosts():
    mbox = fleet('mbox')
    assert (mbox['mx'], mbox['mailbox']) == (False, True)
    assert mbox['local_domains'] == ['falcot.test']
    assert mbox['relay_domains'] == [] and mbox['transport'] == {} and mbox['relay_recipients'] == {}
    assert mbox['parent_domain_matches_subdomains'] is None
    assert mbox['trusted_networks'] == ['198.18.0.10/32', '[2001:db8::11]/128']
    assert mbox['relay_restrictions'] == ['permit_mynetworks', 'reject']
    assert mbox['elsewhere_domains'] == []


def test_without_the_groups_every_host_is_the_handbooks_single_server():
    solo = fleet('solo', {'all': ['solo'], 'mail_servers': ['solo']})
    assert (solo['mx'], solo['mailbox']) == (True, True)
    assert solo['local_domains'] == ['falcot.test']
    assert solo['relay_domains'] == [] and solo['trusted_networks'] == []
    assert solo['relay_restrictions'] is None
    assert solo['elsewhere_domains'] == []


def test_a_host_in_both_groups_delivers_and_the_other_mx_relays_to_it():
    groups = dict(GROUPS, mx_hosts=['mx1', 'mbox'])
    mbox = fleet('mbox', groups)
    assert (mbox['mx'], mbox['local_domains'], mbox['relay_domains']) == (True, ['falcot.test'], [])
    assert mbox['trusted_networks'] == ['198.18.0.10/32'] and mbox['relay_restrictions'] is None
    assert fleet('mx1', groups)['relay_domains'] == COMPANY


def test_several_mailbox_hosts_each_hold_their_domains():
    groups = dict(GROUPS, mailbox_hosts=['mbox', 'mx2'])
    split = {'mbox': ['falcot.test', 'legacy.falcot.test'], 'mx2': ['partners.falcot.test']}
    mx1 = fleet('mx1', groups, split)
    assert mx1['transport'] == {'falcot.test': 'relay:[mbox.falcot.test]',
                                'legacy.falcot.test': 'relay:[mbox.falcot.test]',
                                'partners.falcot.test': 'relay:[mx2.falcot.test]'}
    # mx2 is an MX and the mailbox host of partners: it relays the other two only.
    mx2 = fleet('mx2', groups, split)
    assert mx2['relay_domains'] == ['falcot.test', 'legacy.falcot.test']
    assert mx2['elsewhere_domains'] == ['falcot.test', 'legacy.falcot.test']
    assert mx2['trusted_networks'] == ['198.18.0.10/32']


@pytest.mark.parametrize('arguments, culprit', [
    (dict(mailbox_hosts={'mbox9': COMPANY}), 'mailbox host mbox9 is not a host of the inventory'),
    (dict(mailbox_hosts={'office': COMPANY}), 'office is not in group mailbox_hosts'),
    (dict(groups=dict(GROUPS, mailbox_hosts=['mbox', 'mx2']),
          mailbox_hosts={'mbox': COMPANY, 'mx2': ['falcot.test']}),
     'falcot.test has two mailbox hosts: mbox and mx2'),
    (dict(groups=dict(GROUPS, mailbox_hosts=['mbox', 'mx2'])), 'group mailbox_hosts has 2 hosts (mbox, mx2)'),
    (dict(groups=dict(GROUPS, mailbox_hosts=[])), 'group mailbox_hosts is empty'),
    (dict(mailbox_hosts={'mbox': ['falcot.test', 'other.test']}), "'other.test' (mailbox host mbox) is not one of"),
    (dict(mailbox_hosts={'mbox': ['falcot.test']}), 'legacy.falcot.test has no mailbox host'),
    (dict(layers={'postfix_main_cf_host': {'mydestination': '$myhostname, falcot.test'}}),
     'falcot.test is relayed to mbox, but postfix_main_cf_host.mydestination would also deliver it locally on mx1'),
    (dict(layers={'postfix_main_cf': {'virtual_mailbox_domains': ['partners.falcot.test']}}),
     'partners.falcot.test is relayed to mbox, but postfix_main_cf.virtual_mailbox_domains'),
    (dict(aliases={}, local_recipients=[]), 'falcot.test: no recipient is known'),
    (dict(virtual_mailboxes={}, virtual_aliases={'@legacy.falcot.test': 'x'}),
     'partners.falcot.test: no recipient is known'),
    (dict(local_recipients=['jean smith']), "local recipient 'jean smith' is not a local part"),
    (dict(host='office'), 'office is in mail_servers but in neither mx_hosts nor mailbox_hosts'),
    (dict(alias_domains=['falcot.test']),
     'falcot.test is in postfix_mydestination_domains and in virtual_domains_alias_domains'),
])
def test_bad_fleets_are_refused_naming_the_culprit(arguments, culprit):
    assert culprit in problems(**arguments)


def test_every_problem_is_reported_at_once():
    found = problems(mailbox_hosts={'mbox9': ['falcot.test']}, aliases={}, local_recipients=[])
    assert 'mbox9 is not a host of the inventory' in found
    assert 'legacy.falcot.test has no mailbox host' in found


def test_the_mailbox_host_needs_ip_addresses_of_the_mx_hosts():
    nodes = dict(NODES, mx1={'fqdn': 'mx1.falcot.test', 'address': 'mx1.falcot.test'})
    with pytest.raises(FleetError) as caught:
        plan('mbox', GROUPS, nodes, {}, **DATA)
    assert "mx1: postfix_fleet_address (or ansible_host) 'mx1.falcot.test' must be an IP address" in str(caught.value)


def test_an_empty_recipient_list_is_fine_when_nothing_is_relayed():
    solo = fleet('solo', {'mail_servers': ['solo']}, aliases={}, local_recipients=[])
    assert solo['relay_recipients'] == {}


def test_recipient_keys_are_folded_once():
    mx1 = fleet('mx1', aliases={'Postmaster': 'root'}, local_recipients=['postmaster'])
    assert [key for key in mx1['relay_recipients'] if key.startswith('postmaster@falcot')] == [
        'postmaster@falcot.test']


def test_the_plan_is_the_same_the_second_time():
    assert fleet('mx1') == fleet('mx1') and fleet('mbox') == fleet('mbox')


@pytest.mark.parametrize('changes, culprit', [
    (dict(virtual_aliases={'bad address@legacy.falcot.test': 'jean@falcot.test'}),
     "'bad address@legacy.falcot.test' is not an address"),
    (dict(virtual_aliases={'x@legacy.falcot.test': 'not an address', '@legacy.falcot.test': 'postmaster'}),
     'alias x@legacy.falcot.test'),
    (dict(virtual_mailboxes={'anna@partners.falcot.test': '../../../etc/'}), 'mailbox anna@partners.falcot.test'),
])
def test_bad_virtual_data_is_refused_on_every_host_with_its_own_message(changes, culprit):
    for host in ('mx1', 'mbox'):
        found = problems(host, **changes)
        assert culprit in found
        # Not a second, misleading complaint about the recipient list built from that data.
        assert 'no recipient is known' not in found


def test_aliases_in_the_hosts_own_domain_are_fine():
    mx1 = fleet('mx1', virtual_aliases=dict(DATA['virtual_aliases'], **{'ops@mx1.falcot.test': 'root'}))
    assert 'ops@mx1.falcot.test' not in mx1['relay_recipients']


@pytest.mark.parametrize('lists, expected, problem', [
    ((['Falcot.test'], ['legacy.falcot.test'], ['partners.falcot.test']),
     {'falcot.test': 'local', 'legacy.falcot.test': 'alias', 'partners.falcot.test': 'mailbox'}, None),
    ((['falcot.test', 'not a domain'], [], []), {'falcot.test': 'local'}, None),
    ((['falcot.test'], ['falcot.test'], []), {'falcot.test': 'local'},
     'falcot.test is in postfix_mydestination_domains and in virtual_domains_alias_domains'),
])
def test_domain_kinds_are_the_fleets_domains(lists, expected, problem):
    found = []
    assert domain_kinds(*lists, problems=found) == expected
    assert found == ([] if problem is None else [found[0]])
    assert problem is None or problem in found[0]


@pytest.mark.parametrize('variables, expected', [
    ({'ansible_host': '198.18.0.10', 'postfix_myhostname': 'mx1.falcot.test'},
     {'fqdn': 'mx1.falcot.test', 'address': '198.18.0.10'}),
    ({'ansible_host': '198.18.0.10', 'postfix_fleet_address': '2001:db8::10'},
     {'fqdn': 'mx1', 'address': '2001:db8::10'}),
    ({}, {'fqdn': 'mx1', 'address': 'mx1'}),
])
def test_node_reads_name_and_address_like_the_fleet_plan(variables, expected):
    assert node(variables, 'mx1') == expected
