# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""main.cf and master.cf as the postfix role's host probe read them, for the postconf and postfix_master actions.

The probe (roles/postfix/tasks/main.yml) prints the output and the warnings of ``postconf -n`` and
``postconf -M`` for /etc/postfix, then a token that is new on every probe; the roles hand those lines
to their postconf and postfix_master tasks as the option ``snapshot`` (postfix__config_snapshot). The
action compares the task's input with them, with the module's own code (module_utils main_cf and
master_cf): when nothing differs it answers without running its module on the host, as the module
would have answered. On a converged host that is every call, and a run saves a module run per call.

A snapshot holds only until something writes those files. In the site play that is these modules: as
soon as one of them runs on a host, whatever it found, the action records the snapshot's token in the
host's fact STALE_FACT, and every later call there runs its module. Ansible keeps no fact of a failed
task, so a failed module run marks nothing; the modules install main.cf and master.cf last, all or
nothing, and in the site play a failure ends the run on every host (any_errors_fatal). The Postfix
add-on packages that the roles install (postfix-pcre, postfix-pgsql) change dynamicmaps.cf only.
"""

from __future__ import annotations

from collections import namedtuple

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import diagnostics
from ansible_collections.mailforge.postfix.plugins.plugin_utils.templated import plain

STALE_FACT = 'mailforge_postfix_stale_snapshot'
CONFIG_DIR = '/etc/postfix'
TOKEN_PREFIX = 'postconf snapshot: '
# The probe's line prefixes: (postconf option, stream).
STREAMS = [(flag, stream) for flag in ('-n', '-M') for stream in ('out', 'err')]

Snapshot = namedtuple('Snapshot', 'token main_cf main_cf_warnings master_cf')


def parse(lines):
    """The Snapshot in the probe's lines; None unless the probe read both files and ended with its token."""
    text = {key: [] for key in STREAMS}
    token = None
    for line in lines or ():
        line = str(line)
        if line.startswith(TOKEN_PREFIX):
            token = line[len(TOKEN_PREFIX):].strip() or None
            continue
        for flag, stream in STREAMS:
            prefix = 'postconf %s %s:' % (flag, stream)
            if line.startswith(prefix):
                text[(flag, stream)].append(line[len(prefix) + 1:])
                break
    if token is None:
        return None
    joined = {key: ''.join(line + '\n' for line in value) for key, value in text.items()}
    return Snapshot(token, joined[('-n', 'out')], diagnostics(joined[('-n', 'err')]), joined[('-M', 'out')])


def usable(lines, task_vars, delegated):
    """The snapshot in ``lines``, if this task may be answered from it; else None."""
    if delegated:
        return None
    snapshot = parse(lines)
    if snapshot is None or (task_vars.get('ansible_facts') or {}).get(STALE_FACT) == snapshot.token:
        return None
    return snapshot


def validated(args, argument_spec):
    """The task's arguments with the module's defaults, or None if the module would refuse them."""
    result = ArgumentSpecValidator(argument_spec).validate(plain(dict(args)))
    return None if result.error_messages else result.validated_parameters


def run(action, task_vars, module_name, argument_spec, unchanged, no_change):
    """The result of ``action``'s task: from its snapshot when ``unchanged(params, snapshot)`` holds, else
    from running ``module_name`` on the host (without the snapshot), which makes the snapshot stale there.

    ``no_change`` is the rest of the module's result when it changes nothing. Input the module would
    refuse, and any other doubt (a ValueError from the comparison), goes to the module, for its message.
    """
    args = dict(action._task.args)
    snapshot = usable(args.pop('snapshot', None), task_vars, action._task.delegate_to)
    if snapshot is not None:
        params = validated(args, argument_spec)
        try:
            answer = params is not None and params['config_dir'] == CONFIG_DIR and unchanged(params, snapshot)
        except ValueError:
            answer = False
        if answer:
            return dict(no_change, changed=False, from_snapshot=True)
    result = action._execute_module(module_name=module_name, module_args=args, task_vars=task_vars)
    result['from_snapshot'] = False
    if snapshot is not None:
        result.setdefault('ansible_facts', {})[STALE_FACT] = snapshot.token
    return result


class SnapshotAction(ActionBase):
    """The action plugin of a module with the snapshot option; a subclass names the module and how to compare."""

    _supports_check_mode = True
    _supports_async = False
    module_name = None      # the module's FQCN
    argument_spec = None    # the module's argument spec
    no_change = None        # the rest of the module's result when it changes nothing

    @staticmethod
    def unchanged(params, snapshot):
        """Whether ``snapshot`` already holds the input ``params`` (the module's validated options)."""
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        result.update(run(self, task_vars, self.module_name, self.argument_spec, self.unchanged, self.no_change))
        return result
