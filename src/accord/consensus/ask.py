"""The one way a front-end asks: a consensus `Request` built from plain arguments (files read, a thread's history,
the default panel by one rule, the configured limits) and run; and one model asked with its thread kept. MCP, the
CLI and the dashboard playground only translate their arguments to these and render what comes back, so a
question means the same, and asks the same models, wherever it is asked."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import metering, tokens
from . import prompts
from .choose import choose, top
from .runner import Engine, OnDelta, OnEvent, Run
from .types import Answer, InputError, Member, Request, Result

if TYPE_CHECKING:
    from ..config import Config, ConsensusSettings
    from .callers import ModelCaller


def limits(c: ConsensusSettings) -> dict[str, Any]:
    """The configured limits every run is under: time-outs, concurrency, token and cost budgets."""
    return dict(concurrency=c.concurrency, per_model_timeout=c.per_model_timeout, timeout=c.timeout,
                max_tokens=c.max_tokens, token_budget=c.token_budget, cost_budget=c.cost_budget)


def request(c: ConsensusSettings, question: str, panel: list[Member], **fields: Any) -> Request:
    """A consensus request under the configured limits and defaults (mode, chair, rounds); `fields` win."""
    defaults = dict(mode=c.mode, chair=c.chair, rounds=c.rounds, embedding_model=c.embedding_model)
    return Request(question=question, panel=panel, **{**limits(c), **defaults, **fields})


def default_panel(cfg: Config, models: ModelCaller) -> tuple[list[Member], list[str]]:
    """The panel when none is given: consensus.panel, else the top served models by score (quality of members
    matters more than their diversity: choose.top); and a note when it was chosen here."""
    seats = [Member.parse(m) for m in cfg.consensus.panel]
    if seats:
        return seats, []
    names = top([(n, models.info(n)) for n in models.names()])
    return [Member(n) for n in names], [f"no panel given or configured: asked the top models by score "
                                        f"({', '.join(names)})"]


def plain_panel(cfg: Config, models: ModelCaller, given: Sequence[str] | None) -> list[Member]:
    """The seats of a tool that gives the panel no stances (review, precommit, debug, planner) from MCP or the
    CLI alike: the given models, else the default panel, stances dropped."""
    seats = [Member(Member.parse(m).model) for m in given or ()]
    if not seats:
        seats = [Member(m.model) for m in default_panel(cfg, models)[0]]
    if not seats:
        raise InputError("no panel: give models (-m MODEL on the command line), or set consensus.panel in "
                         "accord.yaml")
    return seats


@dataclass
class Asked:
    """A checked request (aliases resolved), its seats' labels, notes for the caller (files left out, the
    panel chosen for it), and the thread it continues."""

    req: Request
    labels: list[str]
    notes: list[str]
    thread_id: str | None = None


Paths = Sequence[str] | None


async def consensus(cfg: Config, engine: Engine, question: str, *, panel: Sequence[Member] = (),
                    mode: str | None = None, chair: str | None = None, files: Paths = None, images: Paths = None,
                    continuation_id: str | None = None, thinking: str | None = None,
                    temperature: float | None = None, rounds: int | None = None, answer_format: str | None = None,
                    final_vote: bool = False, sequential: bool = False, no_panel: str = "name the models") -> Asked:
    """Build and check a consensus request. Unset arguments take the config's values; no panel: the default one
    (configured, or at least two served models); `chair` "auto" is as unset. `no_panel`: how this front-end's
    caller names models, for the error when there is no panel. InputError (or ThreadNotFound) says what to fix."""
    seats = list(panel)
    context, imgs, notes = await gather(cfg, files, images)
    if not seats:
        seats, chosen = default_panel(cfg, engine.models)
        if chosen and len(seats) < 2:  # one served model is no panel
            raise InputError(f"no panel: {no_panel}, or set consensus.panel in accord.yaml (models served: "
                             f"{', '.join(engine.models.names()) or 'none'})")
        notes += chosen
    c = cfg.consensus
    fields: dict[str, Any] = dict(
        context=context, images=imgs, history=await history(engine, continuation_id), thinking=thinking,
        temperature=temperature, answer_format=answer_format, final_vote=final_vote)
    if mode:
        fields["mode"] = mode
    if chair and chair.lower() != "auto":
        fields["chair"] = chair
    if rounds:
        fields["rounds"] = rounds
    if sequential:
        fields["concurrency"] = 1
    req = engine.check(request(c, question, seats, **fields))
    return Asked(req, engine.labels(req.panel), notes, continuation_id)


async def run(engine: Engine, asked: Asked, on_event: OnEvent | None = None, *, on_delta: OnDelta | None = None,
              tool: str = "consensus") -> Result:
    """Run it (in its thread); the result's notes start with the request's own."""
    result = await engine.run(asked.req, on_event, thread_id=asked.thread_id, tool=tool, on_delta=on_delta)
    result.notes[:0] = asked.notes
    return result


async def gather(cfg: Config, files: Paths, images: Paths) -> tuple[str, list[str], list[str]]:
    """(file text, image URLs, notes) within mcp.file_tokens and the allowed roots, never Accord's own files."""
    from .files import Rules, read_inputs  # here: it loads the store's SQLAlchemy, which a gateway loads late

    return await read_inputs(list(files or ()), list(images or ()), cfg.mcp.file_tokens, Rules.from_config(cfg))


async def history(engine: Engine, thread_id: str | None) -> list[dict]:
    """The turns of a thread being continued (ThreadNotFound for an unknown id); none without a store."""
    return await engine.store.history(thread_id) if thread_id and engine.store is not None else []


def pick(cfg: Config, models: ModelCaller, model: str | None, *, thinking: bool = False, vision: bool = False,
         context_tokens: int = 0) -> str:
    """The named model (aliases resolved), or for `auto`/absent (mcp.default_model) the best fit by capability
    and score."""
    name = model or cfg.mcp.default_model or "auto"
    if name.lower() != "auto":
        return models.canonical(name)
    names = models.names()
    found = choose([(n, models.info(n)) for n in names], thinking=thinking, vision=vision,
                   context_tokens=context_tokens)
    if found is None:
        need = " with vision" if vision else ""
        raise InputError(f"no configured model{need} fits ({context_tokens} tokens of context); "
                         f"models: {', '.join(names) or 'none (add one to accord.yaml)'}")
    return found


@dataclass
class Single:
    """One model's answer, the thread it is kept in, and its message's seq there (for trimmed answers)."""

    model: str
    answer: Answer
    thread_id: str | None
    part: int | None


async def single(cfg: Config, engine: Engine, *, tool: str, prompt: str, system: str | None = None,
                 model: str | None = None, files: Paths = None, images: Paths = None,
                 continuation_id: str | None = None, thinking: str | None = None, temperature: float | None = None,
                 wants_thinking: bool = False, on_event: OnEvent | None = None) -> Single:
    """Ask one model (named, or picked for the prompt's size, images and thinking), continuing a thread or
    opening one, and keep the question and answer there. A failed call is in the answer, never raised; a
    cancelled one leaves the thread marked cancelled."""
    if not prompt.strip():
        raise InputError("the prompt is empty")
    context, imgs, notes = await gather(cfg, files, images)
    past = await history(engine, continuation_id)
    size = tokens.count(prompt) + tokens.count(context) + sum(tokens.count(str(m["content"])) for m in past)
    name = pick(cfg, engine.models, model, thinking=wants_thinking or thinking not in (None, "off"),
                vision=bool(imgs), context_tokens=size)
    if imgs and not engine.models.info(name).vision:
        notes.append(f"{name} cannot see images; they were left out")
        imgs = []
    c = cfg.consensus
    store = engine.store
    tid = None
    if store is not None:
        tid = await store.open(tool, prompt, thread_id=continuation_id, timeout=c.timeout)
        await store.add(tid, [{"role": "user", "content": prompt}])
    msgs = ([{"role": "system", "content": system}] if system else []) + past + [
        {"role": "user", "content": prompts.user_content(prompt, context, imgs)}]
    run_ = Run(Request(question=prompt, panel=[], thinking=thinking, temperature=temperature,
                       per_model_timeout=c.per_model_timeout, timeout=c.timeout, max_tokens=c.max_tokens),
               on_event=on_event)
    try:
        with metering.tagged(thread_id=tid):
            a = await engine.ask(run_, name, msgs, notes=notes)
    except asyncio.CancelledError:
        await engine.cancelled(tid, run_)
        raise
    part = None
    if store is not None and tid is not None:
        [part] = await store.add(tid, [{
            "role": "assistant", "model": a.model, "content": a.content, "reasoning": a.reasoning,
            "status": a.status, "error": a.error, "prompt_tokens": a.prompt_tokens,
            "completion_tokens": a.completion_tokens, "cost": a.cost, "latency": a.latency}])
        await store.finish(tid, status="done" if a.ok else "failed", result={"model": a.model, "notes": a.notes},
                           prompt_tokens=a.prompt_tokens, completion_tokens=a.completion_tokens, cost=a.cost)
    return Single(name, a, tid, part)
