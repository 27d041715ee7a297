"""`accord serve` for real, as a user starts it: a subprocess on a free port, its whole output in a file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from fakes import free_port
from waiting import wait_http

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
        wait_http(f"{url}/health/readiness", "accord serve to start", proc, want='"db":"connected"',
                  output=lambda: log.read_text(errors="replace"))
        yield url, log, env
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
