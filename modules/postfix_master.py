#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postfix_master
short_description: Manage services in Postfix master.cf with validation
description:
  - Adds, changes and removes the listed services in Postfix C(master.cf) through C(postconf -M).
    Services that are not listed are left alone.
  - A service is identified by C(name/type), for example C(submission/inet). A listed service is
    compared with the entry C(postconf -M) prints, field by field as written, so C(-) and an
    explicit value that equals Postfix's default (for example C(y) for O(services[].private)) differ.
  - C(-o) values are checked like the values of M(mailforge.postfix.postconf), so C(yes) or C(no) where
    the parameter's built-in default is one of them, and a whole number where that is one.
  - Changes are applied to a private copy of C(main.cf) and C(master.cf) first and checked with
    C(postconf -n) and C(postconf -M); only a copy without new warnings (for example an
    C(unused parameter) from a misspelt C(-o) option) is installed, atomically, over the live
    C(master.cf).
version_added: 0.1.0
author: mailforge team (!UNKNOWN)
options:
  config_dir:
    description: Postfix configuration directory holding C(main.cf) and C(master.cf).
    type: path
    default: /etc/postfix
  services:
    description: Services to manage.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Service name, for example C(submission), C(smtp) or C(127.0.0.1:10025).
        type: str
        required: true
      type:
        description: Transport type, one of C(inet), C(unix), C(unix-dgram), C(fifo), C(pass).
        type: str
        required: true
      private:
        description: C(-), C(y) or C(n); a boolean becomes C(y) or C(n).
        type: raw
        default: '-'
      unpriv:
        description: C(-), C(y) or C(n); a boolean becomes C(y) or C(n).
        type: raw
        default: '-'
      chroot:
        description: C(-), C(y) or C(n); a boolean becomes C(y) or C(n).
        type: raw
        default: '-'
      wakeup:
        description: C(-), a number of seconds, or a number followed by C(?).
        type: raw
        default: '-'
      maxproc:
        description: C(-) or a number of processes.
        type: raw
        default: '-'
      command:
        description: Daemon program, for example C(smtpd). Required when O(services[].state=present).
        type: str
      args:
        description:
          - Arguments after the C(-o) options, for example C(flags=DRhu) for C(pipe).
          - An argument that contains whitespace is written grouped as C({ argument }).
        type: list
        elements: raw
      options:
        description:
          - Parameter overrides written as C(-o name=value), in the order given.
          - Values are rendered as in M(mailforge.postfix.postconf); a value with whitespace is
            written as C(-o {name=value}).
        type: dict
      state:
        description: Whether the service should exist.
        type: str
        choices: [present, absent]
        default: present
  snapshot:
    description:
      - Lines of the postfix role's look at the host (C(postfix__config_snapshot)) earlier in the run, that is
        C(postconf -n) and C(postconf -M) of C(/etc/postfix), with their warnings and the look's token.
      - When given, the action plugin compares O(services) with them, as the module compares them with
        the live master.cf, and when nothing differs answers without running the module on the host
        (RV(from_snapshot)). Once this module or M(mailforge.postfix.postconf) has run on the host,
        later tasks of the run there run the module.
      - Pass it only where nothing else has written main.cf or master.cf since that look; the roles of
        this collection do so. The module itself ignores it.
    type: list
    elements: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Planning and staged validation run; the live C(master.cf) is never written.
  diff_mode:
    support: full
    details: Shows the C(postconf -M) lines of the changed services only, before and after.
  platform:
    platforms: posix
notes:
  - Requires C(postconf) on the target. Commands run with C(LC_ALL=C).
  - Warnings the live configuration already produced are ignored unless they name an option
    of a changed service.
seealso:
  - module: mailforge.postfix.postconf
"""

EXAMPLES = r"""
- name: Offer submission on port 587 for authenticated clients only
  mailforge.postfix.postfix_master:
    services:
      - name: submission
        type: inet
        private: n
        chroot: y
        command: smtpd
        options:
          syslog_name: postfix/submission
          smtpd_tls_security_level: encrypt
          smtpd_sasl_auth_enable: true
          smtpd_client_restrictions: [permit_sasl_authenticated, reject]
      - name: smtps
        type: inet
        state: absent
  register: master
  notify: Reload postfix

- name: Hand mail to Dovecot's LDA
  mailforge.postfix.postfix_master:
    services:
      - name: dovecot
        type: unix
        unpriv: n
        chroot: n
        command: pipe
        args: [flags=DRhu, user=vmail:vmail, argv=/usr/lib/dovecot/deliver, -f, "${sender}", -d, "${recipient}"]
"""

RETURN = r"""
changed_services:
  description: C(name/type) of the services added, changed or removed (or that would be), sorted.
  returned: always
  type: list
  elements: str
  sample: [smtps/inet, submission/inet]
removed_services:
  description: C(name/type) of the services removed, sorted.
  returned: always
  type: list
  elements: str
  sample: [smtps/inet]
restart_required:
  description: True when an C(inet) service was added or removed, which opens or closes a listening
    socket; other changes take effect with C(postfix reload).
  returned: always
  type: bool
  sample: true
from_snapshot:
  description: True when the action plugin answered from O(snapshot), without running the module on the host;
    nothing differed.
  returned: always
  type: bool
  sample: true
warnings_ignored:
  description: Warnings of the staged configuration that the live configuration already had and that
    concern no option of a changed service.
  returned: when the staged configuration was validated
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailforge.postfix.plugins.module_utils import main_cf, master_cf
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import (
    Postconf, PostfixCommandError)
from ansible_collections.mailforge.postfix.plugins.module_utils.staging import (
    StagedConfig, StagedValidationError, ConcurrentChangeError)


def converge(postconf, service_items, check_mode=False):
    """Bring the listed services in ``postconf.config_dir``/master.cf to their desired entries."""
    services = master_cf.desired_services(service_items)
    live_output, live_master_warnings = postconf.services()
    live, changes = master_cf.compare(services, live_output)
    names = master_cf.changed_services(changes)
    before, after = master_cf.diff_text(live, changes)
    result = dict(
        changed=bool(names),
        changed_services=names,
        removed_services=sorted(changes.remove),
        restart_required=master_cf.restart_required(changes, live),
        diff=dict(before=before, after=after),
    )
    if not names:
        return result

    defaults = main_cf.parse_parameters(postconf.defaults())
    problems = [problem for service in changes.set
                for problem in main_cf.value_problems(service.options, defaults,
                                                      'service %s: option' % master_cf.identity(service))]
    if problems:
        raise ValueError('master.cf left unchanged: %s' % '; '.join(problems))
    baseline = postconf.non_default()[1] + live_master_warnings
    touched_options = sorted(set(option for service in changes.set for option in service.options))
    with StagedConfig(postconf.config_dir) as stage:
        staged = postconf.at(stage.path)
        for service in changes.set:
            _apply(staged.set_service, master_cf.identity(service), master_cf.written_entry(service))
        for identity in changes.remove:
            _apply(staged.remove_service, identity)
        failing, ignored = main_cf.judge_warnings(baseline, staged.check(), stage.path,
                                                  postconf.config_dir, touched_options)
        if failing:
            raise StagedValidationError(_explain(failing, changes))
        result['warnings_ignored'] = ignored
        if not check_mode:
            stage.install('master.cf')
    return result


def _apply(action, identity, *entry):
    try:
        action(identity, *entry)
    except PostfixCommandError as error:
        raise StagedValidationError('service %s: postconf rejected the entry, master.cf left unchanged: %s'
                                    % (identity, error.stderr.strip()))


def _explain(failing, changes):
    culprits = []
    for option in main_cf.offending_parameters(failing):
        owners = master_cf.services_setting(changes, option)
        culprits.append('%s (set by %s)' % (option, ', '.join(owners)) if owners else option)
    return main_cf.rejection_message('master.cf', failing, culprits)


def main():
    module = AnsibleModule(
        argument_spec=master_cf.ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    postconf = Postconf(module.run_command, module.get_bin_path('postconf', required=True),
                        module.params['config_dir'])
    try:
        result = converge(postconf, module.params['services'], module.check_mode)
    except (ValueError, OSError, PostfixCommandError, StagedValidationError, ConcurrentChangeError) as error:
        module.fail_json(msg=str(error))
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
