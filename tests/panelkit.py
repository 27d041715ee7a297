"""Scripted panels for the consensus and MCP tests: a config of several models on the fake upstream, and a
responder that answers panel, chair, review and debate prompts differently."""

from __future__ import annotations

import json
from collections.abc import Callable

from fakes import Reply

# public name -> upstream id (what the fake sees in `model`)
UPSTREAM = {"deepseek": "deepseek-chat", "qwen": "qwen3-max", "kimi": "kimi-k2-0905-preview",
            "gpt": "gpt-4o-mini", "r1": "deepseek-reasoner"}


def panel_config(url: str, extra: str = "", master_key: str | None = None) -> str:
    key = f"  master_key: {master_key}\n" if master_key else ""
    return f"""
settings:
{key}  num_retries: 0
models:
  - {{name: deepseek, model: deepseek/deepseek-chat, api_base: {url}/v1, api_key: k1}}
  - {{name: qwen, model: dashscope/qwen3-max, api_base: {url}/v1, api_key: k2, aliases: [q]}}
  - {{name: kimi, model: moonshot/kimi-k2-0905-preview, api_base: {url}/v1, api_key: k3}}
  - {{name: gpt, model: openai/gpt-4o-mini, api_base: {url}/v1, api_key: k4, aliases: [fast]}}
  - {{name: r1, model: deepseek/deepseek-reasoner, api_base: {url}/v1, api_key: k5}}
consensus:
  panel: [deepseek, "qwen:against", kimi]
mcp:
  heartbeat: 0.2
{extra}"""


def kind(req: dict) -> str:
    msgs = req["json"].get("messages") or []
    last = msgs[-1].get("content") if msgs else ""
    last = last if isinstance(last, str) else json.dumps(last)
    if last.startswith("You chair a panel"):
        return "chair"
    if last.startswith("You judge anonymous answers"):
        return "select"
    if "anonymous responses" in last:
        return "review"
    if "round" in last and "panel discussion" in last:
        return "debate"
    return "panel"


def question(req: dict) -> str:
    for m in req["json"].get("messages") or []:
        if m.get("role") == "user":
            c = m["content"]
            return (c if isinstance(c, str) else c[0]["text"]).split("\n")[0]
    return ""


def chair_json(supporters: list[str], recommendation: str = "Do it.") -> str:
    return "```json\n" + json.dumps({
        "recommendation": recommendation, "agreement": ["it works"],
        "disagreements": [{"point": "cost", "positions": {"kimi": "too high"}}],
        "risks": ["lock-in"], "supporters": supporters}) + "\n```"


def choice(text: str, needle: str, reason: str = "It is the only one that is right.") -> str:
    """A select-mode chair's answer to the prompt `text`: the shown answer containing `needle`, whatever letter
    it got."""
    blocks = {b.split(":\n", 1)[0].strip(): b for b in text.split("Response ")[1:] if ":\n" in b}
    letter = next(lab for lab, b in blocks.items() if needle in b)
    return "```json\n" + json.dumps({"choice": letter, "reason": reason}) + "\n```"


def pick(req: dict, needle: str, reason: str = "It is the only one that is right.") -> Reply:
    """A select-mode chair that picks the shown answer containing `needle`, whatever letter it got."""
    return Reply(content=choice(req["json"]["messages"][-1]["content"], needle, reason))


def responder(panel: Callable[[str, dict], Reply], chair: Reply | None = None,
              review: Callable[[str, dict], Reply] | None = None,
              select: Callable[[str, dict], Reply] | None = None) -> Callable[[dict], Reply]:
    """Route each request by its kind; `panel`, `review` and `select` get (upstream model id, request)."""

    def respond(req: dict) -> Reply:
        k = kind(req)
        model = req["json"].get("model", "")
        if k == "chair":
            return chair or Reply(content=chair_json(["deepseek", "kimi"]))
        if k == "select":
            return select(model, req) if select is not None else chair or Reply(status=500)
        if k == "review" and review is not None:
            return review(model, req)
        return panel(model, req)

    return respond
