"""Budgets that reset (`budget_duration`, LiteLLM's field names) and `max_price` per request, through the openai
SDK and the admin API, on SQLite and PostgreSQL; the period boundary is crossed with an injected clock."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import openai
import pytest

from accord import budgets
from conftest import MASTER_KEY, gateway_with_store
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
MSG = [{"role": "user", "content": "hi"}]


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock(datetime(2026, 3, 10, 23, 0, tzinfo=timezone.utc))
    monkeypatch.setattr(budgets, "now", c)
    return c



def info(gw, ref: str) -> dict:
    return httpx.get(f"{gw.url}/key/info", params={"key": ref}, headers=ADMIN).json()["info"]


def test_budget_resets_at_the_period_start(gateway_factory, upstream, database_url, clock):
    gw = gateway_with_store(gateway_factory, upstream, database_url)
    r = httpx.post(f"{gw.url}/key/generate", headers=ADMIN,
                   json={"key_alias": "daily", "max_budget": 0.000001, "budget_duration": "1d"})
    assert r.status_code == 200, r.text
    made = r.json()
    assert made["budget_duration"] == "1d" and made["budget_reset_at"] == "2026-03-11T00:00:00+00:00"
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=made["key"], max_retries=0)

    client.chat.completions.create(model="gpt-test", messages=MSG)  # spends more than the whole budget
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="gpt-test", messages=MSG)
    assert "this 1d period (it resets at 2026-03-11T00:00:00+00:00)" in e.value.message
    first = wait_for(lambda: info(gw, "daily")["spend"], "the first call's cost to be written")

    clock.at = datetime(2026, 3, 11, 0, 0, 1, tzinfo=timezone.utc)  # the next day: a new period
    client.chat.completions.create(model="gpt-test", messages=MSG)
    now = wait_for(lambda: (i := info(gw, "daily"))["total_spend"] > first * 1.5 and i, "the second cost")
    assert now["spend"] == pytest.approx(now["total_spend"] - first, rel=1e-9)  # this period's only
    assert now["resets_at"] == now["budget_reset_at"] == "2026-03-12T00:00:00+00:00"
    assert now["period_start"] == "2026-03-11T00:00:00+00:00"
    with pytest.raises(openai.RateLimitError):  # and the new period's budget is spent in turn
        client.chat.completions.create(model="gpt-test", messages=MSG)


def test_calendar_month_and_bad_durations(gateway_factory, upstream, database_url, clock):
    gw = gateway_with_store(gateway_factory, upstream, database_url)
    clock.at = datetime(2026, 1, 31, 12, tzinfo=timezone.utc)
    made = httpx.post(f"{gw.url}/key/generate", headers=ADMIN, json={"budget_duration": "1mo"}).json()
    assert made["resets_at"] == "2026-02-01T00:00:00+00:00"
    clock.at = datetime(2026, 2, 14, tzinfo=timezone.utc)
    assert info(gw, made["token"])["resets_at"] == "2026-03-01T00:00:00+00:00"
    for bad in ("2mo", "1w", "soon", 7):
        r = httpx.post(f"{gw.url}/key/generate", headers=ADMIN, json={"budget_duration": bad})
        assert r.status_code == 400 and "1d, 7d, 30d" in r.json()["error"]["message"], bad
    r = httpx.post(f"{gw.url}/key/update", headers=ADMIN, json={"key": made["token"], "budget_duration": "7d"})
    assert r.status_code == 200 and r.json()["budget_duration"] == "7d"


def test_max_price_refuses_a_request_before_the_upstream_call(gateway_factory, upstream, database_url):
    extra = (f"  - name: capped\n    model: openai/gpt-4o\n    api_base: {upstream.url}/v1\n    api_key: k\n"
             "    capabilities: {max_price: 0.01}\n")
    gw = gateway_with_store(gateway_factory, upstream, database_url, extra)
    made = httpx.post(f"{gw.url}/key/generate", headers=ADMIN, json={"key_alias": "thrifty", "max_price": 0.001})
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=made.json()["key"], max_retries=0)
    sent = len(upstream.requests)
    # gpt-4o-mini may write 16,384 tokens at $0.6/M: ~$0.0098 worst case, over the key's $0.001
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gpt-test", messages=MSG)
    assert e.value.body["code"] == "max_price_exceeded"
    assert "key `thrifty`'s max_price of $0.001" in e.value.message and "set max_tokens" in e.value.message
    assert len(upstream.requests) == sent  # never sent
    assert client.chat.completions.create(model="gpt-test", messages=MSG, max_tokens=100).choices

    master = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError, match=r"model `capped`'s max_price of \$0.01; lower max_tokens"):
        master.chat.completions.create(model="capped", messages=MSG, max_tokens=5000)  # $0.05 worst case
    assert master.chat.completions.create(model="capped", messages=MSG, max_tokens=100).choices


def test_two_instances_share_a_period_budget_through_redis(gateway_factory, upstream, postgres_server, redis_server,
                                                           clock):
    postgres_server.reset()
    a, b = (gateway_with_store(gateway_factory, upstream, postgres_server.url, redis=redis_server.url) for _ in range(2))
    key = httpx.post(f"{a.url}/key/generate", headers=ADMIN,
                     json={"max_budget": 0.000001, "budget_duration": "1d"}).json()["key"]
    on_a = openai.OpenAI(base_url=f"{a.url}/v1", api_key=key, max_retries=0)
    on_b = openai.OpenAI(base_url=f"{b.url}/v1", api_key=key, max_retries=0)

    on_a.chat.completions.create(model="gpt-test", messages=MSG)  # the day's budget, spent on A
    with pytest.raises(openai.RateLimitError, match="budget this 1d period"):  # known to B at once (Redis)
        on_b.chat.completions.create(model="gpt-test", messages=MSG)

    clock.at = datetime(2026, 3, 11, 0, 0, 1, tzinfo=timezone.utc)  # a new period on both instances
    on_b.chat.completions.create(model="gpt-test", messages=MSG)
    with pytest.raises(openai.RateLimitError, match="resets at 2026-03-12T00:00:00"):
        on_a.chat.completions.create(model="gpt-test", messages=MSG)
