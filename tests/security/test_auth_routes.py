"""Every route refuses callers without credentials and with wrong ones, enumerated from the app itself (a new
route is covered the day it is added); admin routes refuse virtual keys; the dashboard refuses without a
session, checks CSRF and throttles sign-ins; the key comparison takes the same time however much of the key
is right."""

from __future__ import annotations

import hmac
import re

import httpx
import pytest
from starlette.routing import Mount, Route

from conftest import MASTER_KEY, basic_config

# The only routes open without a key, and why. Anything else must refuse.
PUBLIC = {
    "/health/liveliness": "load balancer liveness probe",
    "/health/liveness": "load balancer liveness probe",
    "/health/readiness": "load balancer readiness probe (no secrets: counts and states only)",
    "/openapi.json": "the static API description",
}
# Model routes take virtual keys; every other authenticated route is admin (master key only).
MODEL_ROUTE = re.compile(r"^(/v1)?/(chat/completions|embeddings|responses(/.*)?|messages(/count_tokens)?|models(/.*)?)$")
UI_PUBLIC = {"/login", "/static"}
WRONG = "sk-not-the-master-key-0123456789"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "probe", path)


def api_routes(app) -> list[tuple[str, str]]:
    """(method, path) for every route of the app except the /ui mount, which has its own checks below."""
    out = []
    for r in app.routes:
        if isinstance(r, Mount):
            assert r.path == "/ui", f"a new mount {r.path}: add it to this test"
            continue
        assert isinstance(r, Route), r
        methods = sorted((r.methods or {"GET", "POST", "DELETE"}) - {"HEAD"})
        out += [(m, _concrete(r.path)) for m in methods]
    return out


def ui_routes() -> list[tuple[str, str]]:
    from accord.ui.app import build

    out = []
    for r in build().router.routes:
        if isinstance(r, Mount):
            continue
        out += [(m, _concrete(r.path)) for m in sorted((r.methods or {"GET"}) - {"HEAD"})]
    return out


def _send(c: httpx.Client, method: str, url: str, headers: dict | None = None) -> httpx.Response:
    kw: dict = {"headers": headers or {}}
    if method in ("POST", "PUT", "PATCH"):
        kw["json"] = {}
    if url.endswith("/mcp"):
        kw["headers"] = {**kw["headers"], "Accept": "application/json, text/event-stream"}
    return c.request(method, url, **kw)


def _is_error_shape(r: httpx.Response) -> bool:
    try:
        err = r.json()["error"]
    except Exception:
        return False
    return isinstance(err, dict) and isinstance(err.get("message"), str) and "type" in err


@pytest.fixture
def gw(gateway_factory, upstream, tmp_path):
    text = basic_config(upstream.url).replace(
        "settings:\n", f'settings:\n  database_url: "sqlite:///{tmp_path / "a.db"}"\n')
    (tmp_path / "accord.yaml").write_text(text)  # what POST /config/reload reads again (the cwd is tmp_path)
    return gateway_factory(text)


def test_every_route_refuses_missing_and_wrong_credentials(gw):
    routes = api_routes(gw.app)
    paths = {p for _, p in routes}
    assert {"/v1/chat/completions", "/key/generate", "/mcp", "/config/reload"} <= paths  # enumeration works
    assert set(PUBLIC) <= paths, "a public route went away: update PUBLIC"
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        vkey = c.post("/key/generate", json={"key_alias": "v"},
                      headers={"Authorization": f"Bearer {MASTER_KEY}"}).json()["key"]
        problems = []
        for method, path in routes:
            if path in PUBLIC:
                r = _send(c, method, path)
                if r.status_code != 200:
                    problems.append(f"{method} {path}: public route answered {r.status_code}")
                continue
            admin = not MODEL_ROUTE.match(path)
            none = _send(c, method, path)
            if none.status_code != 401 or not _is_error_shape(none) or "bearer" not in \
                    none.headers.get("www-authenticate", "").lower():
                problems.append(f"{method} {path} without a key: {none.status_code} {none.text[:120]}")
            for label, headers in (("wrong bearer", {"Authorization": f"Bearer {WRONG}"}),
                                   ("wrong x-api-key", {"x-api-key": WRONG}),
                                   ("unknown virtual key", {"Authorization": "Bearer sk-acc-doesnotexist"})):
                r = _send(c, method, path, headers)
                allowed = (401, 403) if admin or label == "unknown virtual key" else (401,)
                if r.status_code not in allowed or not _is_error_shape(r):
                    problems.append(f"{method} {path} with {label}: {r.status_code} {r.text[:120]}")
            if admin:
                r = _send(c, method, path, {"Authorization": f"Bearer {vkey}"})
                if r.status_code != 403 or not _is_error_shape(r):
                    problems.append(f"{method} {path} with a virtual key (admin route): {r.status_code}")
            # and the right key gets past auth (so the refusals above were about the key)
            r = _send(c, method, path, {"Authorization": f"Bearer {MASTER_KEY}"})
            if r.status_code in (401, 403):
                problems.append(f"{method} {path} refused the master key: {r.status_code} {r.text[:120]}")
    print(f"\nFIGURE auth: {len(routes)} method+route pairs, {len(routes) - len(PUBLIC)} refused without and with "
          "wrong credentials")
    assert problems == [], "\n".join(problems)


def test_ui_refuses_without_a_session_and_checks_csrf_and_throttles_sign_in(gw):
    routes = ui_routes()
    assert ("GET", "/login") in routes and ("POST", "/login") in routes
    problems = []
    with httpx.Client(base_url=gw.url, timeout=30, follow_redirects=False) as c:
        for cookies in ({}, {"accord_ui": "forged.session.cookie"}):
            c.cookies.clear()
            for k, v in cookies.items():
                c.cookies.set(k, v)
            for method, path in routes:
                if path.split("/")[1:2] and "/" + path.split("/")[1] in UI_PUBLIC:
                    continue
                # an API key is no session: the dashboard is cookie-only
                r = _send(c, method, f"/ui{path}", {"Authorization": f"Bearer {MASTER_KEY}"})
                if method == "GET":
                    ok = (r.status_code in (302, 303, 307) and "/ui/login" in r.headers.get("location", "")) \
                        or r.status_code == 401
                else:
                    ok = r.status_code == 401
                if not ok:
                    problems.append(f"{method} /ui{path} without a session ({cookies or 'none'}): {r.status_code}")
        assert problems == []

        # signed in: pages open; anything that changes state needs the CSRF token
        c.cookies.clear()
        r = c.post("/ui/login", json={"username": "admin", "password": MASTER_KEY})
        assert r.status_code == 200, r.text
        assert c.get("/ui/keys").status_code == 200
        for method, path in routes:
            if method == "GET" or path.startswith("/login"):
                continue
            for headers in ({}, {"x-csrf-token": "wrong-token"}):
                r = c.request(method, f"/ui{path}", data={"csrf_token": headers.get("x-csrf-token", "")},
                              headers=headers)
                if r.status_code != 403:
                    problems.append(f"{method} /ui{path} with a session but {headers or 'no'} CSRF: {r.status_code}")
        # a form sign-in without the login form's CSRF token is refused
        c.cookies.clear()
        r = c.post("/ui/login", data={"username": "admin", "password": MASTER_KEY})
        if r.status_code != 403:
            problems.append(f"form sign-in without CSRF token: {r.status_code}")
        # throttle: after a handful of wrong passwords even the right one waits
        statuses = [c.post("/ui/login", json={"username": "admin", "password": f"wrong-{i}"}).status_code
                    for i in range(6)]
        if statuses[0] != 401 or statuses[-1] != 429:
            problems.append(f"sign-in throttle: {statuses}")
        r = c.post("/ui/login", json={"username": "admin", "password": MASTER_KEY})
        if r.status_code != 429 or not r.headers.get("retry-after"):
            problems.append(f"right password during lock-out: {r.status_code}")
    assert problems == []


def test_key_comparison_is_constant_time(monkeypatch):
    """The master key check is decided by the constant-time comparison, given the whole key whatever part of it
    is wrong (no early exit before it). The timing itself is measured in bench/key_compare.py, not here."""
    from accord import auth

    master = "sk-" + "k" * 61
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    for key in ("X" + master[1:], master[:-1] + "X", "short", master):
        calls.clear()
        assert auth.is_master(master, key) is (key == master)
        assert calls == [(key.encode(), master.encode())], key
