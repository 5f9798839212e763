"""Postfix main.cf parameters, as the postconf module sets them."""
from pyinfra import host
from pyinfra.api import OperationValueError, StringCommand, operation

from pyinfra_mailforge import remote
from pyinfra_mailforge.facts import PostconfNonDefault, PostconfUnused
from ansible_collections.mailforge.postfix.plugins.module_utils import main_cf


@operation()
def parameters(parameters, config_dir='/etc/postfix', validate=True, reload=True, restart_drain_timeout=60):
    """Set (or, with a None value, remove) main.cf parameters; the others are left alone.

    + parameters: name -> string, integer, boolean or list (joined with ", "), None to remove
    + config_dir: the configuration directory (postconf -c)
    + validate: check the values and the staged copy of main.cf and master.cf before installing it
    + reload: check the live configuration and reload Postfix after a change
    + restart_drain_timeout: seconds a restart waits for the deliveries in progress to end (0: at once)

    A change is staged in a private copy of main.cf and master.cf, checked there
    with postconf -n/-M and postmap, and installed over the live main.cf only if
    Postfix reports nothing new (the postconf module's converge, run on the host).
    Parameters that ``postfix reload`` does not apply (main_cf.RESTART_PARAMETERS)
    restart Postfix instead, as the postfix_restart module does: after the
    deliveries in progress end, so that none is made twice.
    """
    try:
        desired = main_cf.desired_values(parameters)
    except ValueError as error:
        raise OperationValueError(str(error))
    live = host.get_fact(PostconfNonDefault, config_dir=config_dir)
    unused = host.get_fact(PostconfUnused, config_dir=config_dir)
    changes = main_cf.plan(desired, live, unused)
    if not main_cf.changed_keys(changes):
        host.noop('main.cf already has %s' % ', '.join(sorted(desired)))
        return
    yield remote.converge_command('postconf', dict(config_dir=config_dir, parameters=desired, validate=validate))
    if reload:
        # The role's handlers do the same: postfix check first, so a broken
        # configuration stops before the running daemons read it.
        if not main_cf.restart_required(changes):
            yield StringCommand('postfix', '-c', config_dir, 'check', '&&', 'systemctl', 'reload', 'postfix')
            return
        yield StringCommand('postfix', '-c', config_dir, 'check')
        yield remote.converge_command('postfix_restart', dict(config_dir=config_dir, unit='postfix.service',
                                                              drain_timeout=restart_drain_timeout))
