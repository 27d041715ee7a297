"""Panels as models on /v1/chat/completions, through the openai SDK: one panelist failing (partial, still
answered), streamed progress and the chair's answer token by token, a panel as a fallback target, and a virtual
key refused a panel with a model it may not use."""

from __future__ import annotations

import concurrent.futures
import threading

import anthropic
import httpx
import openai
import pytest

from conftest import MASTER_KEY
from fakes import Reply
from panelkit import UPSTREAM, chair_json, panel_config, responder
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
PANELS = """panels:
  council:
    models: [deepseek, "qwen:against", kimi]
    chair: gpt
"""
RECOMMENDATION = "Ship it on Friday, with a rollback plan."


def config(url: str, settings: str = "") -> str:
    text = panel_config(url, PANELS, master_key=MASTER_KEY)
    return text.replace("  num_retries: 0\n", "  num_retries: 0\n" + settings)


def kimi_fails(upstream) -> None:
    def panel(model: str, req: dict) -> Reply:
        if model == UPSTREAM["kimi"]:
            return Reply(status=500)
        return Reply(content=f"{model}: yes, ship it")

    upstream.responder = responder(panel, chair=Reply(content=chair_json(["deepseek"], RECOMMENDATION),
                                                      chunk_size=5))


def sdk(url: str, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)


def spend(url: str, **q) -> list[dict]:
    return httpx.get(f"{url}/spend/logs", params=q, headers=ADMIN).json()


def test_panel_model_answers_with_one_panelist_failing(upstream, gateway_factory):
    kimi_fails(upstream)
    gw = gateway_factory(config(upstream.url))
    r = sdk(gw.url).chat.completions.create(model="council", messages=[
        {"role": "system", "content": "We deploy a web shop."}, {"role": "user", "content": "Ship on Friday?"}])
    assert r.model == "council"
    assert r.choices[0].message.content.startswith(f"## Recommendation\n{RECOMMENDATION}")
    ext = r.model_extra["accord"]
    assert ext["panel"] == "council" and ext["status"] == "partial"
    assert [(a["model"], a["status"]) for a in ext["answers"]] == [
        ("deepseek", "ok"), ("qwen:against", "ok"), ("kimi", "failed")]
    assert ext["answers"][1]["stance"] == "against" and ext["chair"]["model"] == "gpt"
    assert ext["agreement"] is not None and ext["clusters"]["groups"] and ext["thread_id"]
    calls = [*ext["answers"], ext["chair"]]
    assert r.usage.prompt_tokens == sum(a["prompt_tokens"] for a in calls) > 0
    assert r.usage.completion_tokens == sum(a["completion_tokens"] for a in calls) > 0
    # the panelists saw the system message as context; one usage row per upstream call, tagged with the panel
    asked = [q for q in upstream.requests if "Ship on Friday?" in str(q["json"]["messages"])]
    assert all("We deploy a web shop." in str(q["json"]["messages"]) for q in asked)
    rows = wait_for(lambda: (x := spend(gw.url, thread_id=ext["thread_id"])) and len(x) == 4 and x,
                    "the panel's four usage rows")
    assert {row["route"] for row in rows} == {"panel:council"}
    assert sorted(row["model"] for row in rows) == ["deepseek", "gpt", "kimi", "qwen"]


def test_panel_model_streams_progress_then_the_chairs_answer(upstream, gateway_factory):
    kimi_fails(upstream)
    gw = gateway_factory(config(upstream.url))
    thinking, content, ext, usage = [], [], None, None
    for chunk in sdk(gw.url).chat.completions.create(model="council", stream=True,
                                                     stream_options={"include_usage": True},
                                                     messages=[{"role": "user", "content": "Ship on Friday?"}]):
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            extra = c.delta.model_extra or {}
            if extra.get("reasoning_content"):
                assert not content, "progress comes before the answer"
                thinking.append(extra["reasoning_content"])
            if c.delta.content:
                content.append(c.delta.content)
            if c.finish_reason:
                ext = chunk.model_extra["accord"]
    shown = "".join(thinking)
    assert "deepseek answered" in shown and "kimi failed" in shown and "chair gpt is writing" in shown
    text = "".join(content)
    assert text.startswith(f"## Recommendation\n{RECOMMENDATION}") and "## Risks\n- lock-in" in text
    assert len([c for c in content if RECOMMENDATION.find(c.strip()) >= 0 and c.strip()]) > 3, \
        "the recommendation arrives in pieces, as the chair writes it"
    assert ext is not None and ext["status"] == "partial" and usage is not None and usage.total_tokens > 0
    rows = wait_for(lambda: (x := spend(gw.url, thread_id=ext["thread_id"])) and len(x) == 4 and x,
                    "the streamed panel's four usage rows")
    assert {row["route"] for row in rows} == {"panel:council"}


def test_panel_as_a_fallback_target(upstream, gateway_factory):
    def panel(model: str, req: dict) -> Reply:
        if model == UPSTREAM["r1"]:
            return Reply(status=503)
        return Reply(content=f"{model}: yes")

    upstream.responder = responder(panel, chair=Reply(content=chair_json(["deepseek", "kimi"], RECOMMENDATION)))
    gw = gateway_factory(config(upstream.url, "  fallbacks: {r1: [council]}\n"))
    r = sdk(gw.url).chat.completions.create(model="r1", messages=[{"role": "user", "content": "Ship?"}])
    assert r.choices[0].message.content.startswith(f"## Recommendation\n{RECOMMENDATION}")
    assert r.model_extra["accord"]["panel"] == "council" and r.model_extra["accord"]["status"] == "done"
    streamed = "".join(c.choices[0].delta.content or "" for c in sdk(gw.url).chat.completions.create(
        model="r1", stream=True, messages=[{"role": "user", "content": "Ship?"}]) if c.choices)
    assert streamed.startswith(f"## Recommendation\n{RECOMMENDATION}")


def test_virtual_key_needs_every_model_of_the_panel(upstream, gateway_factory):
    kimi_fails(upstream)
    gw = gateway_factory(config(upstream.url))

    def key(models: list[str]) -> str:
        r = httpx.post(f"{gw.url}/key/generate", json={"models": models}, headers=ADMIN)
        assert r.status_code == 200, r.text
        return r.json()["key"]

    no_chair = key(["council", "deepseek", "qwen", "kimi"])  # the chair, gpt, is not allowed
    with pytest.raises(openai.PermissionDeniedError) as e:
        sdk(gw.url, no_chair).chat.completions.create(model="council", messages=[{"role": "user", "content": "x"}])
    assert "may not use model `council`" in e.value.message and "1 model(s) the key may not use" in e.value.message
    assert "council" not in [m.id for m in sdk(gw.url, no_chair).models.list()]
    unnamed = key(["deepseek", "qwen", "kimi", "gpt"])  # every member, but not the panel
    with pytest.raises(openai.PermissionDeniedError) as e:
        sdk(gw.url, unnamed).chat.completions.create(model="council", messages=[{"role": "user", "content": "x"}])
    assert "does not name panel `council`" in e.value.message
    full = key(["council", "deepseek", "qwen", "kimi", "gpt"])
    r = sdk(gw.url, full).chat.completions.create(model="council", messages=[{"role": "user", "content": "x"}])
    assert r.model_extra["accord"]["status"] == "partial"
    listed = {m.id: m for m in sdk(gw.url, full).models.list()}
    assert listed["council"].model_extra["accord"] == {"panel": True, "models": ["deepseek", "qwen:against", "kimi"],
                                                       "mode": "synthesize", "chair": "gpt"}


def test_panel_config_errors_name_the_line():
    from accord.config import parse
    from accord.errors import ConfigError

    text = panel_config("http://127.0.0.1:9", "panels:\n  council:\n    models: [deepseek, qwem]\n")
    with pytest.raises(ConfigError) as e:
        parse(text, "accord.yaml")
    assert "panels.council.models[1]" in str(e.value) and "`qwem` is not served; did you mean `qwen`?" in str(e.value)
    assert "accord.yaml:" in str(e.value)
    with pytest.raises(ConfigError, match="has the name of a model"):
        parse(panel_config("http://127.0.0.1:9", "panels:\n  kimi:\n    models: [deepseek]\n"))


def test_a_keys_budget_holds_the_panels_worst_case_while_it_runs(upstream, gateway_factory):
    from accord.consensus import panels
    from accord.costs import worst_case

    gate = threading.Event()
    upstream.responder = responder(lambda m, r: Reply(content=f"{m}: yes", hold=gate.is_set if m == UPSTREAM["kimi"]
                                                      else None))
    gw = gateway_factory(config(upstream.url))
    ask = [{"role": "user", "content": "Ship on Friday?"}]
    panel = panels.worst_case(gw.router, gw.cfg.panels["council"], gw.cfg.consensus, {"messages": ask})
    single = worst_case(gw.router, "deepseek", {"messages": ask})
    assert panel > 3 * single > 0  # three seats and a chair that reads every answer
    key = httpx.post(f"{gw.url}/key/generate", json={"max_budget": 2 * single}, headers=ADMIN).json()["key"]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            running = pool.submit(sdk(gw.url, key).chat.completions.create, model="council", messages=ask)
            wait_for(lambda: any(q["json"].get("model") == UPSTREAM["kimi"] for q in upstream.requests),
                     "the panel to be under way")
            with pytest.raises(openai.RateLimitError) as e:  # the panel's worst case holds the budget
                sdk(gw.url, key).chat.completions.create(model="deepseek", messages=ask)
            assert e.value.code == "budget_exceeded" and "held by its requests in flight" in e.value.message
        finally:
            gate.set()
        r = running.result()
    assert r.model_extra["accord"]["status"] == "done"
    # once over, only what it cost counts
    assert sdk(gw.url, key).chat.completions.create(model="deepseek", messages=ask).choices[0].message.content


def test_panel_on_the_responses_api(upstream, gateway_factory):
    kimi_fails(upstream)
    gw = gateway_factory(config(upstream.url))
    r = sdk(gw.url).responses.create(model="council", input="Ship on Friday?", instructions="We run a web shop.")
    assert r.output_text.startswith(f"## Recommendation\n{RECOMMENDATION}")
    assert r.model_extra["accord"]["status"] == "partial" and r.usage.total_tokens > 0
    deltas, thinking = [], []
    with sdk(gw.url).responses.stream(model="council", input="Ship on Friday?") as s:
        for event in s:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type == "response.reasoning_text.delta":
                assert not deltas, "progress comes before the answer"
                thinking.append(event.delta)
        final = s.get_final_response()
    assert "deepseek answered" in "".join(thinking) and "kimi failed" in "".join(thinking)
    assert "".join(deltas) == final.output_text and final.output_text.startswith(f"## Recommendation\n{RECOMMENDATION}")
    assert len(deltas) > 3 and final.usage.total_tokens > 0


def test_panel_on_the_messages_api(upstream, gateway_factory):
    kimi_fails(upstream)
    gw = gateway_factory(config(upstream.url))
    claude = anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0, timeout=120)
    msg = claude.messages.create(model="council", max_tokens=1024, system="We run a web shop.",
                                 messages=[{"role": "user", "content": "Ship on Friday?"}])
    assert msg.model == "council" and msg.stop_reason == "end_turn"
    assert msg.content[-1].type == "text" and msg.content[-1].text.startswith(f"## Recommendation\n{RECOMMENDATION}")
    ext = msg.model_extra["accord"]
    assert ext["status"] == "partial" and [a["status"] for a in ext["answers"]] == ["ok", "ok", "failed"]
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    rows = wait_for(lambda: (x := spend(gw.url, thread_id=ext["thread_id"])) and len(x) == 4 and x,
                    "the panel's four usage rows")
    assert {row["route"] for row in rows} == {"panel:council"}
    thinking, text = [], []
    with claude.messages.stream(model="council", max_tokens=1024,
                                messages=[{"role": "user", "content": "Ship on Friday?"}]) as s:
        for event in s:
            if event.type == "content_block_delta" and event.delta.type == "thinking_delta":
                assert not text, "progress comes before the answer"
                thinking.append(event.delta.thinking)
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text.append(event.delta.text)
            if event.type == "message_delta":
                ext = event.model_extra["accord"]
        final = s.get_final_message()
    shown = "".join(thinking)
    assert "deepseek answered" in shown and "kimi failed" in shown and "chair gpt is writing" in shown
    assert "".join(text).startswith(f"## Recommendation\n{RECOMMENDATION}") and len(text) > 3
    assert final.content[-1].text == "".join(text) and final.usage.output_tokens > 0
    assert ext["status"] == "partial"
    rows = wait_for(lambda: (x := spend(gw.url, thread_id=ext["thread_id"])) and len(x) == 4 and x,
                    "the streamed panel's four usage rows")
    assert {row["route"] for row in rows} == {"panel:council"}


def test_messages_key_needs_every_model_of_the_panel(upstream, gateway_factory):
    kimi_fails(upstream)
    gw = gateway_factory(config(upstream.url))
    key = httpx.post(f"{gw.url}/key/generate", json={"models": ["council", "deepseek", "qwen", "kimi"]},
                     headers=ADMIN).json()["key"]
    claude = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        claude.messages.create(model="council", max_tokens=100, messages=[{"role": "user", "content": "x"}])
    assert "1 model(s) the key may not use" in e.value.message
