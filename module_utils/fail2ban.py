# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fail2ban role's input and the files it writes, from its variables.

Postfix's anvil (sasl_auth_client_auth_rate_limit) answers a client that sends
too many AUTH commands with 450 at the AUTH step. This is the other way of
issue 12 point 6: Debian's fail2ban reads Postfix's SASL failures from the
journal and, after fail2ban_maxretry of them within fail2ban_findtime, shuts
the client out of the SMTP ports with nftables for fail2ban_bantime.

``problems`` checks the variables as the play sees them (a message per
culprit, naming the variable; lookup role_input, on the controller before any
host changes); ``files`` renders the two files the role writes (lookup
fail2ban_jail). Pure logic: nothing here reads or changes a host.

What the rendered jail relies on, checked against Debian's fail2ban 1.0.2-2
(bookworm) and 1.1.0-8 (trixie):

* ``filter.d/postfix.conf`` in mode ``auth`` matches smtpd's "SASL PLAIN
  authentication failed" warnings. Its daemon prefix (1.0.2:
  ``postfix(-\\w+)?/\\w+(?:/smtp[ds])?``) takes both ``postfix/smtpd`` (port 25)
  and ``postfix/submission/smtpd`` (the submission service's syslog_name), so
  it is used as it is.
* Its journalmatch is ``_SYSTEMD_UNIT=postfix.service`` in 1.0.2, a unit that
  logs nothing on Debian 12, where Postfix runs as ``postfix@-.service``; on
  Debian 13 (Postfix 3.10) smtpd logs under ``postfix.service`` (measured in the
  lab). The jail gives the filter both units, OR-ed (as a filter argument: set
  in the jail, it would be added to the filter's). _SYSTEMD_UNIT is a field journald sets
  itself, so no local user can log a line that bans an address.
* Debian 12's ``jail.d/defaults-debian.conf`` enables ``[sshd]`` with
  fail2ban's default backend, which looks for /var/log/auth.log; a host that
  logs to the journal only has none, and fail2ban then refuses to start at
  all. The file gives that jail the journal, as Debian 13's defaults-debian.conf
  does; whether it is enabled stays Debian's (or the site's) choice.
"""

from __future__ import annotations

import ipaddress
import re

from ansible.module_utils.parsing.convert_bool import boolean

JAIL = 'postfix-sasl'
JAIL_FILE = '/etc/fail2ban/jail.d/mailforge.conf'
SERVER_FILE = '/etc/fail2ban/fail2ban.d/mailforge.conf'
# Every smtpd of the Postfix instance Debian runs, port 25 and submission alike:
# postfix@-.service on Debian 12, postfix.service on Debian 13.
JOURNALMATCH = '_SYSTEMD_UNIT=postfix@-.service + _SYSTEMD_UNIT=postfix.service'
# Debian 13's own [sshd] settings (jail.d/defaults-debian.conf of 1.1.0-8).
SSHD_JOURNALMATCH = '_SYSTEMD_UNIT=ssh.service + _COMM=sshd'
BANACTIONS = ('nftables-multiport', 'nftables-allports')
# The units of a duration fail2ban reads (its MyTime.str2seconds knows more
# spellings; these are the ones accepted here).
UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}
_DURATION = re.compile(r'^\s*(?:\d+\s*[smhdw]\s*)+$')
_DURATION_PART = re.compile(r'(\d+)\s*([smhdw])')

VARIABLES = ('fail2ban_enabled', 'fail2ban_maxretry', 'fail2ban_findtime', 'fail2ban_bantime', 'fail2ban_ignoreip',
             'fail2ban_ports', 'fail2ban_banaction')


class Fail2banError(ValueError):
    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__('; '.join(self.problems))


def enabled(value):
    """fail2ban_enabled as Ansible reads a switch ("false" from -e key=value is off)."""
    return value is not None and boolean(value, strict=False)


def count(value):
    """A whole number given as a number or its digits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def seconds(value):
    """A duration in seconds: a whole number (600, "600") or fail2ban's units ("10m", "1h 30m"); else None."""
    whole = count(value)
    if whole is not None or isinstance(value, bool) or not _DURATION.match(str(value)):
        return whole
    return sum(int(number) * UNITS[unit] for number, unit in _DURATION_PART.findall(str(value)))


def _addresses(value):
    """(the entries of fail2ban_ignoreip, the ones that are no IP address or network), or (None, None)."""
    if not isinstance(value, (list, tuple)):
        return None, None
    entries = [str(entry).strip() for entry in value]
    refused = []
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            refused.append(entry)
    return entries, refused


def problems(v):
    """Every problem of the role's variables, each naming its variable; none while the role is off."""
    if not enabled(v['fail2ban_enabled']):
        return []
    found = []
    maxretry = count(v['fail2ban_maxretry'])
    if maxretry is None or maxretry < 1:
        found.append('fail2ban: fail2ban_maxretry must be a whole number of at least 1 (got %r)'
                     % (v['fail2ban_maxretry'],))
    for name in ('fail2ban_findtime', 'fail2ban_bantime'):
        duration = seconds(v[name])
        if duration is None or duration < 1:
            found.append('fail2ban: %s must be a duration of at least one second, whole seconds (600) or with '
                         'units s, m, h, d, w (10m, 1h, 1d, 1h 30m); got %r' % (name, v[name]))
    entries, refused = _addresses(v['fail2ban_ignoreip'])
    if entries is None:
        found.append('fail2ban: fail2ban_ignoreip must be a list of IP addresses or networks (got %r)'
                     % (v['fail2ban_ignoreip'],))
    elif refused:
        found.append('fail2ban: fail2ban_ignoreip must list IP addresses or networks (address/prefix); refused: %s'
                     % ', '.join(refused))
    ports = v['fail2ban_ports']
    numbers = [count(port) for port in ports] if isinstance(ports, (list, tuple)) else []
    if not numbers or any(number is None or not 1 <= number <= 65535 for number in numbers):
        found.append('fail2ban: fail2ban_ports must be a non-empty list of TCP port numbers (got %r)' % (ports,))
    if v['fail2ban_banaction'] not in BANACTIONS:
        found.append('fail2ban: fail2ban_banaction must be one of %s (got %r)'
                     % (', '.join(BANACTIONS), v['fail2ban_banaction']))
    return found


def jail(v):
    """The text of JAIL_FILE; Fail2banError naming every problem of the variables."""
    refused = problems(dict(v, fail2ban_enabled=True))
    if refused:
        raise Fail2banError(refused)
    ignoreip, _refused = _addresses(v['fail2ban_ignoreip'])
    settings = [
        ('enabled', 'true'),
        # As the filter's own journalmatch: set in the jail, it would be added to
        # the filter's (postfix.service in 1.0.2), not put in its place.
        ('filter', 'postfix[mode=auth, journalmatch="%s"]' % JOURNALMATCH),
        ('backend', 'systemd'),
        ('banaction', v['fail2ban_banaction']),
        ('port', ','.join(str(count(port)) for port in v['fail2ban_ports'])),
        ('maxretry', str(count(v['fail2ban_maxretry']))),
        ('findtime', str(seconds(v['fail2ban_findtime']))),
        ('bantime', str(seconds(v['fail2ban_bantime']))),
        ('ignoreip', ' '.join(ignoreip)),
    ]
    lines = [
        '# Written by mailforge (roles/fail2ban); a change here is overwritten.',
        '# Read after jail.conf and jail.d/defaults-debian.conf, before jail.local and',
        '# jail.d/*.local, which stay the site\'s to override.',
        '',
        '# Debian 12 enables [sshd] on /var/log/auth.log, which a host that logs to the',
        '# journal only lacks: fail2ban would not start. The journal instead, as Debian 13',
        '# sets it; on or off stays Debian\'s (or the site\'s) choice.',
        '[sshd]',
        'backend = systemd',
        'journalmatch = %s' % SSHD_JOURNALMATCH,
        '',
        '# Clients failing SMTP AUTH (smtpd\'s "SASL ... authentication failed" warnings,',
        '# port 25 and submission): after maxretry failures within findtime (seconds) the',
        '# client is refused at connect on these ports for bantime (seconds). The filter',
        '# reads every smtpd of Postfix\'s unit (postfix@-.service on Debian 12, postfix.service on 13).',
        '[%s]' % JAIL,
    ]
    lines += ['%s = %s' % (name, value) for name, value in settings]
    return '\n'.join(lines) + '\n'


def server():
    """The text of SERVER_FILE: fail2ban's own log (bans, unbans) in the journal, where the host's other logs are."""
    return ('# Written by mailforge (roles/fail2ban); a change here is overwritten.\n'
            '# Bans and unbans go to the journal (SYSLOG_IDENTIFIER fail2ban), with the\n'
            '# host\'s other logs, instead of /var/log/fail2ban.log.\n'
            '[Definition]\n'
            'logtarget = SYSTEMD-JOURNAL\n'
            'allowipv6 = auto\n')


def files(v):
    """{path: text} of both files the role writes; Fail2banError naming every problem of the variables."""
    return {JAIL_FILE: jail(v), SERVER_FILE: server()}
