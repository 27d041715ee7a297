"""Small HTTP calls from the command line to a running Accord (or whatever holds its port).

The standard library's urllib rather than an HTTP client package: these are one-off local requests, and a
plain `pip install accord` must be able to make them (httpx is only a test dependency).
"""

from __future__ import annotations

import errno
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


class Unreachable(Exception):
    """Nothing answered HTTP at that address (refused, timed out, not HTTP)."""


@dataclass
class Reply:
    status: int
    text: str

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None


def request(method: str, url: str, *, headers: dict[str, str] | None = None, timeout: float = 5.0,
            json_body: Any = None) -> Reply:
    """One request; an HTTP error status is a Reply like any other, only no answer raises Unreachable."""
    body = method in ("POST", "PUT")  # at least an empty JSON object: Accord takes state changes only as JSON
    data = json.dumps(json_body if json_body is not None else {}).encode() if body else None
    req = urllib.request.Request(url, method=method, data=data,
                                 headers={**({"Content-Type": "application/json"} if body else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, r.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise Unreachable(str(getattr(e, "reason", e))) from None


def local_host(host: str) -> str:
    """The address to reach a server listening on `host` from this machine."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def port_is_taken(host: str, port: int) -> bool:
    """True when a server could not bind (host, port) now, as uvicorn would (SO_REUSEADDR)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # a bad host is uvicorn's to report
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False


@dataclass
class Occupant:
    """What answers on a port: an Accord (with its config identity), a LiteLLM proxy, or something else."""

    kind: str  # "accord" | "litellm" | "alive" (answers like either, says no more) | "other"
    config_id: str | None = None
    version: str | None = None

    def describe(self) -> str:
        if self.kind == "accord":
            return "another Accord" + (f" (version {self.version})" if self.version else "")
        if self.kind == "litellm":
            return "a LiteLLM proxy" + (f" (version {self.version})" if self.version else "")
        if self.kind == "alive":
            return "an Accord or LiteLLM server (it answers /health/liveliness)"
        return "another program"


def occupant(host: str, port: int) -> Occupant:
    """Ask /health/liveliness and /health/readiness (public on both Accord and LiteLLM) who is there."""
    base = f"http://{local_host(host)}:{port}"
    try:
        alive = request("GET", f"{base}/health/liveliness", timeout=2)
    except Unreachable:
        return Occupant("other")
    if alive.status != 200 or "alive" not in alive.text.lower():
        return Occupant("other")
    try:
        ready = request("GET", f"{base}/health/readiness", timeout=2).json()
    except Unreachable:
        ready = None
    ready = ready if isinstance(ready, dict) else {}
    if ready.get("service") == "accord" or "limits" in ready:
        return Occupant("accord", ready.get("config_id"), ready.get("version"))
    if "litellm_version" in ready:
        return Occupant("litellm", version=ready.get("litellm_version"))
    return Occupant("alive")
