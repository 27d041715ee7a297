"""Redis goes away under traffic: requests with a rate-limited virtual key keep being served, limits fall back
to this process and say so in the log and on /health/readiness, and go back to Redis when it returns."""

from __future__ import annotations

import httpx

from conftest import MASTER_KEY, basic_config
from waiting import wait_for

MSG = [{"role": "user", "content": "hi"}]


def test_redis_away_falls_back_to_local_limits_and_says_so(gateway_factory, upstream, redis_server, tmp_path,
                                                          caplog, monkeypatch):
    import accord.limits

    monkeypatch.setattr(accord.limits, "RETRY_REDIS_AFTER", 0.5)  # ask Redis again sooner than in production
    caplog.set_level("WARNING", logger="accord")
    cfg = basic_config(upstream.url).replace(
        "settings:\n", f'settings:\n  redis_url: {redis_server.url}\n  database_url: "sqlite:///{tmp_path / "a.db"}"\n')
    gw = gateway_factory(cfg)
    admin = {"Authorization": f"Bearer {MASTER_KEY}"}
    key = httpx.post(f"{gw.url}/key/generate", json={"key_alias": "limited", "rpm_limit": 1000}, headers=admin,
                     timeout=30).json()["key"]

    def chat() -> int:
        return httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-test", "messages": MSG},
                          headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code

    def backend() -> str:
        return httpx.get(f"{gw.url}/health/readiness").json()["limits"]

    assert chat() == 200 and backend() == "redis"
    redis_server.stop()
    statuses = [chat() for _ in range(20)]
    assert statuses == [200] * 20  # never a failed request because the limit store is away
    assert backend() == "local (redis unavailable)"
    assert "limits: redis unavailable" in caplog.text and "counting per process" in caplog.text
    # the local counters hold the limit meanwhile
    assert gw.app.state.limits._local, "requests were not counted locally"

    redis_server.start()  # back on the same port
    after: list[int] = []
    wait_for(lambda: after.append(chat()) or backend() == "redis", "limits to go back to redis")
    assert set(after) == {200}
    assert "redis is back" in caplog.text
