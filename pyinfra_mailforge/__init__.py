"""pyinfra operations, facts and deploys for mailforge, on the Ansible collection's own code.

The pure logic (module_utils) and the host-side work (the modules' ``converge``
functions) are imported from the collection mailforge.postfix unchanged; this
package only adds what pyinfra needs around them.
"""
import importlib.util
import sys
from pathlib import Path

COLLECTION = 'ansible_collections.mailforge.postfix'

# In a checkout the collection is importable from collections/ (its plugins/
# links to modules/, module_utils/ and lookup_plugins/); an installed
# collection on sys.path is used as it is.
_CHECKOUT_COLLECTIONS = Path(__file__).resolve().parents[1] / 'collections'
try:
    _found = importlib.util.find_spec(COLLECTION + '.plugins.module_utils.main_cf')
except ModuleNotFoundError:
    _found = None
if _found is None and str(_CHECKOUT_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_CHECKOUT_COLLECTIONS))
