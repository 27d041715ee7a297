"""POST /v1/responses through the `openai` SDK's `client.responses`, against the fake and the strict vendor fakes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.responses import Response

from conftest import MASTER_KEY, basic_config
from fakes import FakeUpstream, Reply
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
CALL = {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}


def client(gw, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def ready(gw) -> None:
    wait_for(lambda: httpx.get(f"{gw.url}/health/readiness").json()["db"] == "connected", "the store to open")


@pytest.fixture(scope="module")
def deepseek() -> Iterator[FakeUpstream]:
    """DeepSeek's strict fake: refuses a tool-call turn sent back without its reasoning_content, and reasoning
    sent back on any other turn."""
    with FakeUpstream(vendor="deepseek") as fake:
        yield fake


@pytest.fixture
def strict_gw(deepseek, gateway_factory):
    deepseek.reset()
    gw = gateway_factory(f"""
settings: {{master_key: {MASTER_KEY}, num_retries: 0}}
models:
  - {{name: deepseek-reasoner, model: deepseek/deepseek-reasoner, api_base: "{deepseek.url}", api_key: sk-ds}}
""")
    yield gw
    refused = [r["refused"] for r in deepseek.requests if "refused" in r]
    assert not refused, f"requests DeepSeek refuses: {refused}"


def test_plain_answer_maps_the_request_and_echoes_its_settings(gateway, upstream):
    upstream.reply(content="Paris.")
    raw = client(gateway).responses.with_raw_response.create(
        model="fast", instructions="Answer in one word.", input="Capital of France?", max_output_tokens=20,
        temperature=0.2, metadata={"ticket": "42"}, store=False)
    r = raw.parse()
    assert r.output_text == "Paris." and r.status == "completed" and r.id.startswith("resp_")
    assert r.metadata == {"ticket": "42"} and r.max_output_tokens == 20 and r.model == "fast"
    assert r.usage.input_tokens == 11 and r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert raw.headers["x-accord-model"] == "gpt-test"
    Response.model_validate(raw.http_response.json())  # every field the SDK's type requires is there
    sent = upstream.last["json"]
    assert upstream.last["path"] == "/v1/chat/completions"
    assert sent["messages"] == [{"role": "system", "content": "Answer in one word."},
                                {"role": "user", "content": "Capital of France?"}]
    assert sent["max_tokens"] == 20 and sent["temperature"] == 0.2 and sent["model"] == "gpt-4o-mini"
    assert not {"store", "metadata", "input", "instructions"} & set(sent)  # Responses-only fields stay here


def test_streamed_reasoning_and_text_as_response_events(gateway, upstream):
    upstream.reply(reasoning="Six sevens.", content="The answer is 42.", chunk_size=4)
    kinds, text, reasoning = [], "", ""
    with client(gateway).responses.stream(model="deepseek-reasoner", input="6 x 7?") as stream:
        for ev in stream:
            kinds.append(ev.type)
            if ev.type == "response.output_text.delta":
                text += ev.delta
            elif ev.type == "response.reasoning_text.delta":
                reasoning += ev.delta
        final = stream.get_final_response()
    assert text == "The answer is 42." and reasoning == "Six sevens."
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert kinds.index("response.reasoning_text.done") < kinds.index("response.output_text.delta")
    assert [o.type for o in final.output] == ["reasoning", "message"]
    assert final.output[0].content[0].text == "Six sevens." and final.output_text == "The answer is 42."
    assert final.usage.output_tokens_details.reasoning_tokens > 0
    assert upstream.last["json"]["stream"] is True


def test_function_call_round_trip_with_function_call_output(gateway, upstream):
    upstream.reply(content="", tool_calls=[CALL]).reply(content="Sunny in Paris.")
    c = client(gateway)
    first = c.responses.create(model="gpt-test", input="Weather in Paris?", tools=[WEATHER], tool_choice="required")
    call = first.output[-1]
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id == "call_w1"
    assert upstream.last["json"]["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "parameters": WEATHER["parameters"], "description": "Weather in a city."}}]
    assert upstream.last["json"]["tool_choice"] == "required"
    second = c.responses.create(model="gpt-test", tools=[WEATHER], input=[
        {"role": "user", "content": "Weather in Paris?"}, *[o.model_dump(exclude_none=True) for o in first.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": '{"sky": "clear"}'}])
    assert second.output_text == "Sunny in Paris."
    assert upstream.last["json"]["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_w1", "content": '{"sky": "clear"}'}]


def test_deepseek_reasoning_goes_back_on_the_tool_turn_only(strict_gw, deepseek):
    """deepseek-reasoner refuses a tool-call turn without its reasoning_content, and reasoning on any other turn;
    a bridge that dropped `reasoning_content` (LiteLLM's) fails the second call."""
    deepseek.reply(reasoning="I need the weather tool.", content="", tool_calls=[CALL])
    deepseek.reply(reasoning="Clear sky, so sunny.", content="Sunny.")
    deepseek.reply(content="You asked about Paris.")
    c = client(strict_gw)
    with c.responses.stream(model="deepseek-reasoner", input="Weather in Paris?", tools=[WEATHER]) as s:
        first = s.get_final_response()
    assert [o.type for o in first.output] == ["reasoning", "function_call"]
    assert first.output[0].content[0].text == "I need the weather tool."
    history = [{"role": "user", "content": "Weather in Paris?"}, *[o.model_dump(exclude_none=True)
                                                                   for o in first.output],
               {"type": "function_call_output", "call_id": "call_w1", "output": "clear"}]
    second = c.responses.create(model="deepseek-reasoner", input=history, tools=[WEATHER])
    assert second.output_text == "Sunny." and second.output[0].type == "reasoning"
    assert deepseek.last["json"]["messages"][1]["reasoning_content"] == "I need the weather tool."
    third = c.responses.create(model="deepseek-reasoner", tools=[WEATHER], input=[
        *history, *[o.model_dump(exclude_none=True) for o in second.output], {"role": "user", "content": "Where?"}])
    assert third.output_text == "You asked about Paris."
    sent = deepseek.last["json"]["messages"]
    assert sent[1]["reasoning_content"] and "reasoning_content" not in sent[3]  # the plain turn's was dropped


def test_previous_response_id_continues_the_conversation(strict_gw, deepseek):
    ready(strict_gw)
    deepseek.reply(reasoning="Call the tool.", content="", tool_calls=[CALL]).reply(content="Sunny.")
    c = client(strict_gw)
    first = c.responses.create(model="deepseek-reasoner", instructions="Be terse.", input="Weather in Paris?",
                               tools=[WEATHER])
    second = c.responses.create(model="deepseek-reasoner", previous_response_id=first.id, tools=[WEATHER],
                                input=[{"type": "function_call_output", "call_id": "call_w1", "output": "clear"}])
    assert second.output_text == "Sunny." and second.previous_response_id == first.id
    sent = deepseek.last["json"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]  # earlier instructions are not carried over
    assert sent[1]["reasoning_content"] == "Call the tool." and sent[1]["tool_calls"][0]["id"] == "call_w1"
    got = httpx.get(f"{strict_gw.url}/v1/responses/{second.id}", headers=ADMIN)
    assert got.status_code == 200 and got.json()["output"][0]["content"][0]["text"] == "Sunny."


def test_unknown_unstored_and_other_keys_previous_response_ids_are_refused(gateway, upstream):
    ready(gateway)
    c = client(gateway)
    kept = c.responses.create(model="gpt-test", input="remember: 7")
    unkept = c.responses.create(model="gpt-test", input="forget this", store=False)
    key = httpx.post(f"{gateway.url}/key/generate", json={"key_alias": "other"}, headers=ADMIN).json()["key"]
    for rid, who in (("resp_nope", c), (unkept.id, c), (kept.id, client(gateway, key))):
        with pytest.raises(openai.BadRequestError) as e:
            who.responses.create(model="gpt-test", previous_response_id=rid, input="and?")
        assert e.value.body["code"] == "previous_response_not_found" and e.value.body["param"] == "previous_response_id"
        assert "was not found" in e.value.body["message"] and "input" in e.value.body["message"]
    assert c.responses.create(model="gpt-test", previous_response_id=kept.id, input="and?").output_text
    assert httpx.get(f"{gateway.url}/v1/responses/{unkept.id}", headers=ADMIN).status_code == 404


def test_an_expired_response_cannot_be_continued(upstream, gateway_factory):
    gw = gateway_factory(basic_config(upstream.url, extra="").replace(
        "  num_retries: 0", "  num_retries: 0\n  responses_retention_days: 0.00001"))  # under a second
    ready(gw)
    c = client(gw)
    rid = c.responses.create(model="gpt-test", input="hi").id
    wait_for(lambda: httpx.get(f"{gw.url}/v1/responses/{rid}", headers=ADMIN).status_code == 404,
             "the response to expire")
    with pytest.raises(openai.BadRequestError, match="has expired"):
        c.responses.create(model="gpt-test", previous_response_id=rid, input="and?")


def test_errors_come_in_openais_shape(gateway, upstream):
    c = client(gateway)
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="gpt-test", input=[{"type": "item_reference", "id": "msg_1"}])
    assert "item_reference is not supported" in e.value.message and e.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        c.responses.create(model="no-such-model", input="hi")
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "sk-wrong").responses.create(model="gpt-test", input="hi")
    upstream.reply(status=500)
    with pytest.raises(openai.APIStatusError) as e:
        c.responses.create(model="gpt-test", input="hi", stream=True)
    assert e.value.status_code == 502


def test_a_failure_mid_stream_is_an_error_event_then_response_failed(gateway, upstream):
    def broken(req: dict) -> Reply:  # the upstream sends two chunks, then garbage
        return Reply(raw=b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\ndata: {oops\n\n",
                     headers={"content-type": "text/event-stream"})

    upstream.responder = broken
    events = list(client(gateway).responses.create(model="gpt-test", input="hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds[-2:] == ["error", "response.failed"] and "response.completed" not in kinds
    assert events[-1].response.status == "failed" and events[-1].response.error.message == events[-2].message


def test_key_allow_list_applies_and_usage_rows_say_responses(gateway, upstream):
    ready(gateway)
    made = httpx.post(f"{gateway.url}/key/generate", json={"models": ["gpt-test"]}, headers=ADMIN).json()
    c = client(gateway, made["key"])
    assert c.responses.create(model="gpt-test", input="hi").output_text
    with pytest.raises(openai.PermissionDeniedError) as e:
        c.responses.create(model="deepseek-reasoner", input="hi")
    assert e.value.body["code"] == "model_not_allowed"
    list(c.responses.create(model="gpt-test", input="hi", stream=True))

    def rows():
        data = httpx.get(f"{gateway.url}/spend/logs", params={"key_id": made["token"]}, headers=ADMIN).json()
        return data if len(data) >= 3 else None

    logged = wait_for(rows, "three usage rows")
    assert {r["route"] for r in logged} == {"responses"}
    assert sorted((r["status"], bool(r["stream"])) for r in logged) == [(200, False), (200, True), (403, False)]


def test_structured_output_and_reasoning_effort_reach_the_upstream(gateway, upstream):
    upstream.reply(content='{"city": "Paris"}')
    r = client(gateway).responses.create(
        model="gpt-test", input="Where?", reasoning={"effort": "low"},
        text={"format": {"type": "json_schema", "name": "place", "strict": True,
                         "schema": {"type": "object", "properties": {"city": {"type": "string"}}}}})
    assert r.output_text == '{"city": "Paris"}'
    sent = upstream.last["json"]
    assert sent["reasoning_effort"] == "low"
    assert sent["response_format"]["type"] == "json_schema" and sent["response_format"]["json_schema"]["name"] == "place"


def test_fallbacks_rate_limits_and_budgets_apply_as_on_chat(upstream, gateway_factory):
    gw = gateway_factory(basic_config(upstream.url).replace(
        "  num_retries: 0", "  num_retries: 0\n  fallbacks: {gpt-test: [deepseek-reasoner]}"))
    ready(gw)
    upstream.reply(status=500).reply(content="from the fallback")
    raw = client(gw).responses.with_raw_response.create(model="gpt-test", input="hi")
    assert raw.parse().output_text == "from the fallback"
    assert raw.headers["x-accord-model"] == "deepseek-reasoner" and raw.headers["x-accord-attempts"] == "2"
    limited = httpx.post(f"{gw.url}/key/generate", json={"rpm_limit": 1}, headers=ADMIN).json()["key"]
    assert client(gw, limited).responses.create(model="gpt-test", input="one").output_text
    with pytest.raises(openai.RateLimitError) as e:
        client(gw, limited).responses.create(model="gpt-test", input="two")
    assert e.value.body["code"] == "rpm_limit_exceeded"
    poor = httpx.post(f"{gw.url}/key/generate", json={"max_budget": 0.0000001}, headers=ADMIN).json()["key"]
    assert client(gw, poor).responses.create(model="gpt-test", input="hi").output_text  # spends past the budget
    with pytest.raises(openai.RateLimitError) as e:
        client(gw, poor).responses.create(model="gpt-test", input="again", stream=True)
    assert e.value.body["code"] == "budget_exceeded"


def test_stored_responses_on_sqlite_and_postgresql(upstream, gateway_factory, database_url):
    gw = gateway_factory(basic_config(upstream.url).replace(
        "  num_retries: 0", f'  num_retries: 0\n  database_url: "{database_url}"'))
    ready(gw)
    upstream.reply(content="Noted: 7 ½ apples.").reply(content="You said 7 ½.")
    c = client(gw)
    first = c.responses.create(model="gpt-test", input="Remember 7 ½ apples.")
    second = c.responses.create(model="gpt-test", previous_response_id=first.id, input="How many?")
    assert second.output_text == "You said 7 ½."
    assert upstream.last["json"]["messages"] == [{"role": "user", "content": "Remember 7 ½ apples."},
                                                 {"role": "assistant", "content": "Noted: 7 ½ apples."},
                                                 {"role": "user", "content": "How many?"}]


def test_kimi_thinking_tool_turn_gets_its_reasoning_back_through_previous_response_id(gateway_factory):
    """Kimi's thinking models refuse a tool-call turn sent back without its reasoning_content (strict fake)."""
    with FakeUpstream(vendor="moonshot") as kimi:
        kimi.reply(reasoning="Weather needs the tool.", content="", tool_calls=[CALL]).reply(content="Sunny.")
        gw = gateway_factory(f"""
settings: {{master_key: {MASTER_KEY}, num_retries: 0}}
models:
  - {{name: kimi-thinking, model: moonshot/kimi-k2-thinking, api_base: "{kimi.url}/v1", api_key: sk-kimi}}
""")
        ready(gw)
        c = client(gw)
        with c.responses.stream(model="kimi-thinking", input="Weather in Paris?", tools=[WEATHER],
                                temperature=1.5) as s:
            first = s.get_final_response()
        events = list(c.responses.create(model="kimi-thinking", previous_response_id=first.id, tools=[WEATHER],
                                         stream=True, input=[{"type": "function_call_output", "call_id": "call_w1",
                                                              "output": "clear"}]))
        assert events[-1].type == "response.completed" and events[-1].response.output_text == "Sunny."
        assert [r.get("refused") for r in kimi.requests] == [None, None]
        assert kimi.last["json"]["messages"][1]["reasoning_content"] == "Weather needs the tool."
