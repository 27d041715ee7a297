"""A virtual key once used is served from memory, and still follows the database: two instances on one SQLite or
PostgreSQL database (no Redis), through the openai SDK and the admin API.

A repeat use costs no key lookup, however long after the first (counted on the instance's engine, after two of
its periodic refreshes, so more than KEY_TTL has passed); a key revoked or changed through one instance is
refused by the other once a refresh has run; spend made through one instance counts against the budget on the
other, exactly.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import event

from conftest import MASTER_KEY, gateway_with_store
from fakes import Reply, count_tokens
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
MSG = [{"role": "user", "content": "hi"}]


class Lookups:
    """Counts the statements an instance's engine runs that look a key up by its hash (the request path's query)."""

    def __init__(self, gw: Any) -> None:
        self.n = 0
        store = gw.app.state.store
        event.listen(store.db.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "virtual_keys" in statement and "key_hash" in statement.split("WHERE", 1)[-1]:
            self.n += 1



def two_refreshes(gw: Any) -> None:
    """Wait until the instance's key refresh has run twice more: more than KEY_TTL has passed since now."""
    store = gw.app.state.store
    start = store.refreshes
    wait_for(lambda: store.refreshes >= start + 2, "two key refreshes")


def admin(gw: Any, path: str, body: dict) -> dict:
    r = httpx.post(f"{gw.url}{path}", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


def client(gw: Any, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def ask(gw: Any, key: str, model: str = "gpt-test") -> None:
    assert client(gw, key).chat.completions.create(model=model, messages=MSG).choices


def refused(gw: Any, key: str, model: str = "gpt-test") -> bool:
    try:
        client(gw, key).chat.completions.create(model=model, messages=MSG)
    except (openai.AuthenticationError, openai.PermissionDeniedError, openai.RateLimitError):
        return True
    return False


@pytest.fixture
def ab(gateway_factory, upstream, database_url) -> tuple[Any, Any]:
    return gateway_with_store(gateway_factory, upstream, database_url), gateway_with_store(gateway_factory, upstream, database_url)


def test_a_used_key_is_served_from_memory_until_another_instance_revokes_it(ab):
    a, b = ab
    key = admin(a, "/key/generate", {"key_alias": "kept"})["key"]
    changed = admin(a, "/key/generate", {"key_alias": "narrowed"})["key"]
    lookups = Lookups(b)
    ask(b, key)
    ask(b, changed)
    assert lookups.n == 2  # the first use of each reads it
    two_refreshes(b)
    ask(b, key)
    ask(b, changed)
    assert lookups.n == 2  # used again after KEY_TTL, nothing changed: from memory

    admin(a, "/key/delete", {"keys": ["kept"]})
    wait_for(lambda: refused(b, key), "a key revoked through A to be refused through B")
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        ask(b, key)
    admin(a, "/key/update", {"key": "narrowed", "models": ["deepseek-reasoner"]})
    wait_for(lambda: refused(b, changed), "a key narrowed through A to be refused its old model through B")
    with pytest.raises(openai.PermissionDeniedError, match="may not use model"):
        ask(b, changed)
    assert lookups.n == 2  # the changes came with the refresh, not with a lookup per request


REPLY = "x" * 400


def test_spend_through_one_instance_counts_on_the_other(ab, upstream):
    """No Redis: each instance learns the other's spend from the database, in its refresh, for a key it has
    cached; the budget (2.5 requests' cost) still lets exactly 3 through."""
    from accord.catalog import lookup

    a, b = ab
    upstream.default = Reply(content=REPLY)
    c = lookup("gpt-4o-mini").cost(Reply().prompt_tokens, count_tokens(REPLY))
    key = admin(a, "/key/generate", {"key_alias": "budgeted", "max_budget": 2.5 * c})["key"]
    lookups = Lookups(a)
    ask(a, key)
    ask(b, key)

    def written() -> int:
        """Usage rows of served requests (a refusal is written too, costing nothing)."""
        rows = httpx.get(f"{a.url}/spend/logs", params={"limit": 100}, headers=ADMIN).json()
        return sum(1 for r in rows if r["spend"] > 0)

    wait_for(lambda: written() == 2, "both usage rows to be written")
    two_refreshes(a)
    two_refreshes(b)
    ask(a, key)  # A knows its own request and B's: 2c spent, 3c now
    with pytest.raises(openai.RateLimitError, match="budget"):
        ask(a, key)
    wait_for(lambda: written() == 3, "the third usage row to be written")
    two_refreshes(b)  # B has read what A's requests spent
    with pytest.raises(openai.RateLimitError, match="budget"):
        ask(b, key)
    assert written() == 3  # exactly the 3 that fit were served
    assert lookups.n == 1  # A read the key once; the rest came with its refreshes


def test_the_cache_is_bounded_and_drops_the_least_recently_used(gateway_factory, upstream, database_url,
                                                                monkeypatch):
    from accord.store import live

    monkeypatch.setattr(live, "MAX_KEYS", 2)
    gw = gateway_with_store(gateway_factory, upstream, database_url)
    keys = [admin(gw, "/key/generate", {"key_alias": f"k{i}"})["key"] for i in range(3)]
    lookups = Lookups(gw)
    two_refreshes(gw)  # the refresh has its mark: what is read from now on is kept
    for key in keys:
        ask(gw, key)
    assert lookups.n == 3
    ask(gw, keys[2])  # the newest two are kept
    ask(gw, keys[1])
    assert lookups.n == 3
    ask(gw, keys[0])  # the oldest was dropped: read again
    assert lookups.n == 4
