"""Make ``tests/`` importable so ``import harness`` works (tests/harness is the package).

If the project adds ``pythonpath = ["tests"]`` to ``[tool.pytest.ini_options]``
this file can go.
"""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS_DIR = str(Path(__file__).resolve().parents[2])
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)
