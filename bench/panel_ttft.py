"""Time to first answer token of a panel asked as a model (streamed /v1/chat/completions, `model: council`).

Three panelists on the fake upstream answer after 1, 2 and 3 s; the chair waits 1 s, then streams its answer
in 20 chunks 50 ms apart. The expected TTFT of the content is the slowest panelist + the chair's own TTFT
(3 + 1 s); the answer's later tokens should arrive at the chair's pace, not at once at its end. The first
`reasoning_content` (progress) should arrive at once.

    .venv/bin/python bench/panel_ttft.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent
PANEL_DELAYS = (1.0, 2.0, 3.0)
CHAIR_DELAY, CHUNKS, PACE_MS = 1.0, 20, 50
KEY = "sk-bench-master"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen) -> None:
    for _ in range(1000):
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"{url} never came up")


def config(upstream: str, port: int, data: Path) -> str:
    rows = [(f"p{i}", f"fake-delay-{d:g}-sse-1x0") for i, d in enumerate(PANEL_DELAYS, 1)]
    rows.append(("chair", f"fake-chairjson-delay-{CHAIR_DELAY:g}-sse-{CHUNKS}x{PACE_MS}"))
    models = "".join(f"  - {{name: {n}, model: openai/{m}, api_base: {upstream}/v1, api_key: x}}\n" for n, m in rows)
    panel = ", ".join(n for n, _ in rows[:-1])
    return (f"models:\n{models}settings:\n  master_key: {KEY}\n  port: {port}\n  num_retries: 0\n"
            f"  data_dir: {data}\npanels:\n  council:\n    models: [{panel}]\n    chair: chair\n")


def one(url: str) -> dict:
    t0 = time.perf_counter()
    first_thinking = first_content = last_content = None
    pieces = 0
    with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=60, headers={"Authorization": f"Bearer {KEY}"},
                      json={"model": "council", "stream": True,
                            "messages": [{"role": "user", "content": "Is this benchmark fair?"}]}) as r:
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            now = time.perf_counter() - t0
            for c in json.loads(line[6:]).get("choices") or ():
                d = c.get("delta") or {}
                if d.get("reasoning_content") and first_thinking is None:
                    first_thinking = now
                if d.get("content"):
                    first_content = now if first_content is None else first_content
                    last_content, pieces = now, pieces + 1
    return {"first_thinking_s": first_thinking, "ttft_s": first_content, "last_content_s": last_content,
            "content_chunks": pieces}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        up_port, port = free_port(), free_port()
        upstream = subprocess.Popen([sys.executable, str(HERE / "fake_upstream.py"), "--port", str(up_port)],
                                    stdout=subprocess.DEVNULL)
        cfg = Path(tmp) / "accord.yaml"
        cfg.write_text(config(f"http://127.0.0.1:{up_port}", port, Path(tmp) / "data"))
        exe = Path(sys.executable).parent / "accord"
        serve = subprocess.Popen([str(exe), "serve", "--config", str(cfg)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            wait_up(f"http://127.0.0.1:{up_port}/health", upstream)
            url = f"http://127.0.0.1:{port}"
            wait_up(f"{url}/health/liveliness", serve)
            runs = [one(url) for _ in range(a.runs)]
        finally:
            serve.terminate()
            upstream.terminate()
            serve.wait(30)
            upstream.wait(30)
    expected = max(PANEL_DELAYS) + CHAIR_DELAY
    out = {"expected_ttft_s": expected, "runs": runs,
           "ttft_median_s": round(statistics.median(r["ttft_s"] for r in runs), 3),
           "first_thinking_median_s": round(statistics.median(r["first_thinking_s"] for r in runs), 4),
           "answer_span_median_s": round(statistics.median(r["last_content_s"] - r["ttft_s"] for r in runs), 3)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
