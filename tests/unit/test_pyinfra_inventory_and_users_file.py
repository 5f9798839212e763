"""The pyinfra side's inputs: the Ansible inventory as pyinfra hosts, the vault-encrypted users file, the CLI."""
from pathlib import Path

import pytest
from ansible.errors import AnsibleError
from ansible.parsing.vault import VaultLib, VaultSecret

from pyinfra_mailforge import inventory
from pyinfra_mailforge.__main__ import parser
from pyinfra_mailforge.deploys.sasl_users import read_users_file

TOP = Path(__file__).resolve().parents[2]
LAB_SSH = {'ssh_user': 'root', 'ssh_key': '/var/cache/mailforge-lab/id_ed25519',
           'ssh_known_hosts_file': '/dev/null', 'ssh_strict_host_key_checking': 'no'}


def test_lab_inventory_as_ansible_reads_it():
    hosts, groups = inventory.load(TOP / 'inventory/lab', 'mx_hosts')
    assert hosts == [('mx1', dict(LAB_SSH, ssh_hostname='198.18.0.10')),
                     ('mx2', dict(LAB_SSH, ssh_hostname='198.18.0.11'))]
    assert groups['mx_hosts'] == ['mx1', 'mx2'] and groups['mailbox_hosts'] == ['mbox']


def test_host_patterns_are_ansibles():
    hosts, _groups = inventory.load(TOP / 'inventory/lab', 'mail_servers:!mbox')
    assert [name for name, _data in hosts] == ['mx1', 'mx2']


@pytest.mark.parametrize('variables, culprit', [
    ({'ansible_ssh_common_args': '-o ProxyJump=bastion'}, 'proxyjump'),
    ({'ansible_ssh_extra_args': '-J bastion'}, "'-J'"),
    ({'ansible_connection': 'local'}, 'local'),
    ({'ansible_become': True}, 'ansible_become'),
])
def test_what_pyinfra_cannot_do_is_refused(variables, culprit):
    with pytest.raises(inventory.InventoryError, match=culprit):
        inventory.ssh_data('mx9', variables)


def test_port_and_user_from_ssh_options():
    assert inventory.ssh_data('mx9', {'ansible_host': '192.0.2.9', 'ansible_ssh_common_args': '-o Port=2222 -o User=ops'}) \
        == {'ssh_hostname': '192.0.2.9', 'ssh_port': 2222, 'ssh_user': 'ops'}


USERS_FILE = 'sasl_users:\n  - {name: jean, password: "s3cret-j"}\nsasl_users_exclusive: true\n'


def test_vault_encrypted_users_file(tmp_path):
    password_file = tmp_path / 'vault-pass'
    password_file.write_text('vault-pw\n')
    users_file = tmp_path / 'users.vault.yml'
    users_file.write_bytes(VaultLib([('default', VaultSecret(b'vault-pw'))]).encrypt(USERS_FILE))
    assert read_users_file(users_file, password_file) == ([{'name': 'jean', 'password': 's3cret-j'}], True)
    password_file.write_text('wrong\n')
    with pytest.raises(AnsibleError):
        read_users_file(users_file, password_file)
    with pytest.raises(ValueError, match='vault-encrypted'):
        read_users_file(users_file, None)


def test_plain_users_file_and_its_checks(tmp_path):
    users_file = tmp_path / 'users.yml'
    users_file.write_text(USERS_FILE)
    assert read_users_file(users_file) == ([{'name': 'jean', 'password': 's3cret-j'}], True)
    users_file.write_text(USERS_FILE.replace('sasl_users_exclusive', 'sasl_users_exclusiv'))
    with pytest.raises(ValueError, match='sasl_users_exclusiv') as refused:
        read_users_file(users_file)
    assert 's3cret-j' not in str(refused.value)


def test_command_line(monkeypatch):
    monkeypatch.setenv('MAILFORGE_VAULT_PASSWORD_FILE', '/srv/pw')
    args = parser().parse_args(['sasl-users', '--users-file', 'u.yml', '--hosts', 'mx1'])
    assert (args.users_file, args.vault_password_file, args.inventory, args.hosts) == ('u.yml', '/srv/pw',
                                                                                       'inventory/lab', 'mx1')
