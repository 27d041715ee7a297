"""GET /metrics: every family, scraped after a known sequence of requests made the way users make them (the
openai SDK, the MCP client on /mcp), including a retry, a fallback, a cooldown and a consensus run; its auth,
and the loopback metrics port. The registry is the process's, shared by every gateway a test process starts,
so each check is a difference between two scrapes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import httpx2
import openai
import orjson
import pytest
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from conftest import MASTER_KEY, basic_config
from fakes import Reply, free_port
from faults import FaultServer
from mcp import Client
from panelkit import chair_json, kind
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
Samples = dict[tuple[str, frozenset], float]


def scrape(url: str, headers: dict | None = ADMIN) -> Samples:
    r = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over every series whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return round(value(after, name, **labels) - value(before, name, **labels), 9)


@pytest.fixture(scope="module")
def faults():
    server = FaultServer().start()
    yield server
    server.stop()


def full_config(upstream_url: str, fault_url: str) -> str:
    return f"""
settings:
  master_key: {MASTER_KEY}
  num_retries: 1
  retry_backoff: 0.01
  allowed_fails: 2
  cooldown_time: 600
  fallbacks: {{flaky: [steady]}}
models:
  - {{name: mx-chat, model: openai/gpt-4o-mini, api_base: "{upstream_url}/v1", api_key: k1}}
  - {{name: flaky, model: openai/faulty, api_base: "{fault_url}", api_key: k2}}
  - {{name: steady, model: openai/gpt-4o, api_base: "{upstream_url}/v1", api_key: k3}}
  - {{name: mx-deepseek, model: deepseek/deepseek-chat, api_base: "{upstream_url}/v1", api_key: k4}}
  - {{name: mx-qwen, model: dashscope/qwen3-max, api_base: "{upstream_url}/v1", api_key: k5}}
  - {{name: mx-kimi, model: moonshot/kimi-k2-0905-preview, api_base: "{upstream_url}/v1", api_key: k6}}
consensus:
  panel: [mx-deepseek, mx-qwen, mx-kimi]
  chair: mx-deepseek
mcp:
  heartbeat: 0.2
"""


def completion_with_usage(model: str) -> bytes:
    return orjson.dumps({
        "id": "c1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140,
                  "prompt_tokens_details": {"cached_tokens": 30},
                  "completion_tokens_details": {"reasoning_tokens": 10}}})


def responder(rec: dict) -> Reply:
    model = rec["json"].get("model")
    if kind(rec) == "chair":
        return Reply(content=chair_json(["mx-deepseek", "mx-qwen"]))
    if model == "kimi-k2-0905-preview":
        return Reply(status=400, error={"error": {"message": "kimi refuses this panel"}})  # not retried
    if model == "gpt-4o-mini" and "hold" in json.dumps(rec["json"]["messages"]):
        return Reply(content="a slow answer", chunk_delay=60)  # wait-ok: held open until the client leaves
    if model == "gpt-4o-mini" and not rec["json"].get("stream"):
        return Reply(raw=completion_with_usage(model))
    return Reply(content=f"{model} says yes")


async def consensus_over_mcp(url: str) -> str:
    http = httpx2.AsyncClient(headers=ADMIN, timeout=httpx2.Timeout(30, read=300))
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        r = await client.call_tool("consensus", {"question": "Ship on Friday?"})
        assert not r.is_error, r.content[0].text
        return r.content[0].text


async def test_every_family_after_a_known_sequence(upstream, faults, gateway_factory):
    upstream.responder = responder
    gw = gateway_factory(full_config(upstream.url, faults.url("503")))
    wait_for(gw.app.state.store.ready.is_set, "the store to open")
    vkey = httpx.post(f"{gw.url}/key/generate", json={"key_alias": "team-a"}, headers=ADMIN).json()["key"]
    master = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0)
    team = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=vkey, max_retries=0)
    hi = [{"role": "user", "content": "hi"}]
    before = scrape(gw.url)

    # 1. a plain answer with the master key: tokens of every type, spend
    assert master.chat.completions.create(model="mx-chat", messages=hi).choices[0].message.content == "ok"
    # 2. a stream with a virtual key: TTFT
    text = "".join(c.choices[0].delta.content or "" for c in
                   team.chat.completions.create(model="mx-chat", messages=hi, stream=True) if c.choices)
    assert text == "gpt-4o-mini says yes"
    # 3. a model whose deployment fails: a retry, then its fallback; the second failure puts it in cooldown
    raw = master.chat.completions.with_raw_response.create(model="flaky", messages=hi)
    assert raw.headers["x-accord-model"] == "steady" and raw.headers["x-accord-attempts"] == "3"
    # 4. a request refused before any upstream: a model nobody serves is not a label value
    with pytest.raises(openai.NotFoundError):
        master.chat.completions.create(model="no-such-model-xyz", messages=hi)
    # 5. a consensus run over MCP: one panelist refuses
    out = await consensus_over_mcp(gw.url)
    assert "partial" in out

    after = scrape(gw.url)
    d = lambda name, **labels: delta(before, after, name, **labels)  # noqa: E731

    assert d("accord_requests_total", route="chat", model="mx-chat", deployment="mx-chat", key="master",
             status="200") == 1
    assert d("accord_requests_total", route="chat", model="mx-chat", key="team-a", status="200") == 1
    assert d("accord_requests_total", route="chat", model="steady", deployment="steady", status="200") == 1
    assert d("accord_requests_total", route="chat", model="", deployment="", status="404") == 1
    assert not [ls for (n, ls) in after if n == "accord_requests_total" and ("model", "no-such-model-xyz") in ls]
    assert d("accord_request_duration_seconds_count", route="chat", model="mx-chat") == 2
    assert d("accord_request_duration_seconds_sum", route="chat", model="mx-chat") > 0
    assert d("accord_time_to_first_token_seconds_count", route="chat", model="mx-chat") == 1

    assert d("accord_tokens_total", model="mx-chat", key="master", type="input") == 100
    assert d("accord_tokens_total", model="mx-chat", key="master", type="output") == 40
    assert d("accord_tokens_total", model="mx-chat", key="master", type="reasoning") == 10
    assert d("accord_tokens_total", model="mx-chat", key="master", type="cached") == 30
    assert d("accord_tokens_total", model="mx-chat", key="team-a", type="output") > 0
    assert d("accord_spend_usd_total", route="chat", model="mx-chat", key="master") == pytest.approx(
        gw.router.info("mx-chat").cost(100, 40, 30))  # 30 cached tokens at the cache price

    assert d("accord_upstream_attempts_total", model="flaky", deployment="flaky") == 2
    assert d("accord_upstream_attempts_total", model="flaky", outcome="ok") == 0
    assert d("accord_upstream_attempts_total", model="steady", outcome="ok") == 1
    assert d("accord_upstream_retries_total", model="flaky") == 1
    assert d("accord_fallbacks_total", model="flaky", fallback="steady") == 1
    assert d("accord_cooldowns_total", model="flaky", deployment="flaky") == 1
    assert value(after, "accord_deployment_cooling", deployment="flaky") == 1
    assert value(after, "accord_deployment_cooling", deployment="steady") == 0

    assert d("accord_consensus_runs_total", mode="synthesize", outcome="partial") == 1
    assert d("accord_consensus_panelist_failures_total", model="mx-kimi", status="failed") == 1
    assert d("accord_consensus_panelist_failures_total", model="mx-qwen") == 0
    assert d("accord_consensus_agreement_count", mode="synthesize") == 1
    assert 0 < d("accord_consensus_agreement_sum", mode="synthesize") <= 1
    assert d("accord_consensus_duration_seconds_count", mode="synthesize") == 1
    # the run's calls are counted from their usage rows, under the route that made them
    assert d("accord_tokens_total", route="mcp", model="mx-qwen", key="master", type="output") > 0
    assert d("accord_spend_usd_total", route="mcp", model="mx-deepseek") > 0
    assert d("accord_time_to_first_token_seconds_count", route="mcp", model="mx-qwen") == 1

    assert value(after, "accord_backend_up", backend="database") == 1
    assert ("accord_usage_queue_depth", frozenset()) in after
    assert ("accord_usage_flush_errors_total", frozenset()) in after
    assert value(after, "accord_requests_in_flight") >= 1  # the scrape itself
    assert value(after, "accord_build_info") == 1


def test_in_flight_streams_and_requests(upstream, gateway_factory):
    upstream.responder = responder
    gw = gateway_factory(basic_config(upstream.url).replace("gpt-test", "mx-chat"))
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0)
    idle = scrape(gw.url)
    stream = client.chat.completions.create(model="mx-chat", messages=[{"role": "user", "content": "hold"}],
                                            stream=True)
    next(iter(stream))  # the first chunk is here; the next one is held back by the fake
    busy = scrape(gw.url)
    assert value(busy, "accord_streams_in_flight") == value(idle, "accord_streams_in_flight") + 1
    assert value(busy, "accord_requests_in_flight") == value(idle, "accord_requests_in_flight") + 1
    stream.close()  # the client leaves: the stream and its request are over
    wait_for(lambda: value(scrape(gw.url), "accord_streams_in_flight") == value(idle, "accord_streams_in_flight"),
             "the stream to be counted out")
    wait_for(lambda: value(scrape(gw.url), "accord_requests_in_flight") == value(idle, "accord_requests_in_flight"),
             "the request to be counted out")


def test_flush_errors_and_database_health(upstream, gateway_factory, tmp_path: Path):
    db = tmp_path / "accord.db"
    gw = gateway_factory(basic_config(upstream.url).replace("settings:\n", f'settings:\n  database_url: "sqlite:///{db}"\n'))
    wait_for(gw.app.state.store.ready.is_set, "the store to open")
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0)
    before = scrape(gw.url)
    assert value(before, "accord_backend_up", backend="database") == 1
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another writer holds the database: the usage writer cannot write
    try:
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
        wait_for(lambda: delta(before, scrape(gw.url), "accord_usage_flush_errors_total") >= 1,
                 "a failed flush to be counted")
        assert value(scrape(gw.url), "accord_usage_queue_depth") >= 1  # the row waits in memory
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    wait_for(lambda: value(scrape(gw.url), "accord_usage_queue_depth") == 0, "the row to be written")


def test_redis_health(upstream, gateway_factory, redis_server):
    gw = gateway_factory(basic_config(upstream.url).replace("settings:\n",
                                                            f"settings:\n  redis_url: {redis_server.url}\n"))
    assert value(scrape(gw.url), "accord_backend_up", backend="redis") == 1
    redis_server.stop()
    wait_for(lambda: value(scrape(gw.url), "accord_backend_up", backend="redis") == 0, "redis to be seen down")


# ------------------------------------------------------------------------------------------------- access
def test_metrics_take_the_master_key(gateway):
    assert httpx.get(f"{gateway.url}/metrics").status_code == 401
    wrong = httpx.get(f"{gateway.url}/metrics", headers={"Authorization": "Bearer sk-wrong"})
    assert wrong.status_code == 401 and "sk-wrong" not in wrong.text
    vkey = httpx.post(f"{gateway.url}/key/generate", json={"key_alias": "user"}, headers=ADMIN).json()["key"]
    assert httpx.get(f"{gateway.url}/metrics", headers={"Authorization": f"Bearer {vkey}"}).status_code == 403
    ok = httpx.get(f"{gateway.url}/metrics", headers=ADMIN)
    assert ok.status_code == 200 and "accord_requests_total" in ok.text and MASTER_KEY not in ok.text


def test_metrics_port_is_open_on_loopback_only(upstream, gateway_factory):
    port = free_port()
    gw = gateway_factory(basic_config(upstream.url).replace("settings:\n", f"settings:\n  metrics_port: {port}\n"))
    openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}])
    r = wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/metrics"), "the metrics port to answer")
    assert r.status_code == 200 and 'accord_requests_total{deployment="gpt-test"' in r.text
    assert httpx.get(f"{gw.url}/metrics").status_code == 401  # the API port still wants the key
    gw.stop()
    wait_for(lambda: _refused(port), "the metrics port to close with the server")


def _refused(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_metrics_off(upstream, gateway_factory):
    gw = gateway_factory(basic_config(upstream.url).replace("settings:\n", "settings:\n  metrics: false\n"))
    assert httpx.get(f"{gw.url}/metrics", headers=ADMIN).status_code == 404


# ---------------------------------------------------------------------------------------------- dashboard
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",), "info": ("_info",)}


def exposed_names(url: str) -> set[str]:
    """Every series name a scrape declares (a labelled family with no series yet is declared all the same)."""
    text = httpx.get(f"{url}/metrics", headers=ADMIN).text
    return {f.name + suffix for f in text_string_to_metric_families(text) for suffix in SUFFIXES.get(f.type, ("",))}


DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana-dashboard.json"


def test_every_metric_the_dashboard_uses_exists(upstream, gateway_factory):
    import re

    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", ())]
    used = {m for e in exprs for m in re.findall(r"\b(accord_[a-z_]+)\b", e)}
    assert len(used) >= 10, used
    gw = gateway_factory(basic_config(upstream.url))
    names = exposed_names(gw.url)
    missing = sorted(m for m in used if m not in names)
    assert not missing, f"the dashboard queries metrics a scrape does not have: {missing}"
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for what in ("request rate", "error rate", "latency", "first token", "tokens", "spend", "in flight",
                 "consensus"):
        assert what in titles, what


# ------------------------------------------------------------------------------------------------ workers
def test_workers_report_one_total(upstream, tmp_path: Path):
    """`accord serve` with two workers: whichever worker answers a scrape, and the metrics port (served by
    the parent), the count is the server's, not one worker's."""
    from serving import serving

    metrics_port = free_port()
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(basic_config(upstream.url).replace("settings:\n", f"settings:\n  workers: 2\n"
                                                                     f"  metrics_port: {metrics_port}\n"))
    sent = 24
    with serving(cfg, tmp_path, level="warning") as (url, _log, _env):
        for _ in range(sent):  # a new connection each: the kernel hands them to either worker
            r = httpx.post(f"{url}/v1/chat/completions", headers=ADMIN,
                           json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200, r.text
        for _ in range(8):
            assert value(scrape(url), "accord_requests_total", model="gpt-test", status="200") == sent
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert f'accord_requests_total{{deployment="gpt-test",key="master",model="gpt-test",route="chat",' \
               f'status="200"}} {float(sent)}' in text


def test_serve_refuses_a_taken_metrics_port(upstream, tmp_path: Path):
    import socket
    import subprocess
    import sys

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        cfg = tmp_path / "accord.yaml"
        cfg.write_text(basic_config(upstream.url).replace("settings:\n", f"settings:\n  metrics_port: {taken}\n"))
        accord = str(Path(sys.executable).parent / "accord")
        r = subprocess.run([accord, "serve", "-c", str(cfg), "--port", str(free_port())], capture_output=True,
                           text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode == 1 and f"metrics_port {taken}" in r.stderr and "already in use" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
