"""Consensus quality: `python bench/quality.py` (full) or `python bench/quality.py --quick` (the smoke test)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accordbench.quality import main

if __name__ == "__main__":
    sys.exit(main())
