"""Command line: roll the SASL users of a users file out with pyinfra, against an Ansible inventory.

    .venv/bin/python -m pyinfra_mailforge sasl-users --users-file FILE [--vault-password-file FILE]
        [--inventory inventory/lab] [--hosts mail_servers] [--parallel N]

The same file, inventory and host pattern as playbooks/sasl_users.yml. One
line per host says what changed; the exit status is 1 when any host failed.
"""
import argparse
import json
import logging
import os
import sys

from pyinfra_mailforge import inventory as mailforge_inventory

VAULT_PASSWORD_FILE_VARIABLE = 'MAILFORGE_VAULT_PASSWORD_FILE'


def parser():
    top = argparse.ArgumentParser(prog='python -m pyinfra_mailforge', description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest='command', required=True)
    sasl = commands.add_parser('sasl-users', help='roll out the SASL users of a users file')
    sasl.add_argument('--users-file', required=True,
                      help="YAML with sasl_users (and sasl_users_exclusive), as for playbooks/sasl_users.yml")
    sasl.add_argument('--vault-password-file', default=os.environ.get(VAULT_PASSWORD_FILE_VARIABLE),
                      help='file holding the vault password, or a script printing it (default: $%s)'
                      % VAULT_PASSWORD_FILE_VARIABLE)
    sasl.add_argument('--inventory', '-i', default='inventory/lab', help='Ansible inventory (default inventory/lab)')
    sasl.add_argument('--hosts', default='mail_servers',
                      help='Ansible host pattern (default mail_servers); hosts that are not MX hosts are skipped')
    sasl.add_argument('--parallel', type=int, default=20, help='hosts at a time (default 20, as ansible.cfg forks)')
    return top


def sasl_users(args):
    # Imported here so that --help works without connecting anything.
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all
    from pyinfra.api.operations import run_ops
    from pyinfra.context import ctx_host, ctx_state

    from pyinfra_mailforge.deploys.sasl_users import read_users_file, sasl_users as deploy

    users, exclusive = read_users_file(args.users_file, args.vault_password_file)
    hosts, groups = mailforge_inventory.load(args.inventory, args.hosts)
    state = State(Inventory((hosts, {})), Config(PARALLEL=args.parallel), check_for_changes=False)
    connect_all(state)
    unreachable = sorted(host.name for host in state.inventory if host not in state.activated_hosts)
    metas = {}
    with ctx_state.use(state):
        for host in state.inventory.get_active_hosts():
            with ctx_host.use(host):
                metas[host.name] = deploy(users=users, exclusive=exclusive, groups=groups)
    run_ops(state)
    failed = list(unreachable)
    for name in sorted(metas):
        print('%s: %s' % (name, _report(metas[name])))
        if metas[name] is not None and not metas[name].did_succeed(_raise_if_not_complete=False):
            failed.append(name)
    for name in unreachable:
        print('%s: unreachable' % name)
    return 1 if failed else 0


def _report(meta):
    if meta is None:
        return 'skipped (not an MX host)'
    if not meta.is_complete() or meta.did_error():
        return 'failed'
    if not meta.did_change():
        return 'unchanged'
    # The host's converge prints its result (user names and counts, no passwords) as JSON.
    counts = json.loads(meta.stdout.strip().splitlines()[-1])['counts']
    return 'changed: %(added)d added, %(changed)d changed, %(removed)d removed, %(unchanged)d unchanged' % counts


def main(argv=None):
    args = parser().parse_args(argv)
    # pyinfra reports failed commands (with the host's stderr) and unreachable hosts through logging.
    logging.basicConfig(format='%(message)s', level=logging.WARNING)
    return sasl_users(args)


if __name__ == '__main__':
    sys.exit(main())
