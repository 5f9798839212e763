"""Users of a Cyrus SASL sasldb2 database, written in one step as the sasldb_users module does."""
import hashlib
import hmac
import secrets

from pyinfra import host
from pyinfra.api import OperationError, OperationValueError, operation

from pyinfra_mailforge import remote
from pyinfra_mailforge.facts import PostconfValue, SasldbState
from ansible_collections.mailforge.postfix.plugins.module_utils import sasldb

# The facts return each stored value as HMAC-SHA256 under this key. A new key
# per process keeps digests from one run useless for comparing with another's.
DIGEST_KEY = secrets.token_hex(32)


def digest(value, key=None):
    return hmac.new(bytes.fromhex(key or DIGEST_KEY), value, hashlib.sha256).hexdigest()


@operation()
def users(users, exclusive=False, realm=None, path='/var/spool/postfix/etc/sasldb2', link='/etc/sasldb2',
          owner='root', group='sasl', mode='0640', config_dir='/etc/postfix'):
    """Set the listed users' passwords (or remove users with state: absent) in a sasldb2 database.

    + users: list of {name, password, realm, state} (the sasldb_users module's users option)
    + exclusive: remove every user that is not listed
    + realm: realm of users without one; default smtpd_sasl_local_domain, else myhostname (postconf -xh)
    + path, link, owner, group, mode, config_dir: as the sasldb_users module's options

    Whether anything differs is decided here from keyed digests of the stored
    values (SasldbState), planned by module_utils/sasldb.py exactly as the
    module plans the passwords themselves. The users go to the host on stdin,
    never on a command line, and the module's converge writes them all at once.
    """
    for where, value in (('path', path), ('link', link)):
        if value is not None and not value.startswith('/'):
            # The module would resolve it against the host's working directory.
            raise OperationValueError('%s %r must be an absolute path' % (where, value))
    if realm is None and sasldb.needs_default_realm(users):
        realm = (host.get_fact(PostconfValue, parameter='smtpd_sasl_local_domain', config_dir=config_dir,
                               expand=True)
                 or host.get_fact(PostconfValue, parameter='myhostname', config_dir=config_dir, expand=True))
    try:
        wanted = sasldb.validate_users(users, realm)
    except ValueError as error:
        # validate_users never puts a password into its messages.
        raise OperationValueError(str(error))
    state = host.get_fact(SasldbState, path=path, link=link, owner=owner, group=group, mode=mode,
                          digest_key=DIGEST_KEY)
    if state.get('problem'):
        raise OperationError(state['problem'])
    existing = {bytes.fromhex(key): value for key, value in state['records'].items()}
    digested = [(user, user_realm, None if password is None else digest(password), user_state)
                for user, user_realm, password, user_state in wanted]
    records, added, changed, removed = sasldb.plan(existing, digested, exclusive)
    # The module's own tests of whether to write, on digests instead of passwords.
    rewrite = not state['exists'] or state['size'] == 0 or records != existing
    relink = link is not None and state['link'] != path
    if not (rewrite or state['attributes_differ'] or relink):
        host.noop('%s: %d users as listed' % (path, len(wanted)))
        return
    yield remote.converge_command('sasldb_users', dict(
        users=users, exclusive=exclusive, realm=realm, path=path, link=link, owner=owner, group=group,
        mode=mode, config_dir=config_dir))

