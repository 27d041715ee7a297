"""The dashboard in a real browser (Debian's Chromium driven by Playwright): sign in, keys used through the
openai SDK and seen in Logs and Overview, revoked and refused, a consensus run in the playground.

Screenshots of every page (desktop and phone width) go to test-artifacts/ui/.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openai
import pytest
from playwright.sync_api import expect

from conftest import MASTER_KEY, Gateway
from fakes import FakeUpstream, Reply
from panelkit import UPSTREAM, chair_json, panel_config, responder
from servers import need
from waiting import DEADLINE, wait_for

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
USER, PASSWORD = "admin", "correct horse battery staple"
PHONE = {"width": 390, "height": 844}
ANSWERS = {
    "deepseek-chat": "Yes. A queue decouples the producers from the consumers, smooths bursts and lets each side "
                     "scale on its own. Start with the managed option; move only if cost forces it.",
    "qwen3-max": "Against: a queue adds a moving part, another thing to monitor and a new failure mode "
                 "(poison messages, redelivery). At today's traffic a direct call with retries is enough.",
    "kimi-k2-0905-preview": "Yes, with care: make consumers idempotent, cap retries, add a dead-letter queue and "
                            "alert on its depth. The bursts in last month's incident would have been absorbed.",
}


def ui_config(url: str, data: Path, extra: str = "") -> str:
    cfg = panel_config(url, master_key=MASTER_KEY)
    return cfg.replace("settings:\n", f"settings:\n  data_dir: {data}\n  ui_username: {USER}\n"
                                      f"  ui_password: {PASSWORD}\n{extra}", 1)


def panel_replies(upstream: FakeUpstream) -> None:
    upstream.responder = responder(
        lambda m, r: Reply(content=ANSWERS.get(m, f"{m}: yes"), delay=0.2 if m == "qwen3-max" else 0.05),
        chair=Reply(content=chair_json(["deepseek", "kimi"], "Adopt the queue, with idempotent consumers and a "
                                                               "dead-letter queue."), delay=0.1))


@pytest.fixture(scope="module")
def browser() -> Iterator:
    exe = need("chromium", "/usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def gw(upstream_server: FakeUpstream, tmp_path_factory) -> Iterator[Gateway]:
    g = Gateway(ui_config(upstream_server.url, tmp_path_factory.mktemp("ui-data")))
    yield g
    g.stop()


def sign_in(page, gw: Gateway, password: str = PASSWORD) -> None:
    page.goto(f"{gw.url}/ui/")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def page(browser, gw: Gateway) -> Iterator:
    expect.set_options(timeout=DEADLINE * 1000)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(DEADLINE * 1000)  # playwright's waits are for conditions: give them the suite's safety net
    sign_in(pg, gw)
    pg.wait_for_url(f"{gw.url}/ui/")
    yield pg
    ctx.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def counter(page, gw: Gateway, name: str) -> str:
    page.goto(f"{gw.url}/ui/?window=1h")
    return page.locator(f"#stat-{name} .v").inner_text()


def test_sign_in_by_form_sets_a_safe_session_cookie(browser, gw: Gateway) -> None:
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.goto(f"{gw.url}/ui/logs")
    assert "/ui/login" in pg.url  # every page needs a session
    shot(pg, "login")
    pg.get_by_label("Username").fill(USER)
    pg.get_by_label("Password").fill(PASSWORD)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url(f"{gw.url}/ui/logs")  # back where it was going
    assert pg.get_by_role("heading", name="Request log").is_visible()
    cookie = next(c for c in ctx.cookies() if c["name"] == "accord_ui")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/ui/"
    pg.get_by_role("button", name=re.compile("Sign out")).click()
    pg.wait_for_url(re.compile(r"/ui/login"))
    pg.goto(f"{gw.url}/ui/keys")
    assert "/ui/login" in pg.url
    ctx.close()


def test_wrong_password_shows_an_error_and_repeats_are_throttled(browser, upstream, gateway_factory,
                                                                tmp_path: Path) -> None:
    g = gateway_factory(ui_config(upstream.url, tmp_path / "data"))  # its own throttle: others keep signing in
    ctx = browser.new_context(viewport=PHONE)
    pg = ctx.new_page()
    sign_in(pg, g, "wrong")
    assert pg.locator("#login-error").inner_text() == "Wrong username or password."
    shot(pg, "login-error-phone")
    for _ in range(4):
        sign_in(pg, g, "wrong")
    assert re.search(r"Too many failed sign-ins\. Try again in \d+ s", pg.locator("#login-error").inner_text())
    sign_in(pg, g, PASSWORD)  # even the right password waits out the lock
    assert "Too many failed sign-ins" in pg.locator("#login-error").inner_text()
    assert "/ui/login" in pg.url
    ctx.close()


def test_key_created_used_logged_counted_and_revoked(page, gw: Gateway, upstream) -> None:
    panel_replies(upstream)
    before = int(counter(page, gw, "requests").replace(",", ""))
    page.goto(f"{gw.url}/ui/keys")
    page.get_by_label("Name").fill("ci-bot")
    page.get_by_label("Budget ($, empty: none)").fill("5")
    page.get_by_label("Requests per minute").fill("60")
    page.get_by_label("Expires after (e.g. 30d, 12h; empty: never)").fill("30d")
    page.get_by_label("deepseek", exact=True).check()
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").input_value()
    assert key.startswith("sk-acc-")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    shot(page, "keys-created")

    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(model="deepseek", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == ANSWERS["deepseek-chat"]
    with pytest.raises(openai.PermissionDeniedError):  # the key's model list holds
        client.chat.completions.create(model="kimi", messages=[{"role": "user", "content": "hi"}])

    def logged():  # usage is written in batches, every half second
        page.goto(f"{gw.url}/ui/logs?model=deepseek")
        rows = page.locator("#log tbody tr").filter(has_text="ci-bot")
        return rows if rows.count() >= 1 else None

    rows = wait_for(logged, "the key's request in the request log")
    assert rows.count() >= 1 and "200" in rows.first.inner_text()
    page.get_by_label("Model").select_option("kimi")
    page.get_by_label("Status").select_option("error")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("#log tbody tr").filter(has_text="ci-bot").count() >= 1  # the refused kimi call
    shot(page, "logs")
    assert int(counter(page, gw, "requests").replace(",", "")) >= before + 2

    page.goto(f"{gw.url}/ui/keys")
    page.once("dialog", lambda d: d.accept())
    page.locator("tr[data-key-name=ci-bot]").get_by_role("button", name="Revoke").click()
    page.wait_for_load_state()
    assert page.locator("tr[data-key-name=ci-bot]").count() == 0
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        client.chat.completions.create(model="deepseek", messages=[{"role": "user", "content": "hi"}])
    page.get_by_role("link", name="Show revoked").click()
    assert "revoked" in page.locator("tr[data-key-name=ci-bot]").inner_text()


def test_playground_answers_stream_in_while_the_models_work(page, gw: Gateway, upstream) -> None:
    slow = "Yes, with care: idempotent consumers, capped retries and a dead-letter queue."
    seen_partial = threading.Event()  # kimi streams three pieces, then the rest once the test has seen them
    upstream.responder = responder(
        lambda m, r: Reply(content=slow, chunk_size=6, chunk_hold=lambda i: i < 3 or seen_partial.is_set())
        if m == UPSTREAM["kimi"] else Reply(content=ANSWERS.get(m, f"{m}: yes")),
        chair=Reply(content=chair_json(["deepseek", "kimi"])))
    page.goto(f"{gw.url}/ui/playground")
    page.get_by_label("Question").fill("Queue or not?")
    page.get_by_role("button", name="Ask the panel").click()
    kimi = page.locator('article[data-label="kimi"]')
    kimi.locator(".badge", has_text="answering").wait_for()
    expect(kimi.locator(".text")).to_have_text(slow[:18])  # part of the answer, as it streams in
    seen_partial.set()
    page.locator("#synthesis").wait_for(state="visible")
    assert kimi.locator(".text").inner_text() == slow


def test_playground_streams_every_answer_then_the_synthesis(page, gw: Gateway, upstream) -> None:
    panel_replies(upstream)
    page.goto(f"{gw.url}/ui/playground")
    page.get_by_label("Question").fill("Should we put a queue between the API and the workers?")
    assert page.get_by_label("kimi", exact=True).is_checked()  # the configured panel is preselected
    page.get_by_label("Stance of qwen").select_option("against")
    page.get_by_role("button", name="Ask the panel").click()
    page.locator("#synthesis").wait_for(state="visible")
    for label, upstream_id in (("deepseek", "deepseek"), ("qwen:against", "qwen"), ("kimi", "kimi")):
        card = page.locator(f'article[data-label="{label}"]')
        assert ANSWERS[UPSTREAM[upstream_id]] in card.inner_text()
        assert "done" in card.locator(".badge").inner_text()
    assert "Adopt the queue" in page.locator("#synthesis-text").inner_text()
    # the largest group of like answers (three differently worded answers: 1 of 3), then the chair's judgement
    assert page.locator("#agreement").inner_text() == "agreement 33% · chair 67%"
    shot(page, "playground")
    page.get_by_role("link", name="Open the stored thread").click()
    assert page.get_by_role("heading", name="Should we put a queue").is_visible()
    assert page.locator("article.msg.chair").count() == 1 and page.locator("article.msg.panel").count() == 3
    shot(page, "thread")


def backfill(gw: Gateway, n: int = 600) -> None:
    """An hour of earlier traffic, through the real usage writer, so the charts in the screenshots have a shape."""
    rnd = random.Random(7)
    now = datetime.now(timezone.utc)
    speed = {"deepseek": 900, "qwen": 1400, "kimi": 2200, "gpt": 600}
    for i in range(n):
        model = rnd.choice(list(speed))
        pt, ct = rnd.randint(200, 3000), rnd.randint(50, 1200)
        gw.app.state.store.record({
            "created_at": now - timedelta(minutes=rnd.triangular(2, 60, 20)), "request_id": f"earlier-{i}",
            "route": "chat", "model": model, "deployment": model, "provider": "fake", "prompt_tokens": pt,
            "completion_tokens": ct, "cost": (pt * 0.3 + ct * 1.2) / 1e6, "status": 500 if rnd.random() < 0.03 else 200,
            "latency_ms": rnd.lognormvariate(0, 0.5) * speed[model], "stream": rnd.random() < 0.5})


def test_every_page_renders_on_desktop_and_phone(page, browser, gw: Gateway, upstream) -> None:
    backfill(gw)
    upstream.responder = lambda req: Reply(status=500) if req["json"].get("model") == "kimi-k2-0905-preview" \
        else Reply(content="ok", delay=0.01 * (len(req["json"].get("messages", [])) % 5))
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0)
    for i in range(24):  # some traffic, a few errors, for the charts
        with contextlib.suppress(openai.APIStatusError):
            client.chat.completions.create(model=("deepseek", "qwen", "gpt", "kimi")[i % 4],
                                           messages=[{"role": "user", "content": "x"}] * (1 + i % 5))
    store = gw.app.state.store
    wait_for(lambda: store.usage is not None and store.usage.written >= 600 + 24, "the traffic's usage written")
    page.goto(f"{gw.url}/ui/models")
    page.locator("[data-test-model=gpt]").click()
    expect(page.locator("tr", has=page.locator("[data-test-model=gpt]")).locator(".test-result")).to_contain_text(
        re.compile(r"ok in [\d.]+ ms"))
    assert "cooling down" in page.locator("tbody tr").filter(has_text="kimi").inner_text()
    shot(page, "models")
    page.goto(f"{gw.url}/ui/settings")
    settings = page.locator("#config").inner_text()
    assert PASSWORD not in settings and MASTER_KEY not in settings and '"ui_password": "****"' in settings
    shot(page, "settings")
    page.goto(f"{gw.url}/ui/threads")
    shot(page, "threads")
    page.goto(f"{gw.url}/ui/?window=1h")
    assert page.locator("#stat-errors .v").inner_text() != "0.0%"
    assert page.locator("svg.chart").count() == 4
    shot(page, "overview")
    phone = browser.new_context(viewport=PHONE, storage_state=page.context.storage_state())
    pp = phone.new_page()
    for path, name in (("/ui/?window=1h", "overview"), ("/ui/playground", "playground"), ("/ui/keys", "keys"),
                       ("/ui/logs", "logs")):
        pp.goto(f"{gw.url}{path}")
        width = pp.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} scrolls sideways on a phone ({width}px)"
        shot(pp, f"{name}-phone")
    assets = pp.evaluate("[...document.querySelectorAll('script[src],link[href]')].map(e => e.src || e.href)")
    assert assets and all(a.startswith(f"{gw.url}/ui/static/") for a in assets)  # nothing from a CDN
    phone.close()
