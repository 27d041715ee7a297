"""Server processes under test: spawn, time to healthy, memory, stop."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 1.0) -> int | None:
    """Status of GET path, or None when nothing answers yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return None
    finally:
        conn.close()


@dataclass
class Server:
    """One server process: `argv` run with `env`, healthy when GET `health` on `port` answers 200."""

    name: str
    argv: list[str]
    port: int
    log: Path
    health: str = "/health/liveliness"
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    start_to_healthy_s: float | None = None

    def start(self, timeout: float = 120.0) -> float:
        """Spawn and poll until healthy; return seconds from spawn to the first 200."""
        env = {**os.environ, **self.env}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}:\n"
                                   + self.log.read_text(errors="replace")[-2000:])
            if http_get(self.port, self.health, timeout=0.5) == 200:
                self.start_to_healthy_s = time.perf_counter() - t0
                return self.start_to_healthy_s
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"{self.name} was not healthy within {timeout:.0f} s; see {self.log}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        """Resident memory of the process and all its children (workers), in MB."""
        assert self.proc is not None
        p = psutil.Process(self.proc.pid)
        total = 0
        for q in [p, *p.children(recursive=True)]:
            try:
                total += q.memory_info().rss
            except psutil.Error:
                continue
        return total / 1e6

    def stop(self) -> None:
        """Stop the process group this server started (its own session), politely then firmly."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the server leads its own group
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
