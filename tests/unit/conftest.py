"""Make the collection importable as ansible_collections.mailforge.postfix without installing it."""

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[2] / 'collections'
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

# pyinfra_mailforge lives at the top of the checkout.
TOP = Path(__file__).resolve().parents[2]
if str(TOP) not in sys.path:
    sys.path.insert(0, str(TOP))
