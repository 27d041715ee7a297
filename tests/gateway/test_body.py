"""Large request bodies (100k-token agent contexts, ~0.5 MB) through `accord serve` as users run it (Accord's own
HTTP protocol, gateway/headlimit.py, which reads such a body without pausing) to strict fake vendors: what
reaches the upstream, and every check a small body gets — size, nesting, invalid JSON, routing, the vendor's
edits, token estimates and usage rows."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest

from conftest import MASTER_KEY
from fakes import FakeUpstream
from serving import serving
from waiting import wait_for

AUTH = {"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"}
MAX_BODY = 2**20  # settings.max_body_mb: 1


def history(target: int) -> list[dict]:
    """An agent's conversation of about `target` bytes: code with quotes, escapes and non-ASCII text, tool calls
    and their results, content parts."""
    code = 'def f(x):\n    return {"a": [x, "b\\n"], \'c\': 1}  # é ü 漢字 🙂\n\t\\ "quoted" \u2028\n'
    msgs: list[dict] = [{"role": "system", "content": "You are a coding agent. " * 40}]
    i = 0
    while len(orjson.dumps(msgs)) < target:
        msgs.append({"role": "user", "content": [{"type": "text", "text": f"fix step {i}:\n" + code * 6}]})
        msgs.append({"role": "assistant", "content": None, "tool_calls": [{
            "id": f"call_{i}", "type": "function",
            "function": {"name": "edit", "arguments": orjson.dumps({"path": "a.py", "text": code * 3}).decode()}}]})
        msgs.append({"role": "tool", "tool_call_id": f"call_{i}", "content": code * 8 + f"ok {i} 1e5 -0.0"})
        i += 1
    return msgs


MESSAGES = history(460_000)


@pytest.fixture(scope="module")
def openai_up() -> Iterator[FakeUpstream]:
    with FakeUpstream(vendor="openai") as fake:
        yield fake


@pytest.fixture(scope="module")
def deepseek_up() -> Iterator[FakeUpstream]:
    with FakeUpstream(vendor="deepseek") as fake:
        yield fake


@pytest.fixture(scope="module")
def url(openai_up: FakeUpstream, deepseek_up: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("big-body")
    cfg = tmp / "accord.yaml"
    cfg.write_text(f"""
settings:
  master_key: {MASTER_KEY}
  num_retries: 0
  max_body_mb: 1
  data_dir: {tmp / "data"}
models:
  - name: gpt-test
    model: openai/gpt-4o-mini
    api_base: {openai_up.url}/v1
    api_key: sk-upstream-secret-1234
    aliases: [fast]
  - name: deepseek-chat
    model: deepseek/deepseek-chat
    api_base: {deepseek_up.url}/v1
    api_key: sk-deepseek-secret-5678
mcp:
  http: false
""")
    with serving(cfg, tmp, level="info") as (u, _, _):
        yield u


@pytest.fixture
def up(openai_up: FakeUpstream) -> FakeUpstream:
    openai_up.reset()
    return openai_up


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=60)


def post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", content=body, headers=AUTH, timeout=60)


def error_of(r: httpx.Response, status: int, code: str | None, *words: str) -> None:
    assert r.status_code == status, r.text[:500]
    err = r.json()["error"]
    assert err["code"] == code, err
    for w in words:
        assert w in err["message"], err["message"]
    assert "Traceback" not in r.text


def test_a_large_body_reaches_the_upstream_as_sent_with_only_the_model_substituted(url: str, up: FakeUpstream
                                                                                  ) -> None:
    tools = [{"type": "function", "function": {"name": "edit", "description": "edit a file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}, "text": {"type": "string"}}}}}]
    raw = client(url).chat.completions.with_raw_response.create(
        model="fast", messages=MESSAGES, tools=tools, temperature=0.25,  # type: ignore[arg-type]
        extra_body={"custom_flag": {"deep": [1, 2.5, None]}})
    assert raw.headers["x-accord-model"] == "gpt-test"  # the alias resolved
    assert raw.parse().choices[0].message.content == "Hello from the fake upstream."
    (sent,) = up.requests
    assert "refused" not in sent
    assert sent["json"] == {"model": "gpt-4o-mini", "messages": MESSAGES, "tools": tools, "temperature": 0.25,
                            "custom_flag": {"deep": [1, 2.5, None]}}
    assert sent["headers"]["authorization"] == "Bearer sk-upstream-secret-1234"


def test_a_large_body_gets_the_vendors_edits_to_its_messages(url: str, deepseek_up: FakeUpstream) -> None:
    """DeepSeek refuses the developer role and reasoning sent back outside a tool-call turn (the strict fake
    answers 400 to either): the gateway edits both, however long the history."""
    deepseek_up.reset()
    msgs = [{"role": "developer", "content": "Be terse."}, *MESSAGES,
            {"role": "assistant", "content": "Done.", "reasoning_content": "I edited a.py."},
            {"role": "user", "content": "and now?"}]
    r = client(url).chat.completions.create(model="deepseek-chat", messages=msgs)  # type: ignore[arg-type]
    assert r.choices[0].message.content
    (sent,) = deepseek_up.requests
    assert "refused" not in sent
    got = sent["json"]["messages"]
    assert got[0] == {"role": "system", "content": "Be terse."}
    assert got[-2] == {"role": "assistant", "content": "Done."}
    assert got[1:-2] == MESSAGES and got[-1] == msgs[-1]


def test_a_large_bodys_tokens_are_estimated_and_its_usage_row_written(url: str, up: FakeUpstream) -> None:
    up.reply(usage=False)  # an upstream that reports no usage: the prompt is estimated from what was sent
    r = client(url).chat.completions.create(model="gpt-test", messages=MESSAGES)  # type: ignore[arg-type]
    sent = up.last["json"]
    estimate = len(orjson.dumps(sent["messages"])) // 4
    assert r.usage is not None and r.usage.prompt_tokens == estimate > 100_000

    def row() -> dict | None:
        rows = httpx.get(f"{url}/spend/logs", params={"model": "gpt-test"},
                         headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30).json()
        return next((x for x in rows if x["prompt_tokens"] == estimate), None)

    logged = wait_for(row, "the large request's usage row")
    assert (logged["status"], logged["route"], logged["model"]) == (200, "chat", "gpt-test")


def test_a_large_bodys_worst_case_counts_every_byte_and_image_for_a_keys_max_price(url: str, up: FakeUpstream
                                                                                  ) -> None:
    """A key's max_price is held against a bound of one token per byte of the body's JSON plus 2,000 per image
    (costs.py), for an agent history as for a small body: the kept JSON of the client's messages (body.py)
    stands in for writing them again, and must count the same."""
    made = httpx.post(f"{url}/key/generate", json={"key_alias": "capped", "max_price": 0.000001},
                      headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30)
    assert made.status_code == 200, made.text
    picture = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}},
                                           {"type": "text", "text": 'what is this "image"?'}]}
    capped = openai.OpenAI(base_url=f"{url}/v1", api_key=made.json()["key"], max_retries=0, timeout=60)
    for messages in ([*MESSAGES, picture], [picture], [{"role": "user", "content": "word " * 100_000}]):
        body = {"model": "gpt-test", "messages": messages, "max_tokens": 10}
        raw = orjson.dumps(body)
        bound = len(raw) + 2_000 * (raw.count(b'"image_url"') + raw.count(b'"image"'))
        with pytest.raises(openai.BadRequestError) as e:
            capped.chat.completions.create(**body)  # type: ignore[call-overload]
        assert e.value.body["code"] == "max_price_exceeded"  # type: ignore[index]
        assert f"a prompt of {bound} tokens at most" in e.value.message, e.value.message
    assert up.requests == []  # refused before any upstream call


def _body(messages_json: bytes, tail: bytes = b"") -> bytes:
    return b'{"model": "gpt-test", "messages": ' + messages_json + tail + b"}"


def test_a_large_body_nested_too_deep_is_refused_with_a_clear_400(url: str, up: FakeUpstream) -> None:
    big = orjson.dumps(MESSAGES)
    # 254 levels in all is what can be sent on (orjson's write limit): it is; one more is refused, not a 500
    ok = post(url, _body(big, b', "metadata": ' + b"[" * 253 + b"]" * 253))
    assert ok.status_code == 200, ok.text[:300]
    assert up.last["json"]["messages"] == MESSAGES
    deep = post(url, _body(big[:-1] + b', {"role": "user", "content": ' + b"[" * 253 + b"]" * 253 + b"}]"))
    error_of(deep, 400, "invalid_json", "nested more than 254 levels")
    assert len(up.requests) == 1  # nothing more reached the upstream


def test_a_large_body_that_is_not_json_is_refused_with_a_clear_400(url: str, up: FakeUpstream) -> None:
    big = orjson.dumps(MESSAGES)
    error_of(post(url, _body(big)[:-1]), 400, "invalid_json", "not valid JSON")  # cut short by one byte
    error_of(post(url, _body(big[:-1] + b", }]")), 400, "invalid_json", "not valid JSON")  # a trailing comma
    error_of(post(url, b"[" + _body(big) + b"]"), 400, "invalid_json", "must be a JSON object")
    assert up.requests == []


def test_bodies_over_the_limit_are_refused_with_413_however_they_are_sent(url: str, up: FakeUpstream) -> None:
    over = _body(orjson.dumps(MESSAGES * 3))
    assert len(over) > MAX_BODY
    error_of(post(url, over), 413, "request_too_large", "limit")

    def chunks() -> Iterator[bytes]:  # chunked: no content-length to refuse it by
        for i in range(0, len(over), 100_000):
            yield over[i:i + 100_000]

    r = httpx.post(f"{url}/v1/chat/completions", content=chunks(), headers=AUTH, timeout=60)
    error_of(r, 413, "request_too_large", "limit")
    # just under the limit, in one piece or chunked: served, unchanged
    under = _body(orjson.dumps(history(MAX_BODY - 10_000)))
    for content in (under, (under[i:i + 70_000] for i in range(0, len(under), 70_000))):
        r = httpx.post(f"{url}/v1/chat/completions", content=content, headers=AUTH, timeout=60)
        assert r.status_code == 200, r.text[:300]
        assert up.last["json"]["messages"] == orjson.loads(under)["messages"]
    assert len(up.requests) == 2


def test_the_server_keeps_serving_on_one_connection_after_large_bodies(url: str, up: FakeUpstream) -> None:
    """Keep-alive: a refused large body (read to its end or not) leaves the connection usable for the next."""
    big = _body(orjson.dumps(MESSAGES))
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as c:
        for body, status in ((big, 200), (big[:-1], 400), (big, 200), (b"x" * (MAX_BODY + 1), 413), (big, 200)):
            assert c.post("/v1/chat/completions", content=body).status_code == status
    assert [r["json"]["messages"] == MESSAGES for r in up.requests] == [True, True, True]


async def test_a_small_bodys_json_is_not_kept_for_the_life_of_its_request() -> None:
    """What read_json keeps for the adapter lives as long as the request (a stream: minutes): orjson's smallest
    buffer is 4 KB, so keeping a small body's messages cost every open stream 4 KB more (10,000 streams: 40 MB)
    to save microseconds. A large agent history's JSON may be kept; a small one's never."""
    from types import SimpleNamespace

    from starlette.requests import Request

    from accord.gateway.body import read_json
    from accord.providers.openai_compat import CLIENT_MESSAGES

    async def kept(messages: list[dict]) -> object:
        raw = orjson.dumps({"model": "m", "messages": messages})
        sent = False

        async def receive() -> dict:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        app = SimpleNamespace(state=SimpleNamespace(max_body=MAX_BODY * 4))
        request = Request({"type": "http", "method": "POST", "headers": [], "app": app}, receive)
        await read_json(request)
        return CLIENT_MESSAGES.get()

    small = [{"role": "user", "content": "hi"}] * 3
    assert await asyncio.create_task(kept(small)) is None
    big = await asyncio.create_task(kept(MESSAGES))  # kept only if writing it again would cost more: either way
    assert big is None or bytes(big[1]) == orjson.dumps(MESSAGES)  # its bytes are the messages' own JSON
