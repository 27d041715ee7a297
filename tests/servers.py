"""Real servers for tests: PostgreSQL, Redis and nginx, started on free loopback ports in temporary folders.

Binaries come from Debian's packages (.ci/run installs them). Where one is missing a test skips on a
developer's machine and fails under CI (`CI` set to anything), so a green CI always ran it: `missing()` is
the one way a test gives up for want of something.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

from fakes import free_port
from waiting import Hopeless, wait_for

IN_CI = bool(os.environ.get("CI"))  # CI services set it to "true", "1", "yes" or their own name: any value counts


def missing(what: str) -> NoReturn:
    """Give up on a test for want of a server, binary or tool: skip on a developer's machine, fail in CI."""
    if IN_CI:
        pytest.fail(f"{what} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(what)


def need(binary: str, *extra_paths: str, how: str = "apt-get install it; .ci/run does") -> str:
    found = shutil.which(binary)
    for pattern in extra_paths:
        found = found or next(iter(sorted(glob.glob(pattern), reverse=True)), None)
    if not found:
        missing(f"`{binary}` is not installed ({how})")
    return found


class Postgres:
    """A throwaway cluster. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user."""

    def __init__(self) -> None:
        self.initdb = need("initdb", "/usr/lib/postgresql/*/bin/initdb")
        self.pg_ctl = need("pg_ctl", "/usr/lib/postgresql/*/bin/pg_ctl")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="accord-pg-"))
        self.data = self.dir / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://accord@127.0.0.1:{self.port}/accord"

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self.as_user, *cmd], check=True, capture_output=True, timeout=120)

    def start(self) -> Postgres:
        self._run(self.initdb, "-D", str(self.data), "-U", "accord", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.resume()
        psql = need("psql")
        subprocess.run([psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "accord", "-d", "postgres", "-c",
                        "CREATE DATABASE accord"], check=True, capture_output=True, timeout=60)
        return self

    def halt(self) -> None:
        """Stop the server (fast shutdown: connections are cut), keeping its data for `resume`."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")

    def sql(self, statement: str, db: str = "accord") -> str:
        psql = need("psql")
        return subprocess.run([psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "accord", "-d", db, "-tAc",
                               statement], check=True, capture_output=True, text=True, timeout=60).stdout.strip()

    def reset(self) -> None:
        """Drop everything, so each test starts from an empty database."""
        psql = need("psql")
        subprocess.run([psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "accord", "-d", "accord", "-c",
                        "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"], check=True, capture_output=True,
                       timeout=60)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    def __init__(self) -> None:
        self.binary = need("redis-server")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import socket

        def up() -> bool:
            if self.proc and self.proc.poll() is not None:
                raise Hopeless(f"redis-server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(up, "redis-server to answer PING")
        return self

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)


class Nginx:
    """A round-robin load balancer in front of `backends` (host:port)."""

    def __init__(self, backends: list[str]) -> None:
        self.binary = need("nginx", "/usr/sbin/nginx")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="accord-nginx-"))
        servers = "\n".join(f"    server {b} max_fails=0;" for b in backends)
        (self.dir / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {self.dir}/body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  upstream accord {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      proxy_pass http://accord;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
""")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        import socket

        def up() -> bool:
            if self.proc and self.proc.poll() is not None:
                raise Hopeless(f"nginx exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False

        wait_for(up, "nginx to accept connections")
        return self

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
