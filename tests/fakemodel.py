"""An in-memory model caller for engine and tool tests that need no sockets (as simonw/llm's test suite has
its mock model): per-model reply queues and a history of every call, bodies included.

`FakeModels` is a `consensus.callers.ModelCaller`: the engine cannot tell it from `LocalModels`. Capabilities,
scores and prices come from the built-in catalog, by each served name's upstream id, so chair choice and cost
budgets behave as with real models. Wire formats, retries and time-outs are the router's business and are
tested against the HTTP fakes (tests/fakes.py); this fake is for what the engine does with answers.

    models = FakeModels({"deepseek": "deepseek-chat", "qwen": "qwen3-max"})
    models.queue("deepseek", "yes", "still yes")      # its next two answers, in order
    models.default = lambda name, body: "fine"          # anyone with an empty queue
    ... engine.run(...)
    models.calls[0].model, models.bodies("qwen")[0]["messages"]
"""

from __future__ import annotations

import inspect
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from accord import catalog
from accord.catalog import ModelInfo
from accord.consensus.types import InputError
from accord.providers.assemble import OnText
from accord.providers.thinking import effort_for

# What a model answers: its text, an error it raises, or a function of the call's body giving either
# (a coroutine function may wait on something first, e.g. until every panelist has been asked).
Answer = str | BaseException
Reply = Answer | Callable[[dict], Answer | Awaitable[Answer]]
Default = Callable[[str, dict], Answer | Awaitable[Answer]]


@dataclass
class Sent:
    """One call as the fake received it: the served name and the request body (no `model` in it: the engine
    names the model beside the body, as it does to the router)."""

    model: str
    body: dict

    @property
    def system(self) -> str:
        return next((m["content"] for m in self.body["messages"] if m["role"] == "system"), "")

    @property
    def last(self) -> str:
        """The last message's text: for the panel the question, for the chair and reviewers their task."""
        content = self.body["messages"][-1]["content"]
        return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


class Unscripted(BaseException):
    """A model was asked with nothing queued and no default: a BaseException, so the engine's catch-all for
    a failing panelist does not turn a test's mistake into a quiet `failed` answer."""


class FakeModels:
    def __init__(self, models: Mapping[str, str], aliases: Mapping[str, str] | None = None) -> None:
        self.upstream = dict(models)  # served name -> catalog id
        self.alias = dict(aliases or {})  # alias -> served name
        self.replies: dict[str, deque[Reply]] = defaultdict(deque)
        self.default: Default | None = None
        self.calls: list[Sent] = []

    # ------------------------------------------------------------------ scripting and reading back
    def queue(self, model: str, *replies: Reply) -> FakeModels:
        """`model`'s next answers, in order; each is used once."""
        self.replies[model].extend(replies)
        return self

    def bodies(self, model: str) -> list[dict]:
        return [c.body for c in self.calls if c.model == model]

    def asked(self) -> list[str]:
        return [c.model for c in self.calls]

    # ------------------------------------------------------------------ the ModelCaller protocol
    def names(self) -> list[str]:
        return list(self.upstream)

    def canonical(self, name: str) -> str:
        name = self.alias.get(name, name)
        if name not in self.upstream:
            raise InputError(f"model `{name}` is not served here")
        return name

    def info(self, name: str) -> ModelInfo:
        return catalog.info_for(self.upstream[name])

    def aliases(self, name: str) -> list[str]:
        return [a for a, n in self.alias.items() if n == name]

    def controls(self, name: str, thinking: str | None, temperature: float | None) -> tuple[dict, list[str]]:
        body: dict[str, Any] = {}
        if thinking:
            body["reasoning_effort"] = effort_for(thinking)
        if temperature is not None:
            body["temperature"] = temperature
        return body, []

    async def complete(self, name: str, body: dict, on_text: OnText | None = None) -> tuple[dict, Any]:
        self.calls.append(Sent(name, body))
        text = await self._answer(name, body)
        if on_text is not None:
            await on_text(text)
        prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages") or ()) // 4 + 1
        return {"object": "chat.completion", "model": name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": len(text) // 4 + 1,
                          "total_tokens": prompt + len(text) // 4 + 1}}, None

    async def _answer(self, name: str, body: dict) -> str:
        waiting = self.replies[name]
        if waiting:
            reply = waiting.popleft()
            out = reply(body) if callable(reply) else reply
        elif self.default is not None:
            out = self.default(name, body)
        else:
            raise Unscripted(f"fakemodel: {name} was asked, but no reply is queued for it and no default set")
        if inspect.isawaitable(out):
            out = await out
        if isinstance(out, BaseException):
            raise out
        return out


def kind(body: dict) -> str:
    """panel | chair | select | review | debate: which prompt this is, read as the HTTP fakes read it."""
    from panelkit import kind as of_request

    return of_request({"json": body})


def script(panel: Callable[[str, Sent], Answer], chair: Answer | None = None,
           review: Callable[[str, Sent], Answer] | None = None,
           select: Callable[[str, Sent], Answer] | None = None) -> Default:
    """A default reply by the prompt's kind (panelkit.responder's in-memory twin); the functions get the
    served name and the call."""
    from panelkit import chair_json

    def reply(name: str, body: dict) -> Answer:
        sent, k = Sent(name, body), kind(body)
        if k == "chair":
            return chair if chair is not None else chair_json(["deepseek", "kimi"])
        if k == "select" and select is not None:
            return select(name, sent)
        if k == "review" and review is not None:
            return review(name, sent)
        return panel(name, sent)

    return reply
