"""pyinfra hosts and groups from an Ansible inventory, read by ansible-core itself.

ansible-core's InventoryManager and VariableManager read the inventory (every
format and plugin Ansible reads, group_vars and host_vars included) and its
Templar resolves the connection variables, so pyinfra reaches each host
exactly where Ansible does. pyinfra talks SSH through paramiko, not OpenSSH:
of ansible_ssh_common_args/ansible_ssh_extra_args only the options below mean
something to it, and any other option is refused rather than dropped.
"""
import shlex

from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible.vars.manager import VariableManager

# OpenSSH -o options and the pyinfra ssh connector data they become.
SSH_OPTIONS = {
    'stricthostkeychecking': 'ssh_strict_host_key_checking',
    'userknownhostsfile': 'ssh_known_hosts_file',
    'port': 'ssh_port',
    'user': 'ssh_user',
    'identityfile': 'ssh_key',
}
# Options that tune OpenSSH's own connection sharing or logging, which paramiko
# has no use for: ignoring them changes where and as whom nothing connects.
IGNORED_SSH_OPTIONS = frozenset(('controlmaster', 'controlpersist', 'controlpath', 'loglevel',
                                 'serveraliveinterval', 'serveralivecountmax'))
CONNECTION_VARIABLES = ('ansible_host', 'ansible_port', 'ansible_user', 'ansible_ssh_private_key_file',
                        'ansible_ssh_common_args', 'ansible_ssh_extra_args', 'ansible_connection',
                        'ansible_become')


class InventoryError(Exception):
    """The inventory asks for something the pyinfra connection cannot do."""


def ssh_data(name, variables):
    """pyinfra ssh connector data for host ``name`` from its (templated) Ansible connection variables."""
    if variables.get('ansible_connection') not in (None, 'ssh', 'paramiko', 'smart'):
        raise InventoryError('%s: ansible_connection %s is not SSH' % (name, variables['ansible_connection']))
    if variables.get('ansible_become'):
        raise InventoryError('%s: ansible_become is set; these operations log in as root over SSH' % name)
    data = {'ssh_hostname': variables.get('ansible_host') or name}
    for variable, key in (('ansible_user', 'ssh_user'), ('ansible_ssh_private_key_file', 'ssh_key')):
        if variables.get(variable):
            data[key] = str(variables[variable])
    if variables.get('ansible_port'):
        data['ssh_port'] = int(variables['ansible_port'])
    args = ' '.join(str(variables.get(v) or '') for v in ('ansible_ssh_common_args', 'ansible_ssh_extra_args'))
    words = shlex.split(args)
    while words:
        word = words.pop(0)
        if word != '-o' or not words:
            raise InventoryError('%s: ssh argument %r is not an -o option; pyinfra cannot pass it on' % (name, word))
        option, _sep, value = words.pop(0).partition('=')
        option = option.strip().lower()
        if option in SSH_OPTIONS:
            data[SSH_OPTIONS[option]] = int(value) if option == 'port' else value.strip()
        elif option not in IGNORED_SSH_OPTIONS:
            raise InventoryError('%s: ssh option %s has no pyinfra equivalent' % (name, option))
    if data.get('ssh_strict_host_key_checking', '').lower() == 'no':
        data['ssh_strict_host_key_checking'] = 'no'
    return data


def load(source, pattern='all'):
    """(hosts, groups) for pyinfra's Inventory: [(name, ssh data)] of the hosts ``pattern`` selects
    (an Ansible host pattern, e.g. ``mx_hosts`` or ``mail_servers:!mbox``), and every Ansible group's
    members among the whole inventory (name -> [host names]), which mail_fleet.parts reads."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(source)])
    variable_manager = VariableManager(loader=loader, inventory=inventory)
    selected = inventory.get_hosts(pattern)
    if not selected:
        raise InventoryError('no host of %s matches %r' % (source, pattern))
    hosts = []
    for host in selected:
        variables = variable_manager.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=variables)
        # Only the connection variables are templated: others may need
        # lookups (passwords) that have nothing to do with connecting.
        connection = {name: templar.template(variables[name]) for name in CONNECTION_VARIABLES if name in variables}
        hosts.append((host.name, ssh_data(host.name, connection)))
    groups = {group.name: [host.name for host in group.get_hosts()] for group in inventory.groups.values()}
    return hosts, groups
