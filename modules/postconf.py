#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postconf
short_description: Manage Postfix main.cf parameters with validation
description:
  - Sets and removes parameters in Postfix C(main.cf) through C(postconf).
  - Live values are read with C(postconf -n) and compared as the exact strings this module writes,
    so a second run with the same input changes nothing and runs no command that writes.
  - New values are checked against the kind of the parameter's built-in default
    (C(postconf -d)). Where that is C(yes) or C(no) the value must be C(yes) or C(no), where it is a
    whole number the value must be one; values that refer to other parameters with C($) are not judged.
  - Changes are then applied to a private copy of C(main.cf) and C(master.cf) and checked there with
    C(postconf -n) and C(postconf -M), and with C(postmap -q), which converts the global parameters
    as every Postfix program does on start. Only a copy without new warnings or errors is installed,
    atomically, over the live C(main.cf). A misspelt parameter name, which Postfix reports as an
    C(unused parameter), therefore fails the task and leaves the live files untouched.
  - Parameters not named in O(parameters) are left alone.
version_added: 0.1.0
author: mailforge team (!UNKNOWN)
options:
  config_dir:
    description: Postfix configuration directory holding C(main.cf) and C(master.cf).
    type: path
    default: /etc/postfix
  parameters:
    description:
      - Parameter name to value.
      - A string or integer is written as is (surrounding whitespace removed, as Postfix does),
        a boolean as C(yes) or C(no), a list joined with C(", ") in the order given.
      - V(null) removes the parameter from C(main.cf), so that Postfix uses its default.
      - Names are letters, digits, C(_) and C(-); C(config_directory) is refused, use O(config_dir).
    type: dict
    required: true
  validate:
    description:
      - Check the values and the staged configuration before installing it.
      - A warning or error fails the task when the live configuration did not already produce it,
        or when it names a parameter this task sets or removes. Warnings that the live
        configuration already had and that concern other parameters are ignored.
      - Set to V(false) only to repair a configuration the validation cannot cope with.
    type: bool
    default: true
  snapshot:
    description:
      - Lines of the postfix role's look at the host (C(postfix__config_snapshot)) earlier in the run, that is
        C(postconf -n) and C(postconf -M) of C(/etc/postfix), with their warnings and the look's token.
      - When given, the action plugin compares O(parameters) with them, as the module compares them with
        the live main.cf, and when nothing differs answers without running the module on the host
        (RV(from_snapshot)). Once this module or M(mailforge.postfix.postfix_master) has run on the
        host, later tasks of the run there run the module.
      - Pass it only where nothing else has written main.cf or master.cf since that look; the roles of
        this collection do so. The module itself ignores it.
    type: list
    elements: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Planning and staged validation run; the live C(main.cf) is never written.
  diff_mode:
    support: full
    details: Shows C(name = value) lines of the changed parameters only, before and after.
  platform:
    platforms: posix
notes:
  - Requires C(postconf) and C(postmap) on the target. Commands run with C(LC_ALL=C).
  - Other values, for example a time without a valid unit in a parameter only C(smtpd) reads, are
    converted by the daemon that reads them when it starts; such mistakes show in the mail log
    after the reload.
  - RV(restart_required) is true for changes that C(postfix reload) does not apply, namely
    C(inet_interfaces), C(inet_protocols), C(queue_directory), C(data_directory),
    C(process_id_directory), C(daemon_directory), C(mail_owner), C(setgid_group).
seealso:
  - module: mailforge.postfix.postfix_master
  - module: mailforge.postfix.postfix_map
"""

EXAMPLES = r"""
- name: Relay through the smarthost and accept mail for our domains
  mailforge.postfix.postconf:
    parameters:
      relayhost: "[smtp.example.net]:587"
      mydestination:
        - $myhostname
        - localhost
      smtpd_tls_auth_only: true
      message_size_limit: 52428800
      disable_vrfy_command: null
  notify: Reload postfix

- name: Listen on loopback only (needs a restart, not a reload)
  mailforge.postfix.postconf:
    parameters:
      inet_interfaces: loopback-only
  register: listen

- name: Restart when a reload is not enough
  ansible.builtin.service:
    name: postfix
    state: restarted
  when: listen.restart_required
"""

RETURN = r"""
changed_keys:
  description: Parameters set or removed (or, in check mode, that would be), sorted.
  returned: always
  type: list
  elements: str
  sample: [mydestination, relayhost]
removed_keys:
  description: Parameters removed from C(main.cf), sorted.
  returned: always
  type: list
  elements: str
  sample: [disable_vrfy_command]
restart_required:
  description: True when a changed parameter takes effect only after C(postfix stop) and C(postfix start).
  returned: always
  type: bool
  sample: false
from_snapshot:
  description: True when the action plugin answered from O(snapshot), without running the module on the host;
    nothing differed.
  returned: always
  type: bool
  sample: true
warnings_ignored:
  description: Warnings of the staged configuration that the live configuration already had and that
    concern no parameter of this task.
  returned: when the staged configuration was validated
  type: list
  elements: str
  sample: ["/etc/postfix/main.cf: unused parameter: old_typo=1"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils import main_cf
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import (
    Postconf, Postmap, PostfixCommandError)
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import (
    StagedConfig, StagedValidationError, ConcurrentChangeError)


def converge(postconf, postmap, parameters, validate=True, check_mode=False):
    """Bring main.cf in ``postconf.config_dir`` to ``parameters``; return the module result."""
    desired = main_cf.desired_values(parameters)
    live_output, live_warnings = postconf.non_default()
    live, changes = main_cf.compare(desired, live_output, live_warnings)
    names = main_cf.changed_keys(changes)
    result = dict(
        changed=bool(names),
        changed_keys=names,
        removed_keys=list(changes.remove),
        restart_required=main_cf.restart_required(changes),
        diff=dict(before=main_cf.diff_text(live, names),
                  after=main_cf.diff_text({**live, **changes.set}, changes.set)),
    )
    if not names:
        return result

    if validate:
        problems = main_cf.value_problems(changes.set, main_cf.parse_parameters(postconf.defaults()))
        if problems:
            raise ValueError('main.cf left unchanged: %s' % '; '.join(problems))
        baseline = live_warnings + postconf.services()[1]
    with StagedConfig(postconf.config_dir) as stage:
        staged = postconf.at(stage.path)
        if changes.set:
            staged.set_parameters(changes.set)
        if changes.remove:
            staged.remove_parameters(changes.remove)
        if validate:
            failing, ignored = main_cf.judge_warnings(baseline, staged.check(), stage.path,
                                                      postconf.config_dir, names)
            failing += _new_global_errors(postmap, stage.path)
            if failing:
                raise StagedValidationError(
                    main_cf.rejection_message('main.cf', failing, main_cf.offending_parameters(failing)))
            result['warnings_ignored'] = ignored
        if not check_mode:
            stage.install('main.cf')
    return result


def _new_global_errors(postmap, stage_dir):
    """Conversion errors of global parameters in the staged main.cf that the live one lacks."""
    staged = [e.replace(stage_dir, postmap.config_dir) for e in postmap.at(stage_dir).global_parameter_errors()]
    if not staged:
        return []
    live = postmap.global_parameter_errors()
    return [error for error in staged if error not in live]


def main():
    module = AnsibleModule(
        argument_spec=main_cf.ARGUMENT_SPEC,
        supports_check_mode=True,
    )

    config_dir = module.params['config_dir']
    postconf = Postconf(module.run_command, module.get_bin_path('postconf', required=True), config_dir)
    postmap = Postmap(module.run_command, module.get_bin_path('postmap', required=True), config_dir)
    try:
        result = converge(postconf, postmap, module.params['parameters'], module.params['validate'],
                          module.check_mode)
    except (ValueError, OSError, PostfixCommandError, StagedValidationError, ConcurrentChangeError) as error:
        module.fail_json(msg=str(error))
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
