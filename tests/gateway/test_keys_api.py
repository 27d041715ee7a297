"""Virtual keys, limits, usage and cost, against SQLite and PostgreSQL, through the openai SDK and the admin API."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import openai
import pytest

from conftest import MASTER_KEY, basic_config
from waiting import fails_with, wait_for, wait_http

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
MSG = [{"role": "user", "content": "hi"}]


def wait_ready(gw) -> None:
    wait_http(f"{gw.url}/health/readiness", "the store to open", want='"db":"connected"')


@pytest.fixture
def gw(upstream, gateway_factory, database_url):
    cfg = basic_config(upstream.url).replace("  num_retries: 0", f"  num_retries: 0\n  database_url: \"{database_url}\"")
    g = gateway_factory(cfg)
    wait_ready(g)
    g.database_url = database_url
    return g


def generate(gw, **body) -> dict:
    r = httpx.post(f"{gw.url}/key/generate", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


def sdk(gw, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def db_rows(gw, sql: str) -> list[tuple]:
    """Read the database directly, as an operator would."""
    from sqlalchemy import text

    from accord.store.db import Database

    async def q():
        db = Database(gw.router and __import__("accord.store.db", fromlist=["x"]).database_url(gw.cfg.settings))
        try:
            async with db.engine.connect() as c:
                return [tuple(r) for r in (await c.execute(text(sql))).all()]
        finally:
            await db.close()

    return asyncio.run(q())


def flushed(gw, n: int) -> list[tuple]:
    def rows() -> list[tuple]:
        got = db_rows(gw, "SELECT model, status, prompt_tokens, completion_tokens, cost, key_id, stream, error_type "
                          "FROM usage ORDER BY id")
        return got if len(got) >= n else []

    return wait_for(rows, f"{n} usage rows in the database")


def test_key_lifecycle_and_hashed_storage(gw, upstream):
    made = generate(gw, key_alias="ci-bot", models=["gpt-test"], max_budget=5, rpm_limit=100, duration="30d",
                    metadata={"team": "x"})
    key = made["key"]
    assert key.startswith("sk-acc-") and made["key_alias"] == "ci-bot" and made["expires"]
    assert sdk(gw, key).chat.completions.create(model="fast", messages=MSG).choices  # alias of an allowed model

    # stored hashed, with a visible prefix; the key itself is nowhere in the database
    rows = db_rows(gw, "SELECT key_hash, key_prefix, name FROM virtual_keys")
    assert rows == [(hashlib.sha256(key.encode()).hexdigest(), key[:11], "ci-bot")]
    dump = str(db_rows(gw, "SELECT * FROM virtual_keys"))
    assert key not in dump and key[11:] not in dump

    listed = httpx.get(f"{gw.url}/key/list", headers=ADMIN).json()
    assert listed["total_count"] == 1 and key not in str(listed)
    info = httpx.get(f"{gw.url}/key/info", params={"key": key}, headers=ADMIN).json()
    assert info["info"]["models"] == ["gpt-test"] and info["info"]["metadata"] == {"team": "x"}

    r = httpx.post(f"{gw.url}/key/update", json={"key": "ci-bot", "models": ["gpt-test", "embedder"]}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["models"] == ["gpt-test", "embedder"]

    r = httpx.post(f"{gw.url}/key/delete", json={"keys": [key]}, headers=ADMIN)
    assert r.json() == {"deleted_keys": [made["token"]]}
    create = sdk(gw, key).chat.completions.create
    wait_for(lambda: fails_with(openai.AuthenticationError, "revoked", create, model="gpt-test", messages=MSG),
             "the deleted key to be refused")


def test_model_allow_list(gw, upstream):
    key = generate(gw, models=["embedder"])["key"]
    with pytest.raises(openai.PermissionDeniedError, match="may not use model `gpt-test`"):
        sdk(gw, key).chat.completions.create(model="gpt-test", messages=MSG)
    assert [m.id for m in sdk(gw, key).models.list()] == ["embedder"]
    assert sdk(gw, key).embeddings.create(model="embedder", input="x").data


def test_budget_is_enforced(gw, upstream):
    key = generate(gw, max_budget=0.000001, key_alias="tiny")["key"]
    sdk(gw, key).chat.completions.create(model="gpt-test", messages=MSG)  # spends a little more than the budget
    with pytest.raises(openai.RateLimitError) as e:
        sdk(gw, key).chat.completions.create(model="gpt-test", messages=MSG)
    assert "budget" in e.value.message and "tiny" in e.value.message
    assert e.value.body["code"] == "budget_exceeded"
    r = httpx.post(f"{gw.url}/key/update", json={"key": "tiny", "max_budget": 10}, headers=ADMIN)
    assert r.status_code == 200
    assert sdk(gw, key).chat.completions.create(model="gpt-test", messages=MSG).choices


def test_rpm_and_tpm_limits(gw, upstream):
    key = generate(gw, rpm_limit=2)["key"]
    c = sdk(gw, key)
    c.chat.completions.create(model="gpt-test", messages=MSG)
    c.chat.completions.create(model="gpt-test", messages=MSG)
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="gpt-test", messages=MSG)
    assert "rpm limit of 2" in e.value.message and "resets in" in e.value.message
    assert 0 < int(e.value.response.headers["retry-after"]) <= 60

    key = generate(gw, tpm_limit=10)["key"]
    c = sdk(gw, key)
    c.chat.completions.create(model="gpt-test", messages=MSG)  # 11 + some tokens: over 10
    # counted in the process before the answer left (no Redis here), so the very next request is refused
    with pytest.raises(openai.RateLimitError, match="tpm limit of 10 tokens"):
        c.chat.completions.create(model="gpt-test", messages=MSG)


def test_expired_key(gw, upstream):
    key = generate(gw, duration="1s")["key"]
    create = sdk(gw, key).chat.completions.create
    wait_for(lambda: fails_with(openai.AuthenticationError, "expired", create, model="gpt-test", messages=MSG),
             "the key to expire")


def test_bad_admin_requests_are_clear(gw):
    for body, word in (({"duration": "forever"}, "duration"), ({"rpm_limit": -1}, "rpm_limit"),
                       ({"models": "gpt-test"}, "models")):
        r = httpx.post(f"{gw.url}/key/generate", json=body, headers=ADMIN)
        assert r.status_code == 400 and word in r.json()["error"]["message"]
    r = httpx.get(f"{gw.url}/key/info", params={"key": "sk-acc-nope"}, headers=ADMIN)
    assert r.status_code == 404
    key = generate(gw)["key"]
    for method, path in (("GET", "/key/list"), ("POST", "/key/generate"), ("GET", "/spend/logs")):
        r = httpx.request(method, f"{gw.url}{path}", json={}, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 403 and "master key" in r.json()["error"]["message"]


def test_usage_and_cost_recorded(gw, upstream):
    key = generate(gw, key_alias="meter")["key"]
    c = sdk(gw, key)
    upstream.reply(reasoning="think", content="answer")
    c.chat.completions.create(model="gpt-test", messages=MSG)
    list(c.chat.completions.create(model="gpt-test", messages=MSG, stream=True))
    upstream.reply(status=500)
    with pytest.raises(openai.APIStatusError):
        c.chat.completions.create(model="gpt-test", messages=MSG)
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="nope", messages=MSG)
    rows = flushed(gw, 4)
    assert [(r[0], r[1]) for r in rows] == [("gpt-test", 200), ("gpt-test", 200), ("gpt-test", 502), ("nope", 404)]
    first = rows[0]
    assert first[2] == 11 and first[3] > 0 and first[4] == pytest.approx((11 * 0.15 + first[3] * 0.6) / 1e6)
    assert rows[1][6] in (True, 1) and rows[1][3] > 0  # the stream's usage is known too
    assert rows[2][7] == "upstream_error"

    logs = httpx.get(f"{gw.url}/spend/logs", params={"limit": 2}, headers=ADMIN)
    page1 = logs.json()
    assert [r["status"] for r in page1] == [404, 502]  # newest first
    nxt = logs.headers["x-accord-next-before"]
    page2 = httpx.get(f"{gw.url}/spend/logs", params={"limit": 2, "before": nxt}, headers=ADMIN).json()
    assert [r["status"] for r in page2] == [200, 200] and page2[0]["ttft_ms"] is not None
    errors = httpx.get(f"{gw.url}/spend/logs", params={"status": "error"}, headers=ADMIN).json()
    assert len(errors) == 2

    by_model = httpx.get(f"{gw.url}/usage/summary", params={"group_by": "model"}, headers=ADMIN).json()["data"]
    gt = next(r for r in by_model if r["model"] == "gpt-test")
    assert gt["requests"] == 3 and gt["errors"] == 1 and gt["cost"] > 0
    by_key = httpx.get(f"{gw.url}/usage/summary", params={"group_by": "key"}, headers=ADMIN).json()["data"]
    assert by_key[0]["requests"] == 4
    spent = httpx.get(f"{gw.url}/key/info", params={"key": "meter"}, headers=ADMIN).json()["info"]["spend"]
    assert spent == pytest.approx(sum(r[4] for r in rows), rel=1e-6)
