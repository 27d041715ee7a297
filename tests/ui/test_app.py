"""The dashboard over plain HTTP: sign-in (JSON and forms, master key, argon2 hash), cookies, CSRF, sessions
across restarts, the set-up page, lazy start, and the request log at a million rows."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from conftest import MASTER_KEY, Gateway
from panelkit import panel_config

USER, PASSWORD = "admin", "correct horse battery staple"


def config(url: str, data: Path, *, password: str | None = PASSWORD, master_key: str | None = MASTER_KEY) -> str:
    cfg = panel_config(url, master_key=master_key)
    ui = f"  ui_username: {USER}\n  ui_password: '{password}'\n" if password else ""
    return cfg.replace("settings:\n", f"settings:\n  data_dir: {data}\n{ui}", 1)


def signed_in(g: Gateway, password: str = PASSWORD, **kw) -> httpx.Client:
    c = httpx.Client(base_url=g.url, **kw)
    r = c.post("/ui/login", json={"username": USER, "password": password})
    assert r.status_code == 200, r.text
    return c


def csrf(c: httpx.Client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', c.get("/ui/keys").text).group(1)


def test_sign_in_by_json_or_master_key_and_every_page_needs_a_session(upstream, gateway_factory, tmp_path):
    g = gateway_factory(config(upstream.url, tmp_path))
    anon = httpx.Client(base_url=g.url)
    for path in ("/ui/", "/ui/models", "/ui/keys", "/ui/logs", "/ui/playground", "/ui/threads", "/ui/settings"):
        r = anon.get(path)
        assert r.status_code == 303 and r.headers["location"] == f"/ui/login?next={path}"
    assert anon.post("/ui/api/consensus", json={}).status_code == 401
    assert anon.post("/ui/login", json={"username": USER, "password": "nope"}).json() == {
        "error": "Wrong username or password."}
    r = anon.post("/ui/login", json={"username": "anyone", "password": MASTER_KEY})  # the master key signs in too
    assert r.status_code == 200 and r.json() == {"ok": True, "user": "anyone"}
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/ui/" in cookie and "Secure" not in cookie
    behind_tls = httpx.post(f"{g.url}/ui/login", json={"username": USER, "password": PASSWORD},
                            headers={"x-forwarded-proto": "https"})
    assert "Secure" in behind_tls.headers["set-cookie"]
    page = anon.get("/ui/")
    assert page.status_code == 200 and "Overview" in page.text
    assert page.headers["cache-control"] == "no-store" and "script-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # every asset is served by Accord itself
    assert anon.get("/v1/models").status_code == 401  # the model API keeps its own key auth


def test_every_post_needs_the_csrf_token(upstream, gateway_factory, tmp_path):
    g = gateway_factory(config(upstream.url, tmp_path))
    c = signed_in(g)
    assert c.post("/ui/keys/create", data={"name": "x"}).status_code == 403
    assert c.post("/ui/keys/create", data={"name": "x", "csrf_token": "forged"}).status_code == 403
    assert c.post("/ui/api/models/test", json={"deployment": "gpt"}).status_code == 403
    assert c.post("/ui/logout").status_code == 403
    r = c.post("/ui/keys/create", data={"name": "ok", "max_budget": "2.5", "csrf_token": csrf(c)})
    assert r.status_code == 201 and re.search(r'id="new-key" readonly value="sk-acc-', r.text)
    bad = c.post("/ui/keys/create", data={"name": "x", "rpm_limit": "many", "csrf_token": csrf(c)})
    assert bad.status_code == 400 and "`rpm_limit` must be a whole number" in bad.text
    login_form = httpx.post(f"{g.url}/ui/login", data={"username": USER, "password": PASSWORD})
    assert login_form.status_code == 403 and "CSRF" in login_form.text  # the sign-in form is protected too


def test_sessions_survive_a_restart_and_end_when_the_password_changes(upstream, tmp_path):
    cfg = config(upstream.url, tmp_path, master_key=None)  # secret from a file in the data folder
    first = Gateway(cfg)
    cookies = signed_in(first).cookies
    first.stop()
    second = Gateway(cfg)
    try:
        assert httpx.get(f"{second.url}/ui/keys", cookies=cookies).status_code == 200
    finally:
        second.stop()
    assert oct((tmp_path / "ui-session-secret").stat().st_mode & 0o777) == "0o600"
    changed = Gateway(config(upstream.url, tmp_path, password="another passphrase", master_key=None))
    try:
        assert httpx.get(f"{changed.url}/ui/keys", cookies=cookies).status_code == 303
    finally:
        changed.stop()


def test_an_argon2_hash_in_the_config_signs_in_with_its_password(upstream, gateway_factory, tmp_path):
    hashed = PasswordHasher().hash("s3cret words")
    g = gateway_factory(config(upstream.url, tmp_path, password=hashed, master_key=None))
    signed_in(g, "s3cret words")
    r = httpx.post(f"{g.url}/ui/login", json={"username": USER, "password": hashed})
    assert r.status_code == 401  # the hash itself is not a password


def test_without_a_password_or_master_key_the_page_says_how_to_set_one(upstream, gateway_factory, tmp_path):
    g = gateway_factory(config(upstream.url, tmp_path, password=None, master_key=None))
    r = httpx.get(f"{g.url}/ui/login")
    assert r.status_code == 503 and "ui_password" in r.text and "UI_PASSWORD" in r.text
    assert httpx.post(f"{g.url}/ui/login", json={"username": "", "password": ""}).status_code == 503


def test_the_dashboard_is_built_on_its_first_request(upstream, gateway_factory, tmp_path):
    from accord.ui import LazyUI

    g = gateway_factory(config(upstream.url, tmp_path))
    lazy = next(r.app for r in g.app.routes if isinstance(getattr(r, "app", None), LazyUI))
    assert lazy.app is None
    assert httpx.get(f"{g.url}/ui/login").status_code == 200
    assert lazy.app is not None


def test_request_log_at_a_million_rows(upstream, gateway_factory, tmp_path):
    """Filters and keyset pages stay index walks at 1,000,000 rows (timings go to the test output)."""
    g = gateway_factory(config(upstream.url, tmp_path))
    c = signed_in(g, timeout=30)
    assert c.get("/ui/logs").status_code == 200  # the database exists
    db = sqlite3.connect(tmp_path / "accord.db")
    db.execute("""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
        INSERT INTO usage (created_at, request_id, key_id, route, model, prompt_tokens, completion_tokens,
                           reasoning_tokens, cost, latency_ms, status, stream)
        SELECT datetime('2026-01-01', '+' || (i * 2) || ' seconds'), 'r' || i, CASE WHEN i % 3 = 0 THEN 'k1' END,
               'chat', CASE i % 4 WHEN 0 THEN 'deepseek' WHEN 1 THEN 'qwen' WHEN 2 THEN 'kimi' ELSE 'gpt' END,
               100, 50, 0, 0.001, 500.0, CASE WHEN i % 997 = 0 THEN 500 ELSE 200 END, 0 FROM n""")
    db.commit()
    db.close()
    timings = {}
    for name, query in (("newest", ""), ("model", "model=kimi"), ("errors", "status=error"),
                        ("key", "key_id=k1"), ("range", "start=2026-01-10T00:00&end=2026-01-20T00:00"),
                        ("errors in range", "status=error&start=2026-01-10T00:00&end=2026-01-20T00:00")):
        t = time.perf_counter()
        r = c.get(f"/ui/logs?{query}")
        timings[name] = round((time.perf_counter() - t) * 1000)
        assert r.status_code == 200 and r.text.count("<tr class=") == 50, name
        older = re.search(r'href="(\?[^"]*before=(\d+)[^"]*)" rel="next"', r.text)
        assert older, name
        following = c.get("/ui/logs" + older.group(1).replace("&amp;", "&"))
        assert following.text.count("<tr class=") == 50
    r = c.get("/ui/logs?start=2026-01-10T00:00&end=2026-01-10T00:01")
    assert r.text.count("<tr class=") == 30  # a row every 2 s, the end excluded
    print("request log at 1,000,000 rows, ms per page:", timings)


@pytest.mark.parametrize("window", ["1h", "24h", "7d", "30d"])
def test_overview_windows(upstream, gateway_factory, tmp_path, window):
    g = gateway_factory(config(upstream.url, tmp_path))
    r = signed_in(g).get(f"/ui/?window={window}")
    assert r.status_code == 200 and r.text.count('<svg class="chart"') == 4


async def test_every_kind_of_thread_renders(upstream, tmp_path):
    """chat, thinkdeep, challenge, consensus in each mode, failed and cancelled threads, stored by the real
    tools, on the threads page, the playground's recent list and each thread's own page."""
    import asyncio

    from accord.config import parse
    from accord.mcp.server import build
    from accord.mcp.state import State
    from fakes import Reply
    from mcp import Client
    from panelkit import chair_json, responder

    upstream.responder = responder(lambda m, r: Reply(content=f"{m} says 7. ANSWER: 7"),
                                   chair=Reply(content=chair_json(["deepseek"])))
    text = config(upstream.url, tmp_path)
    state = State.create(parse(text))
    await state.start()
    try:
        async with Client(build(state)) as c:
            for tool, args in (("chat", {"prompt": "hi", "model": "gpt"}),
                               ("thinkdeep", {"problem": "why?", "model": "deepseek"}),
                               ("challenge", {"statement": "2+2=5", "model": "kimi"}),
                               *(("consensus", {"question": f"q {mode}", "mode": mode, "answer_format": "number"})
                                 for mode in ("synthesize", "vote", "review", "debate"))):
                r = await c.call_tool(tool, args)
                assert not r.is_error, r.content[0].text
            upstream.responder = lambda req: Reply(status=500)
            assert (await c.call_tool("consensus", {"question": "all fail"})).is_error
            assert (await c.call_tool("chat", {"prompt": "fails", "model": "gpt"})).is_error
        cancelled = await state.store.open("consensus", "given up", mode="synthesize", panel=["deepseek"])  # as a cancel leaves it
        await state.store.finish(cancelled, status="cancelled")
        kinds = {(t["tool"], t["mode"], t["status"]) for t in await state.store.recent(50)}
    finally:
        await state.close()
    assert {("chat", None, "done"), ("thinkdeep", None, "done"), ("challenge", None, "done"),
            ("consensus", "vote", "done"), ("consensus", "synthesize", "failed"), ("chat", None, "failed"),
            ("consensus", "synthesize", "cancelled")} <= kinds, kinds
    assert {m for tool, m, _ in kinds if tool == "consensus"} == {"synthesize", "vote", "review", "debate"}

    def pages() -> None:
        g = Gateway(text)
        try:
            c = signed_in(g)
            for path in ("/ui/threads", "/ui/playground"):
                r = c.get(path)
                assert r.status_code == 200, (path, r.text[:500])
            ids = re.findall(r'href="/ui/threads/([0-9a-f-]{36})"', c.get("/ui/threads").text)
            assert len(set(ids)) == 10
            for tid in set(ids):
                r = c.get(f"/ui/threads/{tid}")
                assert r.status_code == 200 and "Threads" in r.text, (tid, r.text[:500])
        finally:
            g.stop()

    await asyncio.to_thread(pages)
