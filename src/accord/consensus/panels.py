"""A named panel (`panels:` in accord.yaml) asked as one model: a chat request turned into a consensus
`Request`, and the `Result` turned into one answer plus the documented `accord` extension. Pure apart from
the cost bound; every gateway route that serves panels (chat completions today, messages and responses later)
calls these, so a panel means the same thing wherever it is asked."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from . import ask
from .types import Member, Request, Result

if TYPE_CHECKING:
    from ..config import ConsensusSettings, PanelSettings
    from ..router import Allow, Router

CHAIR_STREAMED = ("synthesize", "review", "debate")  # modes whose answer is the chair's text, streamed as written


def find(panels: dict[str, PanelSettings], name: str) -> str | None:
    """The configured panel `name` refers to (any case), or None."""
    if name in panels:
        return name
    low = name.lower()
    return next((n for n in panels if n.lower() == low), None)


def members(spec: PanelSettings) -> list[str]:
    """Every model the panel may call: its seats and its chair (what a key's allow-list must cover)."""
    out = [Member.parse(m).model for m in spec.models]
    return [*out, spec.chair] if spec.chair else out


def _text(content: Any) -> tuple[str, list[str]]:
    """A message's text and image URLs (content may be a string or OpenAI content parts)."""
    if isinstance(content, str):
        return content, []
    texts, images = [], []
    for p in content if isinstance(content, list) else ():
        if isinstance(p, dict) and p.get("type") == "text":
            texts.append(str(p.get("text", "")))
        elif isinstance(p, dict) and p.get("type") == "image_url":
            url = p.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if isinstance(url, str):
                images.append(url)
    return "\n".join(texts), images


def request_for(spec: PanelSettings, defaults: ConsensusSettings, body: dict) -> Request:
    """The consensus run a chat request to a panel asks for: the last user turn is the question, earlier turns
    its history, system messages its context; the request's max_tokens and temperature apply to every call."""
    from .types import InputError

    messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
    last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    if last is None:
        raise InputError("a panel answers the last `user` message: add one to `messages`")
    question, images = _text(messages[last].get("content"))
    system = [_text(m.get("content"))[0] for m in messages if m.get("role") in ("system", "developer")]
    history = [{"role": m["role"], "content": _text(m.get("content"))[0]} for m in messages[:last]
               if m.get("role") in ("user", "assistant")]
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    temperature = body.get("temperature")
    return ask.request(
        defaults, question, [Member.parse(m) for m in spec.models], mode=spec.mode,
        context="\n\n".join(s for s in system if s), images=images, history=history, chair=spec.chair,
        temperature=temperature if isinstance(temperature, (int, float)) else None,
        per_model_timeout=spec.per_model_timeout or defaults.per_model_timeout, timeout=spec.timeout or defaults.timeout,
        max_tokens=asked if isinstance(asked, int) and asked > 0 else (spec.max_tokens or defaults.max_tokens),
        rounds=spec.rounds or defaults.rounds, answer_format=spec.answer_format,
    )


def answer(result: Result) -> str:
    """The panel's final answer: the chair's synthesis, the selected answer, or the vote's winner."""
    if result.synthesis or result.recommendation:
        return result.synthesis or result.recommendation
    ok = [a for a in result.answers if a.ok]
    return "\n\n".join(f"[{a.label}]\n{a.content}" for a in ok)


def extension(name: str, result: Result, labels: list[str]) -> dict[str, Any]:
    """The `accord` field on a panel's response (documented in the README, "Panels as models")."""
    def one(label: str, a: Any) -> dict[str, Any]:
        return {"model": label, "stance": a.stance, "status": a.status, "error": a.error, "content": a.content,
                "latency": a.latency, "prompt_tokens": a.prompt_tokens, "completion_tokens": a.completion_tokens,
                "cost": round(a.cost, 6)}

    return {
        "panel": name, "mode": result.mode, "status": result.status, "reasons": result.reasons,
        "thread_id": result.thread_id, "agreement": result.agreement, "chair_agreement": result.chair_agreement,
        "answers": [one(lab, a) for lab, a in zip(labels, result.answers, strict=False)],
        "chair": one(result.chair.model, result.chair) if result.chair else None,
        "chair_choice": result.chair_choice, "clusters": result.clusters, "vote": result.vote,
        "ranking": result.ranking, "selected": result.selected, "points_of_agreement": result.points_of_agreement,
        "disagreements": result.disagreements, "risks": result.risks, "notes": result.notes,
        "cost": round(result.cost, 6), "wall_time": result.wall_time,
    }


def usage(result: Result) -> dict[str, int]:
    return {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens}


def worst_case(router: Router, spec: PanelSettings, defaults: ConsensusSettings, body: dict,
               allow: Allow | None = None) -> float:
    """The most a run of the panel can cost, for a key's budget reservation: every seat's calls (debate rounds
    and reviews see the other answers, as the chair does) plus the dearest chair it may get."""
    from ..costs import output_tokens_bound
    from ..costs import worst_case as one

    capped = dict(body)
    if not (body.get("max_completion_tokens") or body.get("max_tokens")) and (spec.max_tokens or defaults.max_tokens):
        capped["max_tokens"] = spec.max_tokens or defaults.max_tokens
    seats = [router.canonical(Member.parse(m).model, allow) for m in spec.models]
    answers = sum(output_tokens_bound(capped, router.info(m)) for m in seats)
    seen = {**capped, "panel_answers": "x" * answers}  # the answers are in the prompt of every later stage
    later = (spec.rounds or defaults.rounds if spec.mode == "debate" else 0) + (1 if spec.mode == "review" else 0)
    total = sum(one(router, m, capped, allow) + later * one(router, m, seen, allow) for m in seats)
    if spec.mode != "vote":
        chairs = [spec.chair] if spec.chair else [n for n in router.names() if router.info(n).mode == "chat"
                                                  and (allow is None or allow(n))]
        total += max((one(router, c, seen, allow) for c in chairs), default=0.0)
    return total


class ChairText:
    """The chair's recommendation as it is written: the chair replies with JSON, and the answer people read is
    the `recommendation` string inside it, decoded as it streams (so a client sees the answer token by token,
    not a JSON object). Trailing whitespace is held back until more text follows, so what was sent is always
    a prefix of the final answer."""

    KEY = re.compile(r'"recommendation"\s*:\s*"')
    HEAD = "## Recommendation\n"

    def __init__(self) -> None:
        self.raw = ""
        self.pos: int | None = None  # where the string's next undecoded character is, once found
        self.done = False
        self.held = ""
        self.started = False

    def feed(self, text: str) -> str:
        self.raw += text
        if self.done:
            return ""
        out = ""
        if self.pos is None:
            m = self.KEY.search(self.raw)
            if m is None:
                return ""
            self.pos = m.end()
        decoded = []
        while self.pos < len(self.raw):
            c = self.raw[self.pos]
            if c == '"':
                self.done = True
                break
            if c != "\\":
                decoded.append(c)
                self.pos += 1
                continue
            need = 6 if self.raw[self.pos + 1:self.pos + 2] == "u" else 2
            if self.pos + need > len(self.raw):
                break  # the rest of the escape is still on its way
            try:
                decoded.append(json.loads('"' + self.raw[self.pos:self.pos + need] + '"'))
            except ValueError:
                decoded.append(self.raw[self.pos + 1:self.pos + need])
            self.pos += need
        text_ = self.held + "".join(decoded)
        if not self.started:
            text_ = text_.lstrip()
            if not text_:
                return ""
            self.started = True
            out = self.HEAD
        body = text_.rstrip()
        self.held = text_[len(body):]
        return out + body

    @property
    def sent_any(self) -> bool:
        return self.started
