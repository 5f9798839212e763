"""Facts: the live Postfix parameters, and the state of lookup tables and sasldb2 databases.

The postconf facts are plain postconf(1) runs with LC_ALL=C (its messages are
parsed by their English wording), parsed by module_utils. The table and
database facts run the Ansible modules' own readers on the host (see
host_driver.py) and never return a secret: file contents come back as
sha256, passwords as keyed digests.
"""
import json

from pyinfra.api import FactBase, QuoteString, StringCommand
from pyinfra.api.exceptions import FactProcessError

from pyinfra_mailforge import remote
from ansible_collections.mailforge.postfix.plugins.module_utils import main_cf, postfix_cli


def _postconf(config_dir, *args):
    return StringCommand('LC_ALL=C', 'postconf', '-c', QuoteString(config_dir), *args)


class PostconfNonDefault(FactBase):
    """``postconf -n``: name -> value of every parameter set in main.cf (config_directory left out)."""

    def command(self, config_dir='/etc/postfix'):
        return _postconf(config_dir, '-n')

    @staticmethod
    def default():
        return {}

    def process(self, output):
        return main_cf.parse_non_default('\n'.join(output))


class PostconfUnused(FactBase):
    """Names written in main.cf that Postfix does not use: ``postconf -n`` hides them, removing them needs -X."""

    def command(self, config_dir='/etc/postfix'):
        # Only the warnings: stdout, the values, is PostconfNonDefault's.
        return StringCommand(_postconf(config_dir, '-n'), '2>&1', '>/dev/null')

    @staticmethod
    def default():
        return []

    def process(self, output):
        return main_cf.unused_parameters(postfix_cli.diagnostics('\n'.join(output)))


class PostconfValue(FactBase):
    """``postconf -h NAME`` (``-xh`` with expand=True): one parameter's value, default or not."""

    def command(self, parameter, config_dir='/etc/postfix', expand=False):
        return _postconf(config_dir, '-xh' if expand else '-h', QuoteString(parameter))

    @staticmethod
    def default():
        return ''

    def process(self, output):
        return '\n'.join(output).strip()


class _HostDriverFact(FactBase):
    kind = None

    def process(self, output):
        try:
            return json.loads('\n'.join(output))
        except ValueError:
            raise FactProcessError('%s: the host answered something that is not JSON' % self.kind)


class SasldbState(_HostDriverFact):
    """A sasldb2 database as sasldb_users sees it: records (hex key -> HMAC-SHA256 of the value under
    ``digest_key``), existence, size, whether owner/group/mode differ, the link's target, or ``problem``."""

    kind = 'sasldb_state'

    def command(self, path, link, owner, group, mode, digest_key):
        return remote.fact_command(self.kind, path=path, link=link, owner=owner, group=group, mode=mode,
                                   digest_key=digest_key)


class PostfixMapState(_HostDriverFact):
    """A lookup table as postfix_map sees it: the source's sha256 (None when missing), whether the index
    is stale, which of source and index have other owner/group/mode than wanted, or ``problem``."""

    kind = 'postfix_map_state'

    def command(self, path, index, owner, group, mode):
        return remote.fact_command(self.kind, path=path, index=index, owner=owner, group=group, mode=mode)
