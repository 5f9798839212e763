# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic for main.cf parameters: validate, render, plan, judge warnings."""

from __future__ import annotations

import re
from collections import namedtuple

# Per-transport parameters carry the master.cf service name as their prefix,
# and service names may contain '-', e.g. "relay-out_destination_rate_delay".
PARAMETER_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_-]*$')

# Changes that "postfix reload" does not apply: master(8) binds its listeners
# and resolves its directories and accounts only when it starts.
RESTART_PARAMETERS = frozenset((
    'inet_interfaces',
    'inet_protocols',
    'queue_directory',
    'data_directory',
    'process_id_directory',
    'daemon_directory',
    'mail_owner',
    'setgid_group',
))

# "postconf -c DIR -n" of Postfix 3.7 prints config_directory = DIR whenever
# DIR is not the compiled-in default, although main.cf does not contain it.
IMPLIED_BY_CONFIG_DIR = 'config_directory'

# Parameters with a yes/no default that take other words as well.
NOT_BOOLEANS = frozenset((
    'smtpd_forbid_bare_newline',  # Postfix 3.7.10+: no, yes, normalize or reject
))

# Integer-looking defaults of parameters that take other text as well.
NOT_NUMBERS = frozenset((
    'compatibility_level',       # a release level such as 3.6
    'lmtp_tcp_port',             # a service name or a port
    'maillog_file_permissions',  # octal text
    'milter_protocol',           # version with optional extensions
    'mail_release_date',         # read-only
    'process_id',                # read-only
))

_INTEGER = re.compile(r'^-?[0-9]+$')
_UNUSED = re.compile(r'^(?P<file>\S+): unused parameter: (?P<name>[^=\s]+)=')
# Other ways Postfix names a parameter: 'parameter "name"' (deprecation),
# "bad numerical configuration: name = value", "parameter name: bad time value".
_NAMED_PARAMETER = (
    re.compile(r'parameter "(?P<name>[^"]+)"'),
    re.compile(r'configuration: (?P<name>[\w-]+) ='),
    re.compile(r'parameter (?P<name>[\w-]+): '),
)

Plan = namedtuple('Plan', 'set remove')

# The options of module postconf; its action plugin checks a task's input with them too.
ARGUMENT_SPEC = dict(
    config_dir=dict(type='path', default='/etc/postfix'),
    parameters=dict(type='dict', required=True),
    validate=dict(type='bool', default=True),
    snapshot=dict(type='list', elements='str'),
)


def render_value(value, what):
    """Render a YAML scalar or list the way it is written into Postfix files.

    ``what`` names the value in error messages.
    """
    if isinstance(value, list):
        return ', '.join(render_value(item, what) for item in value)
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise ValueError('%s: value must be a string, integer, boolean or a list of them, got %s'
                         % (what, type(value).__name__))
    if '\n' in value or '\r' in value:
        raise ValueError('%s: value must not contain a line break' % what)
    # Postfix strips surrounding whitespace itself; doing the same keeps the
    # comparison with "postconf -n" exact.
    return value.strip()


def check_parameter_name(name, what):
    if not isinstance(name, str) or not PARAMETER_NAME.match(name):
        raise ValueError('%s: %r is not a Postfix parameter name (letters, digits, "_" and "-")'
                         % (what, name))


def desired_values(parameters):
    """Validate the module's ``parameters`` option: name -> rendered string, or None to remove."""
    desired = {}
    for name, value in parameters.items():
        check_parameter_name(name, 'parameter %r' % (name,))
        if name == IMPLIED_BY_CONFIG_DIR:
            raise ValueError('parameter config_directory cannot be managed in main.cf; '
                             'use the config_dir option')
        desired[name] = None if value is None else render_value(value, 'parameter %s' % name)
    return desired


def parse_parameters(output):
    """Parse ``postconf`` output (``-n``, ``-d``) into name -> value."""
    values = {}
    for line in output.splitlines():
        name, sep, value = line.partition(' =')
        if sep:
            values[name] = value[1:] if value.startswith(' ') else value
    return values


def parse_non_default(output):
    """Parse ``postconf -n`` output into name -> value of the parameters set in main.cf."""
    values = parse_parameters(output)
    values.pop(IMPLIED_BY_CONFIG_DIR, None)
    return values


def value_problems(values, defaults, what='parameter'):
    """Values that Postfix would refuse to convert, judged by the kind of the built-in default.

    postconf(1) accepts any text and each daemon converts its own parameters
    only when it starts, so "maybe" for smtpd_helo_required surfaces as a
    fatal error in the mail log. A parameter whose default is yes/no is a
    boolean and one whose default is an integer a number, apart from
    NOT_BOOLEANS and NOT_NUMBERS (checked against the postconf(5) pages of
    Postfix 3.7 and 3.10). Values that expand other parameters ("$name") are
    not judged; anything else is left to the staged validation.
    """
    problems = []
    for name, value in values.items():
        default = defaults.get(name)
        if default is None or '$' in value:
            continue
        if default in ('yes', 'no') and name not in NOT_BOOLEANS and value.lower() not in ('yes', 'no'):
            problems.append('%s %s: %r is not yes or no' % (what, name, value))
        elif _INTEGER.match(default) and name not in NOT_NUMBERS and not _INTEGER.match(value):
            problems.append('%s %s: %r is not a whole number' % (what, name, value))
    return problems


def unused_parameters(warnings, file_name='main.cf'):
    """Names that ``postconf`` called unused in ``file_name``: present in the file but not in ``-n``."""
    names = []
    for warning in warnings:
        match = _UNUSED.match(warning)
        if match and match.group('file').endswith('/' + file_name):
            names.append(match.group('name'))
    return names


def plan(desired, live, present_unused=()):
    """Compare desired values with the live ``postconf -n`` values.

    ``present_unused`` are names written in main.cf that ``-n`` hides because
    Postfix does not use them; they still need ``-X`` to be removed.
    """
    to_set = dict((name, value) for name, value in sorted(desired.items())
                  if value is not None and live.get(name) != value)
    to_remove = sorted(name for name, value in desired.items()
                       if value is None and (name in live or name in present_unused))
    return Plan(to_set, to_remove)


def compare(desired, non_default_output, warnings):
    """(live values, Plan) of ``desired`` (from desired_values) against ``postconf -n`` output and its warnings."""
    live = parse_non_default(non_default_output)
    return live, plan(desired, live, unused_parameters(warnings))


def changed_keys(changes):
    return sorted(list(changes.set) + list(changes.remove))


def restart_required(changes):
    return any(name in RESTART_PARAMETERS for name in changed_keys(changes))


def diff_text(values, names):
    """``name = value`` lines for the given names that have a value."""
    lines = []
    for name in names:
        if values.get(name) is not None:
            lines.append(('%s = %s' % (name, values[name])).rstrip(' '))
    return ''.join(line + '\n' for line in lines)


def judge_warnings(baseline, staged, stage_dir, live_dir, touched_names):
    """Split the staged config's warnings into (failing, ignored), both with live paths.

    A warning fails when the live config did not already produce it, or when
    it names a parameter we touch. Old warnings about other parameters are
    left to whoever caused them: failing on them would block every change on
    a host that has one old mistake.
    """
    known = set(baseline)
    failing, ignored = [], []
    for warning in staged:
        as_live = warning.replace(stage_dir, live_dir)
        if as_live not in known or any(_names(as_live, name) for name in touched_names):
            failing.append(as_live)
        else:
            ignored.append(as_live)
    return failing, ignored


def _names(warning, name):
    return re.search(r'(?<![\w-])%s(?![\w-])' % re.escape(name), warning) is not None


def rejection_message(file_name, failing, culprits):
    """The error of a staged change that Postfix found problems with."""
    lead = '%s left unchanged: Postfix reported problems with the new configuration' % file_name
    if culprits:
        lead += ' (parameters: %s)' % ', '.join(culprits)
    return '%s: %s' % (lead, '; '.join(failing))


def offending_parameters(warnings):
    """Parameter names that warnings point at, in order, once each."""
    names = []
    for warning in warnings:
        for pattern in (_UNUSED,) + _NAMED_PARAMETER:
            match = pattern.search(warning)
            if match:
                if match.group('name') not in names:
                    names.append(match.group('name'))
                break
    return names
