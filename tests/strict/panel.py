"""One strict fake per vendor family, one config serving a model of every kind from them, and the answers the
fakes give: what the conformance matrix and the vendor-quirk tests run against."""

from __future__ import annotations

import json

from fakes import FakeUpstream, Reply
from panelkit import chair_json, kind

from .openai_family import PROFILES

VENDORS = ("deepseek", "dashscope", "moonshot", "openai", "generic")

# served name -> (vendor fake, model in the config, extra YAML for the entry)
MODELS: dict[str, tuple[str, str, str]] = {
    "deepseek-chat": ("deepseek", "deepseek/deepseek-chat", ""),
    "deepseek-reasoner": ("deepseek", "deepseek/deepseek-reasoner", ""),
    # as the replaced setup's LiteLLM entry has it: extra_body: {enable_thinking: true}
    "qwen-thinking": ("dashscope", "dashscope/qwen-plus", ", extra_body: {enable_thinking: true}"),
    "kimi": ("moonshot", "moonshot/kimi-k2-0905-preview", ""),
    "kimi-thinking": ("moonshot", "moonshot/kimi-k2-thinking", ""),
    "gpt-4o": ("openai", "openai/gpt-4o", ""),
    "o3": ("openai", "openai/o3", ""),
    "gpt-5": ("openai", "openai/gpt-5", ""),
    "gpt-5.1": ("openai", "openai/gpt-5.1", ""),
    "local": ("generic", "hosted_vllm/llama-3.1-8b-instruct", ""),
    "local-r1": ("generic", "ollama/deepseek-r1:8b", ""),
}


def config(servers: dict[str, FakeUpstream], master_key: str | None = None, extra: str = "") -> str:
    key = f"  master_key: {master_key}\n" if master_key else ""
    rows = "".join(f"  - {{name: {name}, model: {model}, api_base: {servers[v].url}/v1, api_key: sk-{v}-0000{more}}}\n"
                   for name, (v, model, more) in MODELS.items())
    return f"settings:\n{key}  num_retries: 0\nmodels:\n{rows}mcp:\n  heartbeat: 0.2\n{extra}"


def answer(model: str) -> str:
    """The answer text a fake gives `model`: long enough to arrive in many streamed pieces."""
    return f"{model} answers: the result is 42, because six times seven is forty-two. ANSWER: 42"


def thinking(model: str) -> str:
    return f"{model} reasons: six times seven, carefully, is forty-two."


def responder(fake: FakeUpstream):
    """Answer like the vendor would: think when the request makes the model think, call the first tool when
    tools are offered and the user spoke last, otherwise answer (as a chair, in the chair's JSON)."""
    profile = fake.strict or PROFILES["generic"]

    def respond(req: dict) -> Reply:
        body = req["json"]
        model = str(body.get("model", ""))
        reasoning = thinking(model) if profile.thinks(model, body) else None
        msgs = body.get("messages") or [{}]
        if body.get("tools") and msgs[-1].get("role") == "user":
            name = body["tools"][0]["function"]["name"]
            call = {"id": f"call_{len(msgs)}", "type": "function",
                    "function": {"name": name, "arguments": json.dumps({"city": "Paris"})}}
            return Reply(content="", reasoning=reasoning, tool_calls=[call])
        if kind(req) == "chair":
            return Reply(content=chair_json([], answer(model)), reasoning=reasoning)
        return Reply(content=answer(model), reasoning=reasoning)

    return respond


def refused(fake: FakeUpstream, since: int = 0) -> list[str]:
    return [f"{r['json'].get('model')}: {r['refused']}" for r in fake.requests[since:] if "refused" in r]
