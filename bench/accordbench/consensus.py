"""Consensus wall time: a 5-model panel whose models answer after 1..5 s, and a chair, on the fake upstream.

Runs `accord consensus --json QUESTION -m p1 ... -m p5` when `accord.consensus` is importable; the
fake's model names script the delays (`delay-3-sse-1x0`: answer after 3 s, a stream of one chunk).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from .targets import MASTER_KEY, accord_executable

DELAYS = (1.0, 2.0, 3.0, 4.0, 5.0)
CHAIR_DELAY = 1.0
SLACK_S = 0.05


def available() -> bool:
    try:
        return importlib.util.find_spec("accord.consensus") is not None
    except (ImportError, ValueError):
        return False


def config(upstream_url: str, data_dir: Path, scale: float = 1.0) -> str:
    rows = [(f"p{i}", round(d * scale, 3)) for i, d in enumerate(DELAYS, 1)] + [("chair", CHAIR_DELAY * scale)]
    models = "".join(f"""  - name: {name}
    model: openai/fake-delay-{d:g}-sse-1x0
    api_base: {upstream_url}/v1
    api_key: x
""" for name, d in rows)
    panel = ", ".join(name for name, _ in rows[:-1])
    return f"""models:
{models}settings:
  master_key: {MASTER_KEY}
  num_retries: 0
  data_dir: {data_dir}
consensus:
  panel: [{panel}]
  chair: chair
"""


def _run_cli(work: Path, upstream_url: str, scale: float, timeout: float) -> dict[str, Any]:
    """One `accord consensus --json` run; its wall time, and the engine's own `wall_time` when reported."""
    cfg = work / f"consensus-{scale:g}.yaml"
    cfg.write_text(config(upstream_url, work / "consensus-data", scale))
    argv = [*accord_executable(), "consensus", "-c", str(cfg), "--json", "--chair", "chair",
            "Is a benchmark without a peer meaningful?"]
    for i in range(1, len(DELAYS) + 1):
        argv += ["-m", f"p{i}"]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"status": f"timed out after {timeout:.0f} s"}
    out: dict[str, Any] = {"wall_s": time.perf_counter() - t0}
    if proc.returncode != 0 and "No such command" in proc.stderr:
        return {"status": "not available (no `accord consensus` command yet)"}
    if proc.returncode != 0:
        return {"status": f"failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-400:].strip()}"}
    out["status"] = "ok"
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        result = None
    if isinstance(result, dict):
        out["result_status"] = result.get("status")
        for key in ("wall_time", "elapsed_s", "wall_s", "took_s", "duration_s", "elapsed"):
            if isinstance(result.get(key), (int, float)):
                out["engine_s"] = float(result[key])
                break
    return out


def measure(work: Path, upstream_url: str, scale: float = 1.0, timeout: float = 120.0) -> dict[str, Any]:
    """A first run on a fresh store (delays x0.01: what the first-ever call adds), then the measured run
    (delays x `scale`; smoke mode 0.1) on the store the first one created, as a user's second call would."""
    delays = [round(d * scale, 3) for d in DELAYS]
    chair = round(CHAIR_DELAY * scale, 3)
    out: dict[str, Any] = {"panel_delays_s": delays, "chair_delay_s": chair, "sum_s": sum(delays),
                           "bound_s": max(delays) + chair + SLACK_S}
    if not available():
        out["status"] = "not available (accord.consensus is not importable)"
        return out
    first = _run_cli(work, upstream_url, 0.01, timeout)
    if first["status"] != "ok":
        out["status"] = first["status"]
        return out
    if "engine_s" in first:
        out["first_run_overhead_s"] = first["engine_s"] - (max(DELAYS) + CHAIR_DELAY) * 0.01
    out.update(_run_cli(work, upstream_url, scale, timeout))
    return out
