"""Make `ansible_collections.kdsw.workbench` importable in the unit tests.

The repository is the collection; .collections/ansible_collections/kdsw/workbench points back at it.
"""

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[2] / ".collections"

if COLLECTIONS.is_dir() and str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
