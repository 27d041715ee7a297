"""Many virtual keys used within one usage flush: each key's spend, each (key, model) row of the daily rollup and
every usage row come out exact, and budgets still hold, on SQLite and PostgreSQL, through the openai SDK and the
admin API.

The usage writer folds a batch into one statement per table (the rollup's upsert, the keys' spend update), so
what could go wrong is a batch that pairs a key with another's amount, drops a group, or charges a period's
account instead of its key: every key here spends a different amount (1 to 3 requests, one or two models), and
the requests of a round are held at the fake upstream until all of them have arrived, then answered together,
so a round's rows (one per key) land in the same flush.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from accord.catalog import lookup
from conftest import MASTER_KEY, gateway_with_store
from fakes import Reply, count_tokens
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
MSG = [{"role": "user", "content": "hi"}]
KEYS = 30
ROUNDS = 3
PROMPT, COMPLETION = Reply().prompt_tokens, count_tokens(Reply().content)
C = lookup("gpt-4o-mini").cost(PROMPT, COMPLETION)  # what one gpt-test request costs
BUDGETED = {0: None, 2: None, 3: "1d", 5: "1d"}  # key -> budget_duration; 2.5 C fits three requests


def requests_of(i: int) -> int:
    return 1 + i % 3


def model_of(i: int, rnd: int) -> str:
    """The first request of an odd key (not a budgeted one) goes to a second model: two rollup rows for it."""
    return "deepseek-reasoner" if rnd == 0 and i % 2 and i not in BUDGETED else "gpt-test"



def ask(gw: Any, key: str, model: str) -> int:
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
    try:
        client.chat.completions.create(model=model, messages=MSG)
    except openai.APIStatusError as e:
        return e.status_code
    return 200


def logs(gw: Any) -> list[dict]:
    r = httpx.get(f"{gw.url}/spend/logs", params={"limit": 1000}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


def test_many_keys_in_one_flush_keep_exact_spend_rollup_and_budgets(gateway_factory, upstream, database_url):
    gw = gateway_with_store(gateway_factory, upstream, database_url)
    keys: list[dict] = []
    for i in range(KEYS):
        body: dict[str, Any] = {"key_alias": f"k{i}"}
        if i in BUDGETED:
            body.update(max_budget=2.5 * C, budget_duration=BUDGETED[i])
        r = httpx.post(f"{gw.url}/key/generate", json=body, headers=ADMIN)
        assert r.status_code == 200, r.text
        keys.append(r.json())

    sent: Counter[tuple[str, str]] = Counter()  # (key id, model) -> requests
    with ThreadPoolExecutor(KEYS) as pool:
        for rnd in range(ROUNDS):
            todo = [(i, model_of(i, rnd)) for i in range(KEYS) if requests_of(i) > rnd]
            target = len(upstream.requests) + len(todo)
            # answered only once every request of the round has reached the fake: they end together
            upstream.default = Reply(hold=lambda target=target: len(upstream.requests) >= target)
            statuses = list(pool.map(lambda im: ask(gw, keys[im[0]]["key"], im[1]), todo))
            assert statuses == [200] * len(todo)
            sent.update((keys[i]["token"], m) for i, m in todo)
    upstream.default = Reply()

    total = sum(sent.values())
    rows = wait_for(lambda: (got := logs(gw)) and len(got) == total and got, "every usage row to be written")
    cost = {}  # model -> what one of its requests costs (every request of a model costs the same here)
    for row in rows:
        assert cost.setdefault(row["model"], row["spend"]) == pytest.approx(row["spend"], rel=1e-9)
    assert set(cost) == {"gpt-test", "deepseek-reasoner"} and cost["gpt-test"] != cost["deepseek-reasoner"]
    assert Counter((r["key_id"], r["model"]) for r in rows) == sent

    for i, k in enumerate(keys):
        mine = {m: n for (key_id, m), n in sent.items() if key_id == k["token"]}
        want = sum(n * cost[m] for m, n in mine.items())
        info = httpx.get(f"{gw.url}/key/info", params={"key": k["token"]}, headers=ADMIN).json()["info"]
        assert info["total_spend"] == pytest.approx(want, rel=1e-9), (i, info)
        assert info["spend"] == pytest.approx(want, rel=1e-9), (i, info)  # a 1d key's: its period's, from the rollup
        r = httpx.get(f"{gw.url}/usage/summary", params={"group_by": "model", "key_id": k["token"]}, headers=ADMIN)
        rollup = {g["model"]: g for g in r.json()["data"]}
        assert {m: g["requests"] for m, g in rollup.items()} == mine, (i, rollup)
        for m, g in rollup.items():  # the summary rounds dollars to 6 places; tokens are exact
            assert g["cost"] == round(mine[m] * cost[m], 6), (i, m, g)
            assert (g["prompt_tokens"], g["completion_tokens"]) == (mine[m] * PROMPT, mine[m] * COMPLETION), (i, m, g)

    # budgets hold on what the batches wrote: the keys that spent three requests are over 2.5 C, the others not
    assert cost["gpt-test"] == pytest.approx(C, rel=1e-9)
    for i in BUDGETED:
        over = requests_of(i) * cost["gpt-test"] >= 2.5 * C
        assert ask(gw, keys[i]["key"], "gpt-test") == (429 if over else 200), i
