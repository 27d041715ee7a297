"""Command start-up: `accord --help`, `import accord` and the serve path's imports, against LiteLLM's."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from .stats import median
from .targets import accord_executable, litellm_bin, litellm_python


def time_command(argv: list[str], runs: int) -> dict[str, float]:
    """Wall seconds of `argv` run to completion, `runs` times after one warm-up: median and min."""
    subprocess.run(argv, capture_output=True, check=False)
    took = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        took.append(time.perf_counter() - t0)
    return {"median_s": median(took), "min_s": min(took), "runs": runs}


def measure(runs: int, with_litellm: bool) -> dict[str, dict[str, float]]:
    py = sys.executable
    out = {
        "python -c pass": time_command([py, "-c", "pass"], runs),
        "accord --help": time_command([*accord_executable(), "--help"], runs),
        "import accord": time_command([py, "-c", "import accord"], runs),
        "import accord.gateway": time_command([py, "-c", "import accord.gateway"], runs),
    }
    if with_litellm and Path(litellm_python()).exists():
        n = max(1, min(runs, 3))  # seconds each
        out["litellm --help"] = time_command([str(litellm_bin()), "--help"], n)
        out["import litellm"] = time_command([str(litellm_python()), "-c", "import litellm"], n)
    return out
