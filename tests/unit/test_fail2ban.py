"""The fail2ban role's input and files (module_utils/fail2ban.py, lookups role_input and fail2ban_jail), no host.

What fail2ban itself makes of the rendered files (its filter matching
``postfix/submission/smtpd`` lines, ``fail2ban-client --test``) needs the
package; tests/host/test_fail2ban.py checks it on the lab's MX hosts.
"""
import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.mailforge.postfix.plugins.lookup import fail2ban_jail
from ansible_collections.mailforge.postfix.plugins.module_utils import fail2ban, role_input
from test_role_input import TOP, defaults

LAB_MX = yaml.safe_load((TOP / 'inventory/lab/group_vars/mx_hosts.yml').read_text())


def settings(**overrides):
    """The role's variables as the play sees them on a lab MX: its defaults, the lab's group_vars, ``overrides``."""
    found = defaults('fail2ban')
    found.update({name: value for name, value in LAB_MX.items() if name.startswith('fail2ban_')})
    found.update(overrides)
    return found


def problems(**overrides):
    return ' | '.join(role_input.problems('fail2ban', settings(**overrides)))


def section(text, name):
    """The ``key = value`` lines of section [name] of an ini text."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith('['):
            inside = line == '[%s]' % name
        elif inside and line and not line.startswith('#'):
            lines.append(line)
    return lines


@pytest.mark.parametrize('value, expected', [
    (600, 600),
    ('600', 600),
    ('10m', 600),
    ('1h', 3600),
    ('1d', 86400),
    ('1w', 604800),
    ('1h 30m', 5400),
    ('2h30m', 9000),
    ('45s', 45),
    ('0', 0),
    ('10min', None),         # fail2ban reads it; refused here, where only s, m, h, d, w are documented
    ('1.5h', None),
    ('-1', None),            # a permanent ban is not offered
    ('', None),
    ('10x', None),
    ('m', None),
    (True, None),
    (None, None),
    ([600], None),
])
def test_durations(value, expected):
    assert fail2ban.seconds(value) == expected


def test_the_lab_and_the_defaults_are_accepted():
    assert role_input.problems('fail2ban', settings()) == []
    assert role_input.problems('fail2ban', dict(defaults('fail2ban'), fail2ban_enabled=True)) == []


@pytest.mark.parametrize('overrides, culprits', [
    (dict(fail2ban_maxretry=0), ['fail2ban_maxretry must be a whole number of at least 1 (got 0)']),
    (dict(fail2ban_maxretry='three'), ["fail2ban_maxretry", "'three'"]),
    (dict(fail2ban_maxretry=True), ['fail2ban_maxretry']),
    (dict(fail2ban_maxretry=2.5), ['fail2ban_maxretry']),
    (dict(fail2ban_findtime='10 minutes'), ["fail2ban_findtime must be a duration", "'10 minutes'"]),
    (dict(fail2ban_findtime=0), ['fail2ban_findtime must be a duration of at least one second']),
    (dict(fail2ban_bantime='-1'), ["fail2ban_bantime", "'-1'"]),
    (dict(fail2ban_bantime='forever'), ['fail2ban_bantime']),
    (dict(fail2ban_ignoreip=['198.18.0.300']), ['fail2ban_ignoreip', 'refused: 198.18.0.300']),
    (dict(fail2ban_ignoreip=['127.0.0.1/8', 'outside.elsewhere.test', '198.18.0.0/33']),
     ['refused: outside.elsewhere.test, 198.18.0.0/33']),
    (dict(fail2ban_ignoreip='127.0.0.1/8 ::1'), ['fail2ban_ignoreip must be a list']),
    (dict(fail2ban_ports=[]), ['fail2ban_ports must be a non-empty list']),
    (dict(fail2ban_ports=[25, 70000]), ['fail2ban_ports', '70000']),
    (dict(fail2ban_ports=['smtp']), ['fail2ban_ports', 'smtp']),
    (dict(fail2ban_banaction='iptables-multiport'), ['fail2ban_banaction must be one of', 'iptables-multiport']),
])
def test_bad_input_is_refused_naming_the_variable(overrides, culprits):
    message = problems(**overrides)
    assert message.startswith('fail2ban: '), message
    for culprit in culprits:
        assert culprit in message, message


def test_every_problem_is_named_at_once():
    message = problems(fail2ban_maxretry=0, fail2ban_bantime='x', fail2ban_ignoreip=['nowhere'])
    assert message.count('fail2ban: ') == 3, message


@pytest.mark.parametrize('switch', [False, 'false', 'no', None])
def test_a_disabled_role_is_not_checked(switch):
    assert problems(fail2ban_enabled=switch, fail2ban_maxretry=0, fail2ban_ignoreip=['nowhere']) == ''


@pytest.mark.parametrize('overrides, expected', [
    # The lab's settings.
    ({}, ['enabled = true',
          'filter = postfix[mode=auth, journalmatch="_SYSTEMD_UNIT=postfix@-.service + _SYSTEMD_UNIT=postfix.service"]',
          'backend = systemd',
          'banaction = nftables-multiport',
          'port = 25,587',
          'maxretry = 3',
          'findtime = 600',
          'bantime = 600',
          'ignoreip = 127.0.0.1/8 ::1 198.18.0.100 198.18.0.102']),
    # The role's defaults, as numbers and text from -e key=value alike.
    (dict(fail2ban_maxretry='5', fail2ban_findtime='10m', fail2ban_bantime='1h', fail2ban_ignoreip=[],
          fail2ban_ports=['25', 587, 465], fail2ban_banaction='nftables-allports'),
     ['enabled = true',
      'filter = postfix[mode=auth, journalmatch="_SYSTEMD_UNIT=postfix@-.service + _SYSTEMD_UNIT=postfix.service"]',
      'backend = systemd',
      'banaction = nftables-allports',
      'port = 25,587,465',
      'maxretry = 5',
      'findtime = 600',
      'bantime = 3600',
      'ignoreip = ']),
])
def test_the_jail(overrides, expected):
    text = fail2ban.jail(settings(**overrides))
    assert section(text, 'postfix-sasl') == expected
    # Debian's [sshd] reads the journal, as Debian 13 ships it; enabled or not stays Debian's.
    assert section(text, 'sshd') == ['backend = systemd', 'journalmatch = _SYSTEMD_UNIT=ssh.service + _COMM=sshd']


def test_the_files_and_the_log_target():
    found = fail2ban.files(settings())
    assert sorted(found) == ['/etc/fail2ban/fail2ban.d/mailforge.conf', '/etc/fail2ban/jail.d/mailforge.conf']
    assert section(found['/etc/fail2ban/fail2ban.d/mailforge.conf'], 'Definition') == [
        'logtarget = SYSTEMD-JOURNAL', 'allowipv6 = auto']
    assert all(text.endswith('\n') and not text.endswith('\n\n') for text in found.values())


def test_the_jail_is_refused_with_the_same_problems_even_when_disabled():
    with pytest.raises(fail2ban.Fail2banError) as refused:
        fail2ban.jail(settings(fail2ban_enabled=False, fail2ban_maxretry=0))
    assert refused.value.problems == [
        'fail2ban: fail2ban_maxretry must be a whole number of at least 1 (got 0)']


def lookup():
    loader = DataLoader()
    return fail2ban_jail.LookupModule(loader=loader, templar=Templar(loader=loader))


def test_the_lookup_renders_the_files_from_the_role_variables():
    assert lookup().run([], settings()) == [fail2ban.files(settings())]


@pytest.mark.parametrize('variables, message', [
    (settings(fail2ban_ignoreip=['mx1.falcot.test']), 'fail2ban: fail2ban_ignoreip must list IP addresses'),
    ({name: value for name, value in settings().items() if name != 'fail2ban_ports'},
     'fail2ban_ports not defined; use it from inside the fail2ban role'),
])
def test_the_lookup_refuses_naming_the_variable(variables, message):
    with pytest.raises(AnsibleError, match=message):
        lookup().run([], variables)


def test_the_argument_specs_defaults_are_the_role_defaults():
    specs = yaml.safe_load((TOP / 'roles/fail2ban/meta/argument_specs.yml').read_text())['argument_specs']['main']
    assert {name: option.get('default') for name, option in specs['options'].items()} == defaults('fail2ban')
