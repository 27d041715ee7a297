"""Run the benchmark: `python bench/run.py` (full, minutes) or `python bench/run.py --smoke` (seconds)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accordbench.main import main

if __name__ == "__main__":
    sys.exit(main())
