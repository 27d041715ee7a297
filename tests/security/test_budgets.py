"""A key's budget holds: sequentially exactly the requests that fit are served, however the usage flushes fall;
concurrently at most the requests in flight when it was reached go over it, each bounded by the reservation
made before its upstream call; on SQLite and PostgreSQL, and across two instances sharing PostgreSQL and Redis.

The arithmetic the bounds come from (accord/costs.py, store/ledger.py):
- every request costs c: the fake reports PROMPT prompt tokens and COMPLETION completion tokens for REPLY, at
  the catalog prices of gpt-4o-mini; the budget B = 2.5 c fits 3 (spent 0, c, 2c < B; 3c >= B);
- a request is let through only while spent + reserved < B, and reserves R = (body bytes) prompt tokens +
  max_tokens completion tokens at the same prices, R >= c;
- so each earlier admitted request counts at least c when the last one is let through: (n - 1) c < B, n <= 3;
  and the spend ends below B + R (the last reservation, which its real cost never exceeds).
"""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import orjson
import pytest

from accord.catalog import lookup
from conftest import MASTER_KEY
from fakes import Reply, count_tokens
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
REPLY = "x" * 400
PROMPT, COMPLETION = Reply().prompt_tokens, count_tokens(REPLY)
PRICES = lookup("gpt-4o-mini")
C = PRICES.cost(PROMPT, COMPLETION)  # what one request costs
B = 2.5 * C  # fits 3
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": COMPLETION}
R = PRICES.cost(len(orjson.dumps(BODY)), COMPLETION)  # what one request reserves
FIT = 3
assert C <= R < B and (FIT - 1) * C < B <= FIT * C  # the arithmetic above holds for these figures


def config(upstream_url: str, database_url: str, redis_url: str | None = None) -> str:
    redis = f"  redis_url: {redis_url}\n" if redis_url else ""
    return (f"settings:\n  master_key: {MASTER_KEY}\n  num_retries: 0\n  database_url: \"{database_url}\"\n{redis}"
            f"models:\n  - {{name: m, model: openai/gpt-4o-mini, api_base: \"{upstream_url}/v1\", api_key: k}}\n")


@pytest.fixture
def gw(upstream, gateway_factory, database_url):
    g = gateway_factory(config(upstream.url, database_url))
    wait_for(lambda: httpx.get(f"{g.url}/health/readiness").json()["db"] == "connected", "the database to open")
    return g


def new_key(url: str, budget: float | None = B) -> str:
    r = httpx.post(f"{url}/key/generate", json={"max_budget": budget, "key_alias": "budgeted"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["key"]


def chat(url: str, key: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {key}"},
                      timeout=60)


def rows(url: str) -> list[dict]:
    return httpx.get(f"{url}/spend/logs", params={"limit": 1000}, headers=ADMIN).json()


def spent_in_db(url: str) -> float:
    return httpx.get(f"{url}/key/info", params={"key": "budgeted"}, headers=ADMIN).json()["info"]["spend"]


def sequential(urls: list[str], key: str, flushes: int = 3, earlier: int = 0) -> list[int]:
    """One request after another, until the usage writer has flushed `flushes` times in between: right after
    a flush is when the old code forgot the spend (its key cache still held the old figure). `earlier`: usage
    rows written before."""
    statuses: list[int] = []
    written, seen = earlier, 0
    while seen < flushes:
        r = chat(urls[len(statuses) % len(urls)], key)
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "budget_exceeded" and "budgeted" in r.json()["error"]["message"]
        if (n := len(rows(urls[0]))) > written:
            written, seen = n, seen + 1
        assert len(statuses) < 5_000, "the usage writer never flushed"
    wait_for(lambda: len(rows(urls[0])) == earlier + len(statuses), "every usage row to be written")
    return statuses


def concurrent(urls: list[str], key: str, n: int = 40) -> list[int]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: chat(urls[i % len(urls)], key).status_code, range(n)))


def test_sequential_requests_stop_exactly_at_the_budget(gw, upstream):
    upstream.default = Reply(content=REPLY)
    key = new_key(gw.url)
    statuses = sequential([gw.url], key)
    assert statuses == [200] * FIT + [429] * (len(statuses) - FIT)
    assert spent_in_db(gw.url) == pytest.approx(FIT * C)


def test_concurrent_requests_overrun_by_at_most_the_reservations_in_flight(gw, upstream):
    upstream.default = Reply(content=REPLY, delay=0.3)  # wait-ok: holds the upstream calls in flight together
    key = new_key(gw.url)
    statuses = concurrent([gw.url], key)
    served = statuses.count(200)
    assert 1 <= served <= FIT and statuses.count(429) == 40 - served, statuses
    wait_for(lambda: len(rows(gw.url)) == 40, "every request's usage row to be written")
    assert served * C == pytest.approx(spent_in_db(gw.url)) and spent_in_db(gw.url) < B + R


def test_every_ending_releases_the_reservation_and_charges_what_was_sent(gw, upstream):
    """A budget of one reservation: if a failed, cut-off or answered request kept holding it, the next
    request would be refused."""
    key = new_key(gw.url, budget=R)
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
    upstream.reply(status=500)
    with pytest.raises(openai.InternalServerError):
        c.chat.completions.create(**BODY)
    upstream.reply(content=REPLY * 4, chunk_size=4, chunk_delay=0.05)  # wait-ok: a slow stream, cut off below
    with c.chat.completions.create(**BODY, stream=True) as s:
        next(iter(s))  # the first chunk, then the client goes
    wait_for(lambda: len(rows(gw.url)) == 2, "the cut-off stream's usage row")
    cut = rows(gw.url)[0]
    assert cut["status"] == 499 and cut["spend"] > 0  # what was streamed before the cut is charged
    upstream.reply(content="ok")
    assert wait_for(lambda: chat(gw.url, key).status_code == 200, "the reservations to be released")


def test_a_budget_given_later_counts_what_the_key_spent_before(gw, upstream):
    """A key without a budget is not followed by the ledger once its spend is written (the writer reads back only
    budgeted keys' totals); given a budget, its earlier spend counts, and what it spends after is followed."""
    upstream.default = Reply(content=REPLY)
    key = new_key(gw.url, budget=None)
    assert [chat(gw.url, key).status_code for _ in range(2)] == [200, 200]
    wait_for(lambda: len(rows(gw.url)) == 2, "the unbudgeted key's usage rows to be written")
    r = httpx.post(f"{gw.url}/key/update", json={"key": "budgeted", "max_budget": 2 * C + B}, headers=ADMIN)
    assert r.status_code == 200, r.text
    statuses = sequential([gw.url], key, earlier=2)  # 2 c spent: 3 more fit (2c, 3c, 4c < 4.5 c)
    assert statuses == [200] * FIT + [429] * (len(statuses) - FIT)
    assert spent_in_db(gw.url) == pytest.approx((2 + FIT) * C)


# ------------------------------------------------------------------------ two instances, one budget
@pytest.fixture
def two(tmp_path, upstream, postgres_server, redis_server):
    from test_scale_out import Instance

    postgres_server.reset()
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(config(upstream.url, postgres_server.url, redis_server.url))
    a, b = Instance.several(cfg, 2)
    try:
        yield [a.url, b.url]
    finally:
        a.stop(signal.SIGTERM)
        b.stop(signal.SIGTERM)


def test_two_instances_hold_one_budget(two, upstream):
    upstream.default = Reply(content=REPLY)
    key = new_key(two[0])
    statuses = sequential(two, key)  # alternating A, B, A, ...
    assert statuses == [200] * FIT + [429] * (len(statuses) - FIT)

    upstream.default = Reply(content=REPLY, delay=0.3)  # wait-ok: holds the upstream calls in flight together
    key = new_key(two[1])
    statuses = concurrent(two, key)
    served = statuses.count(200)
    assert 1 <= served <= FIT and statuses.count(429) == 40 - served, statuses
