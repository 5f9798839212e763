# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of mailforge.postfix.postfix_master: no module run on a host whose master.cf already has the services.

Given the option snapshot (master.cf as the postfix role's host probe read it earlier in the run), it
compares the task's services with it by the module's own comparison (plugin_utils/postfix_snapshot);
only when they differ, or when there is no usable snapshot, does the module run on the host.
"""

from __future__ import annotations

from ansible_collections.mailforge.postfix.plugins.module_utils import master_cf
from ansible_collections.mailforge.postfix.plugins.plugin_utils import postfix_snapshot

NO_CHANGE = dict(changed_services=[], removed_services=[], restart_required=False)


def unchanged(params, snapshot):
    """Whether master.cf in ``snapshot`` has every service of ``params`` (the module's validated options)."""
    _live, changes = master_cf.compare(master_cf.desired_services(params['services']), snapshot.master_cf)
    return not master_cf.changed_services(changes)


class ActionModule(postfix_snapshot.SnapshotAction):

    module_name = 'mailforge.postfix.postfix_master'
    argument_spec = master_cf.ARGUMENT_SPEC
    no_change = NO_CHANGE
    unchanged = staticmethod(unchanged)
