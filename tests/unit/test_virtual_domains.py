"""Virtual alias and mailbox domains: data model in, parameters and table entries out."""
import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.virtual_domains import (
    VirtualDomainsError, plan, split_address)
from ansible_collections.mailforge.postfix.plugins.modules.virtual_domains import check
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import Postconf

HANDBOOK = dict(
    alias_domains=['falcot.org'],
    aliases={'webmaster@falcot.org': 'jean@falcot.com',
             'contact@falcot.org': ['laure@falcot.com', 'sophie@falcot.com'],
             '@falcot.org': 'rmas@falcot.com'},
    mailbox_domains=['falcot.net'],
    mailboxes={'jean@falcot.net': 'falcot.net/jean/', 'sophie@falcot.net': 'falcot.net/sophie',
               'postmaster@falcot.net': 'falcot.net/postmaster/'},
)


def entries(pairs):
    return [dict(key=key, value=value) for key, value in pairs]


def test_handbook_example():
    result = plan(**HANDBOOK, local_domains=['falcot.com', 'localhost'])
    assert result['parameters'] == {
        'virtual_alias_domains': ['falcot.org'],
        'virtual_alias_maps': 'hash:/etc/postfix/virtual',
        'virtual_mailbox_domains': ['falcot.net'],
        'virtual_mailbox_maps': 'hash:/etc/postfix/vmailbox',
        'virtual_mailbox_base': '/var/mail/vhosts',
        'virtual_uid_maps': 'static:5000',
        'virtual_gid_maps': 'static:5000',
    }
    assert result['alias_entries'] == entries([
        ('@falcot.org', 'rmas@falcot.com'),
        ('contact@falcot.org', 'laure@falcot.com, sophie@falcot.com'),
        ('webmaster@falcot.org', 'jean@falcot.com')])
    assert result['mailbox_entries'] == entries([
        ('jean@falcot.net', 'falcot.net/jean/'),
        ('postmaster@falcot.net', 'falcot.net/postmaster/'),
        ('sophie@falcot.net', 'falcot.net/sophie')])
    assert result['mailbox_kinds'] == {'jean@falcot.net': 'maildir', 'sophie@falcot.net': 'mbox',
                                       'postmaster@falcot.net': 'maildir'}
    assert result['directories'] == ['/var/mail/vhosts', '/var/mail/vhosts/falcot.net']
    assert result['warnings'] == []


def test_nothing_configured_still_names_the_tables():
    result = plan([], {}, [], {})
    assert result['parameters']['virtual_alias_domains'] == []
    assert result['parameters']['virtual_mailbox_domains'] == []
    assert result['alias_entries'] == [] and result['mailbox_entries'] == []
    assert result['directories'] == ['/var/mail/vhosts']


def test_list_form_keeps_order_and_options_reach_the_parameters():
    result = plan(['a.test'], [{'address': 'x@a.test', 'targets': ['root']},
                               {'address': 'postmaster@a.test', 'targets': 'root'}], [], {},
                  mailbox_base='/srv/mail/', uid=6000, gid=6001, map_type='lmdb', config_dir='/etc/postfix-out')
    assert result['alias_entries'] == entries([('x@a.test', 'root'), ('postmaster@a.test', 'root')])
    params = result['parameters']
    assert params['virtual_alias_maps'] == 'lmdb:/etc/postfix-out/virtual'
    assert (params['virtual_mailbox_base'], params['virtual_uid_maps'], params['virtual_gid_maps']) == (
        '/srv/mail', 'static:6000', 'static:6001')


def test_catch_all_of_a_mailbox_domain_keeps_the_mailboxes():
    result = plan([], {'@box.test': 'jean@falcot.test', 'anna@box.test': ['anna@box.test', 'boss@falcot.test']},
                  ['box.test'], {'anna@box.test': 'box.test/anna/', 'bob@box.test': 'box.test/bob'},
                  local_domains=['falcot.test'])
    assert result['alias_entries'] == entries([
        ('@box.test', 'jean@falcot.test'),
        ('anna@box.test', 'anna@box.test, boss@falcot.test'),
        ('bob@box.test', 'bob@box.test')])


def test_domains_without_postmaster_are_warned_about():
    result = plan(['a.test'], {'x@a.test': 'root'}, ['b.test'], {'@b.test': 'b.test/all/'})
    assert result['warnings'] == ['a.test has no postmaster@ address (RFC 5321 requires one); '
                                  'add an alias or a catch-all']


def test_deep_mailbox_paths_get_every_parent():
    result = plan([], {}, ['b.test'], {'x@b.test': 'b.test/x/mail/', 'y@b.test': 'y'})
    assert result['directories'] == ['/var/mail/vhosts', '/var/mail/vhosts/b.test', '/var/mail/vhosts/b.test/x']


@pytest.mark.parametrize('overrides, problem', [
    (dict(alias_domains=['falcot']), "'falcot' is not a domain name"),
    (dict(alias_domains=['-bad.test']), "'-bad.test' is not a domain name"),
    (dict(alias_domains=['a.test', 'A.test']), 'A.test is listed twice'),
    (dict(alias_domains='a.test'), 'alias_domains must be a list'),
    (dict(alias_domains=['a.test'], mailbox_domains=['a.test']), 'a.test is both an alias domain and a mailbox'),
    (dict(alias_domains=['falcot.test']), 'falcot.test is also in mydestination'),
    (dict(aliases={'jean': 'root'}), "'jean' is not an address (local@domain) or a catch-all"),
    (dict(aliases={'a b@a.test': 'root'}), "'a b@a.test' is not an address"),
    (dict(aliases={'a%b@a.test': 'root'}), "'a%b@a.test' is not an address"),
    (dict(aliases={'x@other.test': 'root'}), 'x@other.test is not in a domain this host receives mail for'),
    (dict(aliases={'x@a.test': 'root', 'X@a.test': 'root'}), 'X@a.test and x@a.test are the same key'),
    (dict(aliases=[{'address': 'x@a.test', 'targets': 'root'}, {'address': 'x@a.test', 'targets': 'root'}]),
     'x@a.test and x@a.test are the same key'),
    (dict(aliases=[{'address': 'x@a.test'}]), 'aliases[0]: each item needs exactly "address" and "targets"'),
    (dict(aliases={'x@a.test': 'not an address'}), "alias x@a.test: 'not an address' is not a valid target"),
    (dict(aliases={'x@a.test': ['root', 'a@@b']}), "alias x@a.test: 'a@@b' is not a valid target"),
    (dict(aliases={'x@a.test': []}), 'alias x@a.test: needs at least one target'),
    (dict(aliases={'x@a.test': ['root', 'ROOT']}), 'alias x@a.test: a target is listed twice'),
    (dict(mailboxes={'x@a.test': 'a.test/x/'}), 'x@a.test is not in a mailbox domain'),
    (dict(mailboxes={'x@b.test': '/var/mail/x'}), "mailbox x@b.test: path '/var/mail/x' must be relative"),
    (dict(mailboxes={'x@b.test': 'b.test/../../etc/'}), 'must be relative to the mailbox base'),
    (dict(mailboxes={'x@b.test': './x'}), 'must be relative to the mailbox base'),
    (dict(mailboxes={'x@b.test': 'b.test/x y'}), 'must be relative to the mailbox base'),
    (dict(mailboxes={'x@b.test': 'b.test/x/', 'y@b.test': 'b.test/x'}), 'mailboxes x@b.test and y@b.test share'),
    (dict(aliases={'x@b.test': 'root'}, mailboxes={'x@b.test': 'b.test/x/'}),
     'mailbox x@b.test would never receive mail: its alias sends everything to root'),
    (dict(mailbox_base='var/mail'), "mailbox_base 'var/mail' must be an absolute path"),
    (dict(mailbox_base='/'), "mailbox_base '/' must be an absolute path of its own"),
    (dict(uid=0), 'uid 0 must be a number of at least 100'),
    (dict(gid='5000'), "gid '5000' must be a number"),
])
def test_bad_input_is_refused_with_the_reason(overrides, problem):
    values = dict(alias_domains=['a.test'], aliases={}, mailbox_domains=['b.test'], mailboxes={},
                  local_domains=['falcot.test'])
    values.update(overrides)
    with pytest.raises(VirtualDomainsError) as caught:
        plan(**values)
    assert any(problem in message for message in caught.value.problems), caught.value.problems
    assert str(caught.value).startswith('virtual domains refused, nothing changed: ')


def test_every_problem_is_reported_at_once():
    with pytest.raises(VirtualDomainsError) as caught:
        plan(['bad'], {'nope': 'root'}, [], {'x@y.test': '/abs'})
    assert len(caught.value.problems) == 3


@pytest.mark.parametrize('address, expected', [
    ('jean@Falcot.ORG', ('jean', 'falcot.org')),
    ('@falcot.org', ('', 'falcot.org')),
    ('first.last+tag@falcot.org', ('first.last+tag', 'falcot.org')),
    ('.jean@falcot.org', None),
    ('jean..x@falcot.org', None),
    ('jean@falcot', None),
    ('a@b@falcot.org', None),
    ('"quoted"@falcot.org', None),
    (None, None),
])
def test_split_address(address, expected):
    assert split_address(address) == expected


class PostconfAnswers:
    def __init__(self, answers):
        self.answers = answers
        self.argv = []

    def __call__(self, argv, environ_update=None):
        self.argv.append(argv[3:])
        return 0, self.answers[argv[-1]] + '\n', ''


def test_module_reads_mydestination_expanded_and_the_host_defaults():
    run = PostconfAnswers({'mydestination': 'mx1.falcot.test, localhost.falcot.test localhost',
                           'virtual_minimum_uid': '100', 'default_database_type': 'hash'})
    params = dict(alias_domains=['localhost.falcot.test'], aliases={}, mailbox_domains=[], mailboxes={},
                  mailbox_base='/var/mail/vhosts', uid=5000, gid=5000, map_type=None, config_dir='/etc/postfix',
                  elsewhere_domains=[])
    with pytest.raises(VirtualDomainsError, match='localhost.falcot.test is also in mydestination'):
        check(Postconf(run, 'postconf', '/etc/postfix'), params)
    assert ['-x', '-h', 'mydestination'] in run.argv
    params['alias_domains'] = ['a.test']
    result = check(Postconf(run, 'postconf', '/etc/postfix'), params)
    assert result['changed'] is False
    assert result['parameters']['virtual_alias_maps'] == 'hash:/etc/postfix/virtual'


def test_domains_delivered_elsewhere_are_checked_but_not_written():
    """An MX of a fleet relays falcot.org and falcot.net to their mailbox host."""
    result = plan(**HANDBOOK, local_domains=['mx1.falcot.com'], elsewhere_domains=['falcot.org', 'falcot.net',
                                                                                    'falcot.com'])
    assert result['parameters']['virtual_alias_domains'] == []
    assert result['parameters']['virtual_mailbox_domains'] == []
    assert result['alias_entries'] == [] and result['mailbox_entries'] == [] and result['mailbox_kinds'] == {}
    assert result['directories'] == ['/var/mail/vhosts'] and result['warnings'] == []


def test_bad_data_of_a_domain_delivered_elsewhere_still_fails():
    with pytest.raises(VirtualDomainsError) as caught:
        plan(**dict(HANDBOOK, aliases={'x@falcot.org': 'not an address'}), local_domains=[],
             elsewhere_domains=['falcot.org', 'falcot.net'])
    assert 'x@falcot.org' in str(caught.value)


def test_an_alias_in_a_local_domain_delivered_elsewhere_is_accepted():
    result = plan(alias_domains=[], aliases={'sales@falcot.com': 'jean@falcot.com'}, mailbox_domains=[],
                  mailboxes={}, local_domains=['mx1.falcot.com'], elsewhere_domains=['falcot.com'])
    assert result['alias_entries'] == []
