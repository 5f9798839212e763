"""The SASL users of a users file onto every MX host: playbooks/sasl_users.yml, in pyinfra."""
from pathlib import Path

from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, get_file_vault_secret, is_encrypted
from pyinfra import host
from pyinfra.api import deploy

from pyinfra_mailforge.operations import sasldb_users
from ansible_collections.mailforge.postfix.plugins.lookup.sasl_users_file import parse_users_file
from ansible_collections.mailforge.postfix.plugins.module_utils import mail_fleet


def read_users_file(path, vault_password_file=None):
    """(users, exclusive) of a users file in playbooks/sasl_users.yml's format, vault-encrypted or not.

    The vault password is read from a file (or, when the file is executable,
    from what it prints) by ansible-core, as --vault-password-file does.
    """
    data = Path(path).read_bytes()
    if is_encrypted(data):
        if not vault_password_file:
            raise ValueError('%s is vault-encrypted; give a vault password file' % path)
        secret = get_file_vault_secret(filename=str(vault_password_file), loader=DataLoader())
        secret.load()
        data = VaultLib([('default', secret)]).decrypt(data)
    return parse_users_file(data.decode('utf-8'), str(path))


@deploy('Roll out SASL users')
def sasl_users(users, exclusive=False, groups=None):
    """Write ``users`` into the SASL database of this host when it is an MX host.

    + users, exclusive: as read_users_file returns them
    + groups: the inventory's group name -> member names (inventory.load), which decide who is an MX
      host as in the playbook (mail_fleet.parts)

    Returns the sasldb_users operation's meta, or None on a host that is not an MX host.
    """
    is_mx, _is_mailbox = mail_fleet.parts(host.name, groups or {})
    # Only MX hosts offer submission; a mailbox host that is not one has no SASL database.
    if not is_mx:
        return None
    return sasldb_users.users(name='Write the users into the SASL database', users=users, exclusive=exclusive)
