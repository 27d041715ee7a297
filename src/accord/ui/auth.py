"""Dashboard sign-in: who may sign in, signed session cookies, CSRF tokens and a per-client throttle.

A session is a signed cookie, so it survives restarts and works on every instance sharing the config: the
signing secret is `ui_session_secret`, else derived from the master key, else a secret file in the data folder.
Changing the password or master key ends every session (their fingerprint is signed in). Signing out ends one
session everywhere: its id goes into the database's signed-out list, which every instance reads (trusting an
answer for SIGNED_OUT_TTL seconds).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

log = logging.getLogger("accord.ui")

COOKIE = "accord_ui"
PRE_COOKIE = "accord_ui_login"  # the login form's CSRF token, before there is a session
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SIGNED_OUT_TTL = 1.0  # seconds a "not signed out" answer is trusted; no longer than the key cache's KEY_TTL


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    id: str


class Throttle:
    """Failed sign-ins per client: the first FREE are free, then each locks the client out twice as long."""

    FREE = 5
    BASE = 30.0
    MAX = 900.0

    def __init__(self) -> None:
        self.fails: dict[str, tuple[int, float]] = {}

    def wait(self, client: str) -> float:
        return max(0.0, self.fails.get(client, (0, 0.0))[1] - time.monotonic())

    def fail(self, client: str) -> float:
        """Count a failure; returns how long the client is now locked out (0: not)."""
        n = self.fails.get(client, (0, 0.0))[0] + 1
        lock = min(self.MAX, self.BASE * 2 ** (n - self.FREE)) if n >= self.FREE else 0.0
        if len(self.fails) > 10_000:
            now = time.monotonic()
            self.fails = {c: v for c, v in self.fails.items() if v[1] > now}
        self.fails[client] = (n, time.monotonic() + lock)
        return lock

    def ok(self, client: str) -> None:
        self.fails.pop(client, None)


class Credentials:
    """The configured UI user (password hashed once, here) and the master key; never compared in plain."""

    def __init__(self, username: str | None, password: str | None, master_key: str | None) -> None:
        self.hasher = PasswordHasher()
        self.username = username or "admin"
        self.hash = None if not password else password if password.startswith("$argon2") else \
            self.hasher.hash(password)
        self.master = master_key
        self.fingerprint = hashlib.sha256(f"{self.username}\0{password}\0{master_key}".encode()).hexdigest()[:16]

    @property
    def configured(self) -> bool:
        return bool(self.hash or self.master)

    def check(self, username: str, password: str) -> bool:
        ok: bool = self.master is not None and hmac.compare_digest(password.encode(), self.master.encode())
        if self.hash is not None:
            try:
                good_pw: bool = self.hasher.verify(self.hash, password)
            except (VerificationError, InvalidHashError):
                good_pw = False
            ok = ok or (good_pw and hmac.compare_digest(username.encode(), self.username.encode()))
        return ok


def secret_file(folder: Path) -> bytes:
    """A random secret kept in the data folder (mode 0600), made on first use."""
    path = folder / "ui-session-secret"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        from ..store.db import private_dir

        private_dir(folder)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another instance made it first
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_hex(32).encode())
        return path.read_bytes().strip()


class Auth:
    """Everything sign-in needs, rebuilt when a reload changes the credentials."""

    def __init__(self) -> None:
        self.throttle = Throttle()
        self._creds: Credentials | None = None
        self._serializer: URLSafeTimedSerializer | None = None
        self._seen: tuple | None = None
        self._signed_out: dict[str, tuple[bool, float]] = {}  # session id -> (signed out?, when asked)

    def refresh(self, state: Any) -> Credentials:
        s = state.cfg.settings
        seen = (s.ui_username, s.ui_password, s.ui_session_secret, state.master_key)
        if self._creds is None or seen != self._seen:
            self._creds = Credentials(s.ui_username, s.ui_password, state.master_key)
            if s.ui_session_secret:
                secret = s.ui_session_secret.encode()
            elif state.master_key:
                secret = hmac.new(state.master_key.encode(), b"accord-ui-session-v1", hashlib.sha256).digest()
            else:
                from ..store.paths import data_dir

                secret = secret_file(data_dir(s))
            self._serializer = URLSafeTimedSerializer(secret, salt="accord-ui-session")
            self._seen = seen
        return self._creds

    def max_age(self, state: Any) -> int:
        return int(state.cfg.settings.ui_session_hours * 3600)

    async def session(self, request: Request) -> Session | None:
        creds = self.refresh(request.app.state)
        token = request.cookies.get(COOKIE)
        if not token or self._serializer is None:
            return None
        try:
            data = self._serializer.loads(token, max_age=self.max_age(request.app.state))
        except BadSignature:
            return None
        if not isinstance(data, dict) or data.get("f") != creds.fingerprint or not data.get("s"):
            return None  # (a cookie without a session id predates sign-out lists: it cannot be ended, so not taken)
        sess = Session(user=str(data.get("u", "")), csrf=str(data.get("c", "")), id=str(data["s"]))
        return None if await self._is_signed_out(request.app.state.store, sess.id) else sess

    def start(self, request: Request, response: Response, user: str) -> None:
        creds = self.refresh(request.app.state)
        assert self._serializer is not None
        token = self._serializer.dumps({"u": user, "c": secrets.token_urlsafe(24), "s": secrets.token_urlsafe(18),
                                        "f": creds.fingerprint})
        response.set_cookie(COOKIE, token, max_age=self.max_age(request.app.state), path=prefix(request) + "/",
                            httponly=True, samesite="lax", secure=is_https(request))
        response.delete_cookie(PRE_COOKIE, path=prefix(request) + "/")

    async def end(self, request: Request, sess: Session) -> None:
        """Sign out: at once on this instance, and on every instance sharing the database within SIGNED_OUT_TTL."""
        self._remember(sess.id, True)
        store = request.app.state.store
        try:
            await store.wait()
            await store.signed_out.add(sess.id, self.max_age(request.app.state))
        except Exception as e:
            log.warning("sign-out could not be recorded in the database (%s); the session ends on this instance "
                        "only", e.__class__.__name__)

    async def _is_signed_out(self, store: Any, session_id: str) -> bool:
        now = time.monotonic()
        hit = self._signed_out.get(session_id)
        if hit is not None and (hit[0] or now - hit[1] < SIGNED_OUT_TTL):  # a sign-out is final
            return hit[0]
        try:
            await store.wait(0 if store.error else 5.0)  # a database known to be away is not waited for again
            gone = await store.signed_out.has(session_id)
        except Exception as e:
            # the database is away: a session seen before keeps its last known state (asked again after the TTL);
            # one never seen is let in on its signature alone, and said so in the log
            if hit is None:
                log.warning("cannot check the dashboard sign-out list (%s); accepting a validly signed session",
                            e.__class__.__name__)
            gone = hit[0] if hit is not None else False
        self._remember(session_id, gone)
        return gone

    def _remember(self, session_id: str, gone: bool) -> None:
        if len(self._signed_out) > 10_000:
            self._signed_out = {k: v for k, v in self._signed_out.items() if v[0]}
            if len(self._signed_out) > 10_000:
                self._signed_out.clear()
        self._signed_out[session_id] = (gone, time.monotonic())


def prefix(request: Request) -> str:
    """Where the dashboard is mounted (/ui)."""
    return request.scope.get("root_path", "") or "/ui"


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def client(request: Request) -> str:
    """Who is signing in, for the throttle: the socket peer. Only when the peer is one of
    `settings.trusted_proxies` is X-Forwarded-For read, from the right: the first address that is not a trusted
    proxy is the client (what is left of it was written by the client, and may be anything)."""
    peer = request.client.host if request.client else "unknown"
    proxies = _networks(tuple(request.app.state.cfg.settings.trusted_proxies))
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop[:64]
    return hops[0][:64] if hops else peer


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _trusted(address: str, proxies: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:  # a dual-stack socket's view of an IPv4 peer
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in proxies)


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


async def csrf_ok(request: Request, expected: str) -> bool:
    """The token from the header (JS) or the form's hidden field."""
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    return same(sent, expected)


def wants_json(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/json") or \
        "application/json" in request.headers.get("accept", "") or "/api/" in request.url.path


Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(handler: Endpoint) -> Endpoint:
    """A page or its API: needs a session, and a CSRF token on anything but GET."""

    async def endpoint(request: Request) -> Response:
        sess = await request.scope["accord.ui"].auth.session(request)
        if sess is None:
            if request.method == "GET" and not wants_json(request):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{prefix(request)}/login?next={quote(target)}", 303)
            return JSONResponse({"error": "sign in first", "login": f"{prefix(request)}/login"}, 401)
        if request.method not in ("GET", "HEAD") and not await csrf_ok(request, sess.csrf):
            return JSONResponse({"error": "missing or wrong CSRF token; reload the page"}, 403)
        request.state.session = sess
        return await handler(request)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


async def login_fields(request: Request) -> tuple[dict[str, str], bool]:
    """The posted username, password and token, from JSON or a form; and whether it was JSON."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = {}
        body = body if isinstance(body, dict) else {}
        return {k: str(body.get(k) or "") for k in ("username", "password")}, True
    form = await request.form()
    return {k: str(form.get(k) or "") for k in ("username", "password", CSRF_FIELD, "next")}, False


async def verify(creds: Credentials, username: str, password: str) -> bool:
    """argon2 takes tens of milliseconds on purpose: off the event loop."""
    return await asyncio.to_thread(creds.check, username, password)
