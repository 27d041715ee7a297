"""Which `Host` headers the gateway answers: loopback names and addresses, and `settings.allowed_hosts`.

A web page can point a name it owns at 127.0.0.1 (DNS rebinding) and then read what Accord answers as if it
were its own site; the browser still sends the page's name as `Host`. Answering only the names Accord is
meant to be reached by closes that, whatever the page does. The decision per distinct `Host` value is cached,
so the hot path is one dict lookup.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

LOOPBACK_NAMES = frozenset({"localhost"})
_CACHE_MAX = 1024  # distinct Host values remembered; a client sending new ones each time only costs a recompute


def normalize(entry: str) -> str:
    """An allowed_hosts entry as compared: lower case, no trailing dot, IPv6 without brackets."""
    e = entry.strip().lower().rstrip(".")
    if e.startswith("[") and e.endswith("]"):
        e = e[1:-1]
    return e


def host_name(value: str) -> str | None:
    """The name or address in a `Host` header value, without its port; None when it is not a valid one."""
    v = value.strip().lower()
    if v.startswith("["):  # [v6]:port
        end = v.find("]")
        if end < 0:
            return None
        name, rest = v[1:end], v[end + 1:]
        if rest and not (rest[0] == ":" and rest[1:].isdigit()):
            return None
        return name
    name, colon, port = v.rpartition(":")
    if not colon:
        name = v
    elif not port.isdigit() or ":" in name:  # a bare IPv6 address is not a valid Host
        return None
    return name.rstrip(".") or None


def is_loopback(name: str) -> bool:
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback  # 127.0.0.0/8 and ::1
    except ValueError:
        return False


class HostPolicy:
    def __init__(self, allowed: Iterable[str] = ()) -> None:
        entries = [normalize(e) for e in allowed if e.strip()]
        self.exact = frozenset(e for e in entries if not e.startswith("*."))
        self.suffixes = tuple(e[1:] for e in entries if e.startswith("*."))  # "*.example.com" -> ".example.com"
        self._seen: dict[bytes, bool] = {}

    def allows(self, value: bytes) -> bool:
        ok = self._seen.get(value)
        if ok is None:
            ok = self._decide(value)
            if len(self._seen) >= _CACHE_MAX:
                self._seen.clear()
            self._seen[value] = ok
        return ok

    def _decide(self, value: bytes) -> bool:
        name = host_name(value.decode("latin-1"))
        if name is None:
            return False
        return is_loopback(name) or name in self.exact or any(name.endswith(s) for s in self.suffixes)
