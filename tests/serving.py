"""`accord serve` for real, as a user starts it: a subprocess on a free port, its whole output in a file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from fakes import free_port
from waiting import wait_for

ACCORD = str(Path(sys.executable).parent / "accord")


@contextlib.contextmanager
def serving(cfg: Path, tmp_path: Path, level: str = "debug") -> Iterator[tuple[str, Path, dict]]:
    """`accord serve` for real, its whole output in a file; yields the URL, the log file and the environment."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    with log.open("wb") as out:
        proc = subprocess.Popen([ACCORD, "serve", "--config", str(cfg), "--port", str(port), "--log-level", level],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> str | None:
            if proc.poll() is not None:
                return "exited"
            return "up" if httpx.get(f"{url}/health/readiness", timeout=1).json().get("db") == "connected" else None

        assert wait_for(up, "accord serve to start") == "up", \
            "accord serve exited: " + log.read_text(errors="replace")[-2000:]
        yield url, log, env
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
