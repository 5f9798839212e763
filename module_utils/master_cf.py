# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic for master.cf services: validate, render, parse ``postconf -M``, plan."""

from __future__ import annotations

import re
from collections import namedtuple

from ansible_collections.mailforge.postfix.plugins.module_utils.main_cf import (
    check_parameter_name, render_value)

SERVICE_TYPES = ('inet', 'unix', 'unix-dgram', 'fifo', 'pass')
FLAG_FIELDS = ('private', 'unpriv', 'chroot')
_WAKEUP = re.compile(r'^(-|\d+\??)$')
_MAXPROC = re.compile(r'^(-|\d+)$')
_FIELD_COUNT = 8

Service = namedtuple('Service', 'name type private unpriv chroot wakeup maxproc command args options state')
Plan = namedtuple('Plan', 'set remove')

# The options of module postfix_master; its action plugin checks a task's input with them too.
ARGUMENT_SPEC = dict(
    config_dir=dict(type='path', default='/etc/postfix'),
    services=dict(type='list', elements='dict', required=True, options=dict(
        name=dict(type='str', required=True),
        type=dict(type='str', required=True),
        private=dict(type='raw', default='-'),
        unpriv=dict(type='raw', default='-'),
        chroot=dict(type='raw', default='-'),
        wakeup=dict(type='raw', default='-'),
        maxproc=dict(type='raw', default='-'),
        command=dict(type='str'),
        args=dict(type='list', elements='raw'),
        options=dict(type='dict'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
    )),
    snapshot=dict(type='list', elements='str'),
)


def identity(service):
    return '%s/%s' % (service.name, service.type)


def desired_services(items):
    """Validate the module's ``services`` option into a list of Service with rendered fields."""
    services = []
    seen = set()
    for index, item in enumerate(items):
        service = _service(item, index)
        if identity(service) in seen:
            raise ValueError('service %s is listed twice' % identity(service))
        seen.add(identity(service))
        services.append(service)
    return services


def _service(item, index):
    name, service_type = item.get('name'), item.get('type')
    if not isinstance(name, str) or not name or re.search(r'[\s/]', name) or name.startswith('#'):
        raise ValueError('services[%d]: name %r must be a non-empty word without "/" or whitespace'
                         % (index, name))
    label = 'service %s/%s' % (name, service_type)
    if service_type not in SERVICE_TYPES:
        raise ValueError('%s: type %r is not one of %s' % (label, service_type, ', '.join(SERVICE_TYPES)))
    state = item.get('state') or 'present'
    if state not in ('present', 'absent'):
        raise ValueError('%s: state %r is not present or absent' % (label, state))
    fields = dict((field, _flag(_field(item, field), field, label)) for field in FLAG_FIELDS)
    fields['wakeup'] = _matching(_field(item, 'wakeup'), _WAKEUP, 'wakeup', label,
                                 '"-", a number of seconds, or a number followed by "?"')
    fields['maxproc'] = _matching(_field(item, 'maxproc'), _MAXPROC, 'maxproc', label,
                                  '"-" or a number')
    command = item.get('command')
    if state == 'present' and (not isinstance(command, str) or not command or re.search(r'\s', command)):
        raise ValueError('%s: command %r must be one word, e.g. smtpd' % (label, command))
    args = [_argument(arg, '%s: args[%d]' % (label, i)) for i, arg in enumerate(item.get('args') or [])]
    options = {}
    for option, value in (item.get('options') or {}).items():
        check_parameter_name(option, '%s: option %r' % (label, option))
        options[option] = render_value(value, '%s: option %s' % (label, option))
    return Service(name, service_type, command=command, args=args, options=options, state=state, **fields)


def _field(item, field):
    value = item.get(field)
    return '-' if value is None else value


def _argument(value, what):
    # postconf -M drops the braces of a grouped first argument when it writes
    # master.cf, splitting it into several; so grouping is not offered at all.
    arg = render_value(value, what)
    if not arg or re.search(r'\s', arg) or arg.startswith('{'):
        raise ValueError('%s: %r must be one non-empty word, not starting with "{"; '
                         'give each word as its own item' % (what, value))
    return arg


def _flag(value, field, label):
    if isinstance(value, bool):
        return 'y' if value else 'n'
    if value in ('-', 'y', 'n'):
        return value
    raise ValueError('%s: %s must be "-", "y" or "n", got %r' % (label, field, value))


def _matching(value, pattern, field, label, expected):
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not pattern.match(text):
        raise ValueError('%s: %s must be %s, got %r' % (label, field, expected, value))
    return text


def written_entry(service):
    """The master.cf entry as handed to ``postconf -M name/type=ENTRY``.

    It is also what ``postconf -M`` prints back, after whitespace normalisation.
    """
    words = [service.name, service.type, service.private, service.unpriv, service.chroot,
             service.wakeup, service.maxproc, service.command]
    # Options precede the other arguments: Postfix stops reading -o at the
    # first argument that is not an option.
    for option, value in service.options.items():
        setting = '%s=%s' % (option, value)
        # A value with whitespace is grouped in braces (Postfix 3.0 and later).
        words += ['-o', '{%s}' % setting if re.search(r'\s', setting) else setting]
    return ' '.join(words + list(service.args))


def normalise(line):
    return ' '.join(line.split())


def parse_services(output):
    """Parse ``postconf -M`` output into identity -> normalised entry, in file order."""
    entries = {}
    for line in output.splitlines():
        fields = line.split(None, _FIELD_COUNT - 1)
        if len(fields) < _FIELD_COUNT:
            continue
        entries.setdefault('%s/%s' % (fields[0], fields[1]), normalise(line))
    return entries


def plan(services, live):
    to_set = [s for s in services
              if s.state == 'present' and live.get(identity(s)) != normalise(written_entry(s))]
    to_remove = [identity(s) for s in services if s.state == 'absent' and identity(s) in live]
    return Plan(to_set, to_remove)


def compare(services, services_output):
    """(live entries, Plan) of ``services`` (from desired_services) against ``postconf -M`` output."""
    live = parse_services(services_output)
    return live, plan(services, live)


def changed_services(changes):
    return sorted([identity(s) for s in changes.set] + list(changes.remove))


def restart_required(changes, live):
    """True when an inet listener appears or disappears; "postfix reload" handles the rest."""
    added = [identity(s) for s in changes.set if s.type == 'inet' and identity(s) not in live]
    removed = [i for i in changes.remove if i.endswith('/inet')]
    return bool(added or removed)


def diff_text(live, changes):
    """Before and after text covering only the changed services."""
    before = [live[i] for i in changed_services(changes) if i in live]
    after = [normalise(written_entry(s)) for s in sorted(changes.set, key=identity)]
    return ''.join(line + '\n' for line in before), ''.join(line + '\n' for line in after)


def services_setting(changes, option):
    """Identities of changed services that set ``-o option``, to name them in errors."""
    return [identity(s) for s in changes.set if option in s.options]
