"""Dashboard sign-in: who may sign in, signed session cookies, CSRF tokens and a per-client throttle.

A session is a signed cookie (no table), so it survives restarts and works on every instance sharing the
config: the signing secret is `ui_session_secret`, else derived from the master key, else a secret file in
the data folder. Changing the password or master key ends every session (their fingerprint is signed in).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
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

COOKIE = "accord_ui"
PRE_COOKIE = "accord_ui_login"  # the login form's CSRF token, before there is a session
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str


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
        ok = self.master is not None and hmac.compare_digest(password.encode(), self.master.encode())
        if self.hash is not None:
            try:
                good_pw = self.hasher.verify(self.hash, password)
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
        folder.mkdir(parents=True, exist_ok=True)
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
                from ..store.db import data_dir

                secret = secret_file(data_dir(s))
            self._serializer = URLSafeTimedSerializer(secret, salt="accord-ui-session")
            self._seen = seen
        return self._creds

    def max_age(self, state: Any) -> int:
        return int(state.cfg.settings.ui_session_hours * 3600)

    def session(self, request: Request) -> Session | None:
        creds = self.refresh(request.app.state)
        token = request.cookies.get(COOKIE)
        if not token or self._serializer is None:
            return None
        try:
            data = self._serializer.loads(token, max_age=self.max_age(request.app.state))
        except BadSignature:
            return None
        if not isinstance(data, dict) or data.get("f") != creds.fingerprint:
            return None
        return Session(user=str(data.get("u", "")), csrf=str(data.get("c", "")))

    def start(self, request: Request, response: Response, user: str) -> None:
        creds = self.refresh(request.app.state)
        assert self._serializer is not None
        token = self._serializer.dumps({"u": user, "c": secrets.token_urlsafe(24), "f": creds.fingerprint})
        response.set_cookie(COOKIE, token, max_age=self.max_age(request.app.state), path=prefix(request) + "/",
                            httponly=True, samesite="lax", secure=is_https(request))
        response.delete_cookie(PRE_COOKIE, path=prefix(request) + "/")


def prefix(request: Request) -> str:
    """Where the dashboard is mounted (/ui)."""
    return request.scope.get("root_path", "") or "/ui"


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


async def csrf_ok(request: Request, expected: str) -> bool:
    """The token from the header (JS) or the form's hidden field."""
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get(CSRF_FIELD)
    return same(sent if isinstance(sent, str) else None, expected)


def wants_json(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/json") or \
        "application/json" in request.headers.get("accept", "") or "/api/" in request.url.path


Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(handler: Endpoint) -> Endpoint:
    """A page or its API: needs a session, and a CSRF token on anything but GET."""

    async def endpoint(request: Request) -> Response:
        sess = request.scope["accord.ui"].auth.session(request)
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
