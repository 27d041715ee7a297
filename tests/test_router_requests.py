"""Per-request routing (OpenRouter's fields) through the openai SDK: `models` as the request's own fallbacks,
`route.sort` over a group's deployments, the key's allow-list over both, unknown routing fields refused, and
none of them sent upstream."""

from __future__ import annotations

import httpx
import openai
import pytest

from conftest import MASTER_KEY
from fakes import Reply
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
MSG = [{"role": "user", "content": "hi"}]
ROUTING = ("models", "route", "provider")


@pytest.fixture
def gw(upstream, gateway_factory, tmp_path):
    m = f"api_base: {upstream.url}/v1, api_key: sk-test-key-1234"
    cfg = f"""
settings:
  master_key: {MASTER_KEY}
  num_retries: 0
  database_url: sqlite:///{tmp_path}/a.db
models:
  - {{name: big, model: openai/gpt-4o, {m}}}
  - {{name: small, model: openai/gpt-4o-mini, {m}}}
  - {{name: pool, model: openai/gpt-4o, {m}}}
  - {{name: pool, model: openai/gpt-4o-mini, {m}}}
  - {{name: pool, model: openai/gpt-4.1, {m}}}
"""
    g = gateway_factory(cfg)
    wait_for(lambda: httpx.get(f"{g.url}/health/readiness").json()["db"] == "connected", "the store to open")
    return g


def down(model: str):
    """A responder: `model` fails as an overloaded provider would; the rest answer."""
    return lambda req: Reply(status=503) if req["json"].get("model") == model else None


def client(gw, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def test_models_are_the_requests_fallbacks_in_order(gw, upstream):
    upstream.responder = down("gpt-4o")
    with pytest.raises(openai.InternalServerError):  # no fallback configured: `big` alone fails
        client(gw).chat.completions.create(model="big", messages=MSG)
    raw = client(gw).chat.completions.with_raw_response.create(model="big", messages=MSG,
                                                               extra_body={"models": ["small"]})
    assert raw.headers["x-accord-model"] == "small" and raw.parse().choices[0].message.content
    assert [r["json"]["model"] for r in upstream.requests[-2:]] == ["gpt-4o", "gpt-4o-mini"]
    assert not any(k in r["json"] for r in upstream.requests for k in ROUTING)  # never sent upstream

    # `models` alone: the first is the model asked for, the rest its fallbacks (OpenRouter's reading)
    r = httpx.post(f"{gw.url}/v1/chat/completions", headers=ADMIN, json={"models": ["big", "small"], "messages": MSG})
    assert r.status_code == 200 and r.headers["x-accord-model"] == "small"


def test_route_sort_price_picks_the_cheapest_deployment(gw, upstream):
    for _ in range(6):
        client(gw).chat.completions.create(model="pool", messages=MSG, extra_body={"route": {"sort": "price"}})
    assert {r["json"]["model"] for r in upstream.requests} == {"gpt-4o-mini"}
    assert not any(k in r["json"] for r in upstream.requests for k in ROUTING)


def test_the_keys_allow_list_covers_the_requests_fallbacks(gw, upstream):
    key = httpx.post(f"{gw.url}/key/generate", headers=ADMIN, json={"models": ["big"]}).json()["key"]
    with pytest.raises(openai.PermissionDeniedError, match="may not use model `small`") as e:
        client(gw, key).chat.completions.create(model="big", messages=MSG, extra_body={"models": ["small"]})
    assert e.value.body["param"] == "models" and not upstream.requests
    with pytest.raises(openai.NotFoundError, match="`nope` is not served"):
        client(gw).chat.completions.create(model="big", messages=MSG, extra_body={"models": ["nope"]})


@pytest.mark.parametrize("extra, named", [
    ({"route": {"sort": "price", "max_price": 1}}, "`route.max_price`"),
    ({"route": {"sort": "fastest"}}, "`route.sort` must be one of price, latency, throughput"),
    ({"provider": {"order": ["x"], "allow_fallbacks": False}}, "`provider.allow_fallbacks`, `provider.order`"),
    ({"models": "small"}, "`models` must be a non-empty list"),
])
def test_unknown_routing_fields_are_refused_by_name(gw, upstream, extra, named):
    with pytest.raises(openai.BadRequestError) as e:
        client(gw).chat.completions.create(model="big", messages=MSG, extra_body=extra)
    assert named in e.value.message and not upstream.requests


def test_other_unknown_fields_still_pass_through(gw, upstream):
    client(gw).chat.completions.create(model="big", messages=MSG, extra_body={"top_k": 5, "route": {}})
    assert upstream.last["json"]["top_k"] == 5 and "route" not in upstream.last["json"]


def test_responses_take_the_same_routing_fields(gw, upstream):
    upstream.responder = down("gpt-4o")
    raw = client(gw).responses.with_raw_response.create(model="big", input="hi", extra_body={"models": ["small"]})
    assert raw.headers["x-accord-model"] == "small" and raw.parse().output_text
    assert not any(k in r["json"] for r in upstream.requests for k in ROUTING)
    with pytest.raises(openai.BadRequestError, match=r"`route\.order`"):
        client(gw).responses.create(model="big", input="hi", extra_body={"route": {"order": ["small"]}})
