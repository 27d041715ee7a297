"""The fault matrix: every way a provider misbehaves, streaming and not, with and without a healthy second
deployment. The client sees a success (through retry or fallback) or a clean OpenAI-style error with the
right status: never a hang, a traceback, or a truncated answer passed off as complete. No socket leaks."""

from __future__ import annotations

import time

import httpx
import openai
import psutil
import pytest

from fakes import Reply, free_port
from faults import FAULTS, FaultServer
from waiting import wait_for

MID_STREAM = {"reset_mid_stream", "truncated"}  # the first byte has reached the client: nothing to retry
STATUS = {"500": 502, "503": 502, "429": 429, "refused": 502, "reset": 502, "reset_mid_stream": 502,
          "malformed": 502, "truncated": 502, "stall": 504, "oversized": 502}
HEALTHY = "Hello from the fake upstream."


@pytest.fixture(scope="module")
def faults():
    server = FaultServer().start()
    yield server
    server.stop()


def matrix_config(fault_url: str, healthy_url: str | None, extra_settings: str = "") -> str:
    second = f"""
  - name: m
    model: openai/healthy
    api_base: {healthy_url}/v1
    api_key: k2
    order: 2""" if healthy_url else ""
    return f"""
settings:
  num_retries: 1
  request_timeout: 1.5
  first_token_timeout: 1.5
  stream_idle_timeout: 1
  max_response_mb: 1
  retry_backoff: 0.01
  retry_after_max: 2
{extra_settings}
models:
  - name: m
    model: openai/faulty
    api_base: {fault_url}
    api_key: k1
    order: 1{second}
"""


def upstream_sockets(ports: set[int]) -> list:
    return [c for c in psutil.Process().net_connections(kind="tcp")
            if c.raddr and c.raddr.port in ports and c.status != psutil.CONN_TIME_WAIT]


def assert_no_leak(gw, ports: set[int]) -> None:
    """Every socket to an upstream belongs to the router's pool (idle keep-alive), none outside it."""
    wait_for(lambda: len(upstream_sockets(ports)) <= gw.router.pools.open_connections(),
             f"no upstream socket outside the pool (held: {upstream_sockets(ports)})")
    held = upstream_sockets(ports)
    assert not [c for c in held if c.status == psutil.CONN_CLOSE_WAIT], held


@pytest.mark.parametrize("second", [False, True], ids=["alone", "with-healthy-second"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fault", FAULTS)
def test_fault_matrix(fault, stream, second, faults, upstream, gateway_factory):
    fault_url = f"http://127.0.0.1:{free_port()}/v1" if fault == "refused" else faults.url(fault)
    gw = gateway_factory(matrix_config(fault_url, upstream.url if second else None))
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0, timeout=20)
    messages = [{"role": "user", "content": "hi"}]

    if fault == "drip" or (second and not (stream and fault in MID_STREAM)):
        expected = "slow but complete" if fault == "drip" else HEALTHY
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in
                           client.chat.completions.create(model="m", messages=messages, stream=True) if c.choices)
        else:
            text = client.chat.completions.create(model="m", messages=messages).choices[0].message.content
        assert text == expected
    elif stream and fault in MID_STREAM:
        got = ""
        with pytest.raises(openai.APIError) as e:
            for c in client.chat.completions.create(model="m", messages=messages, stream=True):
                got += (c.choices[0].delta.content or "") if c.choices else ""
        assert got == "The first half of an answer"  # what arrived, then an error instead of a clean end
        assert "incomplete" in str(e.value.message)
        assert not isinstance(e.value, openai.APIStatusError)
    else:
        r = httpx.post(f"{gw.url}/v1/chat/completions", timeout=20,
                       json={"model": "m", "messages": messages, "stream": stream})
        assert r.status_code == STATUS[fault], r.text
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"} and err["message"]
        assert "Traceback" not in r.text and "k1" not in err["message"]
    assert_no_leak(gw, {faults.port, int(upstream.url.rsplit(":", 1)[1])})


def test_a_stream_with_no_first_token_times_out_on_first_token_timeout(faults, gateway_factory):
    """The first token has its own deadline (first_token_timeout), shorter here than the request's: only it can
    end a stream whose upstream says nothing at all."""
    gw = gateway_factory(matrix_config(faults.url("stall"), None).replace(
        "request_timeout: 1.5", "request_timeout: 3600").replace("first_token_timeout: 1.5", "first_token_timeout: 0.3"))
    r = httpx.post(f"{gw.url}/v1/chat/completions", timeout=60,
                   json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 504, r.text
    assert "sent no first token within 0.3 s" in r.json()["error"]["message"]


# ------------------------------------------------------------------------------------------- retries & co
def test_retry_same_deployment_honours_retry_after(faults, gateway_factory):
    gw = gateway_factory(matrix_config(faults.url("429"), None))
    before = faults.hits.get("429", 0)
    t0 = time.monotonic()
    r = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
                   timeout=20)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert faults.hits["429"] - before == 2  # first try and one retry
    assert time.monotonic() - t0 >= 0.95  # it waited as the provider asked (a lower bound: load only adds)


def test_retry_after_longer_than_allowed_gives_up_at_once(faults, gateway_factory):
    gw = gateway_factory(matrix_config(faults.url("429"), None, "  retry_after_max: 0.5").replace(
        "  retry_after_max: 2\n", ""))
    before = faults.hits.get("429", 0)
    r = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 429 and faults.hits["429"] - before == 1


def test_fallback_model_and_headers_say_what_served(faults, upstream, gateway_factory):
    gw = gateway_factory(matrix_config(faults.url("503"), None, "  fallbacks: {m: [backup]}") + f"""
  - name: backup
    model: openai/backup-model
    api_base: {upstream.url}/v1
    api_key: k3
""")
    raw = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "x"}])
    assert raw.parse().choices[0].message.content == HEALTHY
    assert raw.headers["x-accord-model"] == "backup" and raw.headers["x-accord-attempts"] == "3"
    assert upstream.last["json"]["model"] == "backup-model"


def test_context_window_fallback_goes_to_a_larger_model(upstream, gateway_factory):
    gw = gateway_factory(f"""
settings: {{num_retries: 1, fallbacks: {{small: [never-on-context-errors]}}}}
models:
  - name: small
    model: openai/gpt-4o-mini
    api_base: {upstream.url}/v1
    api_key: k
  - name: big
    model: openai/gpt-4.1
    api_base: {upstream.url}/v1
    api_key: k
  - name: never-on-context-errors
    model: openai/gpt-4o
    api_base: {upstream.url}/v1
    api_key: k
""")

    def responder(rec):
        from fakes import Reply

        if rec["json"]["model"] == "gpt-4o-mini":
            return Reply(status=400, error={"error": {"message": "This model's maximum context length is 128000 "
                                                                  "tokens", "code": "context_length_exceeded"}})
        return Reply(content=f"served by {rec['json']['model']}")

    upstream.responder = responder
    r = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "small", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "served by gpt-4.1"
    assert [q["json"]["model"] for q in upstream.requests] == ["gpt-4o-mini", "gpt-4.1"]  # no retry of a bad request


def test_bad_request_is_not_retried_or_fallen_back(upstream, gateway_factory):
    gw = gateway_factory(f"""
settings: {{num_retries: 3, fallbacks: {{a: [b]}}}}
models:
  - {{name: a, model: openai/x, api_base: "{upstream.url}/v1", api_key: k}}
  - {{name: b, model: openai/y, api_base: "{upstream.url}/v1", api_key: k}}
""")
    upstream.default.status = 400
    upstream.default.error = {"error": {"message": "unsupported parameter: foo"}}
    r = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "a", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400 and len(upstream.requests) == 1


def test_cooldown_skips_a_failing_deployment_then_tries_again(faults, upstream, gateway_factory):
    gw = gateway_factory(matrix_config(faults.url("500"), upstream.url,
                                       "  allowed_fails: 2\n  cooldown_time: 1"))
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    before = faults.hits.get("500", 0)
    for _ in range(2):  # each request: the faulty one first (order 1), then the healthy one
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert faults.hits["500"] - before == 2
    h = httpx.get(f"{gw.url}/health").json()
    faulty = next(e for e in h["unhealthy_endpoints"] if e["deployment"] == "m")
    assert faulty["state"] == "cooling_down" and "cooldown_until" in faulty and "fault 500" in faulty["last_error"]
    before = faults.hits["500"]  # /health probed it once more
    for _ in range(3):  # cooling down: skipped
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert faults.hits["500"] == before
    def tried_again() -> bool:  # each request skips it while it cools down, and tries it once after
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        return faults.hits["500"] > before

    wait_for(tried_again, "the cooled-down deployment to be tried again")
    assert faults.hits["500"] == before + 1


def test_deployment_rpm_limit_is_respected(upstream, gateway_factory):
    gw = gateway_factory(f"""
models:
  - {{name: m, model: openai/a, api_base: "{upstream.url}/v1", api_key: k, rpm: 2}}
  - {{name: m, model: openai/b, api_base: "{upstream.url}/v1", api_key: k, rpm: 1}}
""")
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    for _ in range(3):
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert sorted(q["json"]["model"] for q in upstream.requests) == ["a", "a", "b"]
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert "rpm/tpm limit" in e.value.message and int(e.value.response.headers["retry-after"]) > 0


@pytest.mark.parametrize("strategy, expect", [("least-busy", None), ("cost-based-routing", "cheap"),
                                              ("simple-shuffle", None)])
def test_routing_strategies(strategy, expect, upstream, gateway_factory):
    gw = gateway_factory(f"""
settings: {{routing_strategy: {strategy}}}
models:
  - {{name: m, model: openai/gpt-4o, api_base: "{upstream.url}/v1", api_key: k}}
  - {{name: m, model: openai/gpt-4o-mini, api_base: "{upstream.url}/v1", api_key: k, id: cheap}}
""")
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    served = [c.chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": "x"}])
              .headers["x-accord-deployment"] for _ in range(12)]
    if expect:
        assert set(served) == {expect}
    else:
        assert set(served) == {"m", "cheap"}  # both used


def test_weighted_shuffle_follows_rpm(upstream, gateway_factory):
    gw = gateway_factory(f"""
models:
  - {{name: m, model: openai/a, api_base: "{upstream.url}/v1", api_key: k, rpm: 9000, id: heavy}}
  - {{name: m, model: openai/b, api_base: "{upstream.url}/v1", api_key: k, rpm: 1000, id: light}}
""")
    picks = [gw.router._pick(gw.router.groups["m"], set()).id for _ in range(2000)]
    assert 0.85 < picks.count("heavy") / 2000 < 0.95


# ------------------------------------------------------------------------------------------- disconnects
def test_client_disconnect_mid_stream_cancels_upstream(faults, gateway_factory):
    # the next chunk never comes and the idle timeout never fires: only the hang-up can close the upstream
    faults_slow = FaultServer(drip_gap=3600).start()
    try:
        gw = gateway_factory(matrix_config(faults_slow.url("drip"), None).replace("stream_idle_timeout: 1",
                                                                                   "stream_idle_timeout: 3600"))
        with httpx.stream("POST", f"{gw.url}/v1/chat/completions", timeout=10,
                          json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}) as r:
            for line in r.iter_lines():
                if "slow" in line:
                    break  # got the first words; hang up
        wait_for(lambda: faults_slow.peer_closed, "the upstream connection to close after the client left")
    finally:
        faults_slow.stop()


def test_client_disconnect_while_waiting_cancels_upstream(faults, gateway_factory):
    # the request timeout never fires: only the hang-up can close the upstream
    gw = gateway_factory(matrix_config(faults.url("stall"), None).replace("request_timeout: 1.5",
                                                                          "request_timeout: 3600"))
    before = len(faults.peer_closed)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{gw.url}/v1/chat/completions", timeout=0.5,
                   json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    wait_for(lambda: len(faults.peer_closed) > before, "the upstream connection to close after the client left")


def test_failover_with_cooldowns_off_keeps_a_bounded_failure_record(upstream, gateway_factory):
    """Cool-downs off, every request meets the failing deployment first: each failure must cost the same, not
    a pass over every failure of the last minute (which grew by one per request: the failover path slowed as
    it ran, 0.4 ms per request after 2,000 of them)."""
    upstream.responder = lambda rec: Reply(status=500) if rec["path"].startswith("/failing/") else None
    gw = gateway_factory(f"""
settings:
  cooldown_time: 0
  allowed_fails: 3
models:
  - name: fo
    model: openai/first
    api_base: {upstream.url}/failing/v1
    api_key: k1
    order: 1
  - name: fo
    model: openai/second
    api_base: {upstream.url}/v1
    api_key: k2
    order: 2
""")
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    for _ in range(10):
        raw = client.chat.completions.with_raw_response.create(model="fo", messages=[{"role": "user", "content": "x"}])
        assert raw.parse().choices[0].message.content == HEALTHY and raw.headers["x-accord-attempts"] == "2"
    assert [r["path"].startswith("/failing/") for r in upstream.requests] == [True, False] * 10
    first = next(d for d in gw.cfg.deployments if d.order == 1)
    assert gw.router.state[first.id].failures == 10
    assert len(gw.router.state[first.id].fails) == 3  # the last allowed_fails failures: all a cooldown needs
