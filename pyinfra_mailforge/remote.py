"""Ships host_driver.py, with the collection code it runs, to a host: one self-contained Python program.

Like Ansible's AnsiballZ, the program carries its modules inside: the
collection's module_utils and modules, unchanged, registered under their
ansible_collections names by a small importer. The modules import
AnsibleModule at the top for their main(), which the driver never calls; the
target has no ansible-core, so a stand-in that refuses to be used takes its
place there.
"""
import base64
import importlib.util
import json
import zlib
from pathlib import Path

from pyinfra.api import QuoteString, StringCommand

from pyinfra_mailforge import COLLECTION

SHIPPED = ('module_utils.main_cf', 'module_utils.postfix_cli', 'module_utils.staging',
           'module_utils.lookup_table', 'module_utils.sasldb', 'module_utils.master_cf',
           'module_utils.postfix_drain',
           'modules.postconf', 'modules.postfix_map', 'modules.sasldb_users')

ANSIBLE_STAND_IN = '''
class AnsibleModule:
    def __init__(self, *args, **kwargs):
        raise RuntimeError('the mailforge pyinfra driver calls converge(), never a module main()')
'''

IMPORTER = '''
import importlib.abc, importlib.util, sys
SOURCES = %(sources)r
PACKAGES = set()
for _name in SOURCES:
    _parts = _name.split('.')
    PACKAGES.update('.'.join(_parts[:i]) for i in range(1, len(_parts)))
class _Shipped(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in SOURCES or fullname in PACKAGES:
            return importlib.util.spec_from_loader(fullname, self, is_package=fullname in PACKAGES)
        return None
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        source = SOURCES.get(module.__name__, '')
        exec(compile(source, '<mailforge %%s>' %% module.__name__, 'exec'), module.__dict__)
sys.meta_path.insert(0, _Shipped())
import mailforge_host_driver
sys.exit(mailforge_host_driver.main())
'''

# The program travels as the first line of stdin (requests as the second), so
# that the command pyinfra prints stays short and holds no secret.
BOOTSTRAP_STDIN = 'import base64,sys,zlib;exec(zlib.decompress(base64.b64decode(sys.stdin.readline())))'
# Facts cannot feed stdin, and send nothing secret: there the program is an argument.
BOOTSTRAP_ARGV = 'import base64,sys,zlib;p=sys.argv.pop(1);exec(zlib.decompress(base64.b64decode(p)))'


def _source(name):
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).read_text(encoding='utf-8')


def program():
    """The driver's source with everything it imports, as text."""
    sources = {COLLECTION + '.plugins.' + name: _source(COLLECTION + '.plugins.' + name) for name in SHIPPED}
    sources['ansible.module_utils.basic'] = ANSIBLE_STAND_IN
    sources['mailforge_host_driver'] = Path(__file__).with_name('host_driver.py').read_text(encoding='utf-8')
    return IMPORTER % {'sources': sources}


_PAYLOAD = None


def payload():
    """The program, compressed and base64-encoded: one line of ASCII."""
    global _PAYLOAD
    if _PAYLOAD is None:
        _PAYLOAD = base64.b64encode(zlib.compress(program().encode('utf-8'), 9)).decode('ascii')
    return _PAYLOAD


def converge_command(module, params):
    """The command that runs ``module``'s converge on the host with ``params`` (sent on stdin)."""
    request = json.dumps({'module': module, 'params': params}, sort_keys=True)
    return StringCommand('python3', '-c', QuoteString(BOOTSTRAP_STDIN), module,
                         _stdin=[payload(), request])


def fact_command(kind, **args):
    """The command of a fact computed on the host by host_driver (``kind`` in its FACTS)."""
    return StringCommand('python3', '-c', QuoteString(BOOTSTRAP_ARGV), payload(), 'fact', kind,
                         QuoteString(json.dumps(args, sort_keys=True)))


def request_of(command):
    """(module, params) of a converge_command: what tests compare."""
    stdin = command.connector_arguments.get('_stdin')
    request = json.loads(stdin[1])
    return request['module'], request['params']
