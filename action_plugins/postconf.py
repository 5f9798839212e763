# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of mailforge.postfix.postconf: no module run on a host whose main.cf already has the values.

Given the option snapshot (main.cf as the postfix role's host probe read it earlier in the run), it
compares the task's parameters with it by the module's own comparison (plugin_utils/postfix_snapshot);
only when they differ, or when there is no usable snapshot, does the module run on the host.
"""

from __future__ import annotations

from ansible_collections.mailforge.postfix.plugins.module_utils import main_cf
from ansible_collections.mailforge.postfix.plugins.plugin_utils import postfix_snapshot

NO_CHANGE = dict(changed_keys=[], removed_keys=[], restart_required=False)


def unchanged(params, snapshot):
    """Whether main.cf in ``snapshot`` has every value of ``params`` (the module's validated options)."""
    _live, changes = main_cf.compare(main_cf.desired_values(params['parameters']), snapshot.main_cf, snapshot.main_cf_warnings)
    return not main_cf.changed_keys(changes)


class ActionModule(postfix_snapshot.SnapshotAction):

    module_name = 'mailforge.postfix.postconf'
    argument_spec = main_cf.ARGUMENT_SPEC
    no_change = NO_CHANGE
    unchanged = staticmethod(unchanged)
