"""One turn through `/v1/messages` (the anthropic SDK) or `/v1/responses` (the openai SDK), JSON or streamed, read
the way a client reads it: what the conformance matrices check, whatever the vendor behind the gateway."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai


@dataclass
class Turn:
    """What came back, in the client's own terms, and what the client sends back next turn."""

    text: str
    reasoning: str
    calls: list[tuple[str, str, dict]]  # (id, name, parsed arguments)
    stop: str | None
    output_tokens: int
    echo: list[dict] = field(default_factory=list)  # the answer as the next request carries it


def message_turn(c: anthropic.Anthropic, stream: bool, **kw: Any) -> Turn:
    if stream:
        with c.messages.stream(**kw) as s:
            deltas = "".join(s.text_stream)
            msg = s.get_final_message()
    else:
        msg = c.messages.create(**kw)
    text = "".join(b.text for b in msg.content if b.type == "text")
    if stream:
        assert deltas == text  # the streamed deltas add up to the assembled message
    return Turn(text, "".join(b.thinking for b in msg.content if b.type == "thinking"),
                [(b.id, b.name, b.input) for b in msg.content if b.type == "tool_use"], msg.stop_reason,
                msg.usage.output_tokens, [{"role": "assistant", "content": [b.model_dump(exclude_none=True)
                                                                            for b in msg.content]}])


def response_turn(c: openai.OpenAI, stream: bool, **kw: Any) -> Turn:
    if stream:
        with c.responses.stream(**kw) as s:
            deltas = "".join(e.delta for e in s if e.type == "response.output_text.delta")
            r = s.get_final_response()
    else:
        r = c.responses.create(**kw)
    text = r.output_text
    if stream:
        assert deltas == text
    reasoning = "".join(p.text for o in r.output if o.type == "reasoning" for p in o.content or ())
    calls = [(o.call_id, o.name, json.loads(o.arguments)) for o in r.output if o.type == "function_call"]
    return Turn(text, reasoning, calls, r.status, r.usage.output_tokens,
                [o.model_dump(exclude_none=True) for o in r.output])


def tool_result_message(call_id: str, result: str) -> dict:
    return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": result}]}


def tool_result_item(call_id: str, result: str) -> dict:
    return {"type": "function_call_output", "call_id": call_id, "output": result}


def anthropic_tool(tool: dict) -> dict:
    """An OpenAI chat tool as the Messages API declares it."""
    fn = tool["function"]
    return {"name": fn["name"], "description": fn["description"], "input_schema": fn["parameters"]}


def responses_tool(tool: dict) -> dict:
    """An OpenAI chat tool as the Responses API declares it."""
    return {"type": "function", **tool["function"]}
