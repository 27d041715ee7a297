"""The async part of the engine: fan a question out to a panel in parallel, within timeouts and budgets, and
hand the answers to the mode's strategy (modes.py). Each run keeps its state in a `Run`, so any number of runs
can go at once without sharing anything but the model caller and the store."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import metering, metrics, tracing
from ..errors import AccordError
from ..providers.base import Usage
from . import aggregate, modes, prompts
from .strategy import OnDelta, OnEvent, Run
from .types import MODES, STANCES, Answer, InputError, Member, Request, Result

if TYPE_CHECKING:
    from ..store.threads import ThreadStore
    from .callers import ModelCaller

ESTIMATE_OUTPUT = 2_000  # completion tokens assumed for the cost budget when no max_tokens is given


class Engine:
    def __init__(self, models: ModelCaller, store: ThreadStore | None = None) -> None:
        self.models = models
        self.store = store

    # ------------------------------------------------------------------------------------------ checking
    def check(self, req: Request) -> Request:
        """Resolve aliases and check the request; InputError says what to fix."""
        if not req.question.strip():
            raise InputError("the question is empty: say what the panel should answer")
        if req.mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, not {req.mode!r}")
        if not req.panel:
            raise InputError("the panel is empty: name at least one model (see listmodels)")
        panel = []
        for m in req.panel:
            stance = m.stance or "neutral"
            if stance not in STANCES and not m.stance_prompt:
                raise InputError(f"stance {stance!r} of {m.model}: use for, against or neutral, "
                                 "or describe the stance in stance_prompt")
            if m.stance_prompt and stance not in ("for", "against"):
                stance = "custom"
            panel.append(Member(self.models.canonical(m.model), stance, m.stance_prompt))
        req.panel = panel
        if req.chair:
            req.chair = self.models.canonical(req.chair)
        return req

    def labels(self, panel: list[Member]) -> list[str]:
        out: list[str] = []
        for m in panel:
            label, n = m.label, 2
            while label in out:
                label, n = f"{m.label}#{n}", n + 1
            out.append(label)
        return out

    def pick_chair(self, req: Request, answers: list[Answer]) -> str:
        return self.chair_choice(req, answers)[0]

    def chair_choice(self, req: Request, answers: list[Answer]) -> tuple[str, str]:
        """The chair and why (choose.chair: another family than the panel majority's, when one is served)."""
        if req.chair:
            return req.chair, "named by the caller (or consensus.chair)"
        from .choose import chair

        answered = [a.model for a in answers if a.ok] or [m.model for m in req.panel]
        return chair([(n, self.models.info(n)) for n in answered],
                     [(n, self.models.info(n)) for n in self.models.names()])

    # ------------------------------------------------------------------------------------------ running
    async def run(self, req: Request, on_event: OnEvent | None = None, *, thread_id: str | None = None,
                  tool: str = "consensus", on_delta: OnDelta | None = None) -> Result:
        """`on_delta`, when given, receives each answer's text as it streams in (the models are then called
        streaming, where the caller can)."""
        self.check(req)
        run = Run(req, on_event=on_event, on_delta=on_delta,
                  sem=asyncio.Semaphore(req.concurrency) if req.concurrency else None)
        run.calls_planned = len(req.panel) * (1 + (req.rounds if req.mode == "debate" else 0)
                                              + (1 if req.mode == "review" else 0)) + (
            0 if req.mode == "vote" or (req.mode == "debate" and req.answer_format) else 1)  # the chair
        tid = None
        if self.store is not None:
            from ..store.threads import ThreadNotFound

            try:
                tid = await self.store.open(tool, req.question, thread_id=thread_id, mode=req.mode,
                                            panel=[m.label for m in req.panel], timeout=req.timeout)
            except ThreadNotFound:
                raise InputError(f"no thread {thread_id}: start without continuation_id, or see `threads`") from None
            await self.store.add(tid, [{"role": "user", "content": req.question}])
        with metering.tagged(thread_id=tid):  # every model call of the run is counted against its thread
            try:  # a cancel at any await below, the final grouping and the recording too, ends `cancelled`
                result = await tracing.consensus(req, modes.MODES[req.mode](self, run))
                await aggregate.finish(self, run, result)  # clusters, the chair's fallback, the honest status
                result.wall_time = round(run.elapsed(), 3)
                result.thread_id = tid
                metrics.consensus(result)
                await run.emit("finished", None, result.status)
                if self.store is not None and tid is not None:
                    await self._record(tid, result)
            except asyncio.CancelledError:
                await self.cancelled(tid, run)
                raise
        return result

    async def cancelled(self, tid: str | None, run: Run) -> None:
        """The caller gave up on the run (client gone, task cancelled, Ctrl-C): its thread says so, and what it
        spent. Shielded: a second cancel must not leave the thread `running`."""
        if self.store is not None and tid is not None:
            await asyncio.shield(self.store.cancel(tid, completion_tokens=run.tokens_spent, cost=run.cost_spent))

    async def _record(self, tid: str, r: Result) -> None:
        assert self.store is not None
        rows = [_row("panel", a) for a in r.answers]
        rows += [_row("debate", a) for rnd in r.rounds for a in rnd]
        rows += [_row("review", a) for a in r.reviews]
        if r.chair is not None:
            rows.append(_row("chair", r.chair))
        stored = [*r.answers, *(a for rnd in r.rounds for a in rnd), *r.reviews, *([r.chair] if r.chair else [])]
        for a, seq in zip(stored, await self.store.add(tid, rows), strict=True):
            a.part = seq
        summary = r.to_dict()
        for key in ("answers", "reviews", "rounds", "chair"):
            summary.pop(key, None)
        summary["panel"] = [{"model": a.label, "status": a.status, "error": a.error, "latency": a.latency,
                             "tokens": a.prompt_tokens + a.completion_tokens} for a in r.answers]
        await self.store.finish(tid, status=r.status, result=summary, prompt_tokens=r.prompt_tokens,
                                completion_tokens=r.completion_tokens, cost=r.cost)

    def member_messages(self, run: Run, m: Member) -> tuple[list[dict], list[str]]:
        req = run.req
        notes = []
        images = req.images
        if images and not self.models.info(m.model).vision:
            images, notes = [], [f"{m.model} cannot see images; they were left out for it"]
        system = prompts.panel_system(m, req.answer_format, voting=req.mode == "vote")
        msgs = [{"role": "system", "content": system}, *req.history,
                {"role": "user", "content": prompts.user_content(req.question, req.context, images)}]
        return msgs, notes

    async def ask(self, run: Run, model: str, messages: list[dict], *, stance: str = "neutral",
                  label: str | None = None, notes: list[str] | None = None, event: str = "start") -> Answer:
        """One call, within the run's concurrency cap, timeouts and budgets; never raises."""
        req = run.req
        ans = Answer(model=model, stance=stance, notes=list(notes or []))
        who = label or model
        info = self.models.info(model)
        max_tokens = req.max_tokens
        if req.token_budget is not None:
            share = max(1, req.token_budget // max(1, run.calls_planned))
            left = req.token_budget - run.tokens_spent
            if left <= 0:
                return _skip(ans, "the run's token budget is spent")
            max_tokens = min(max_tokens or share, share, left)
        estimate = 0.0
        if req.cost_budget is not None:
            prompt_est = sum(len(str(m.get("content", ""))) for m in messages) // 4
            estimate = info.cost(prompt_est, max_tokens or ESTIMATE_OUTPUT)
            if run.cost_spent + run.cost_reserved + estimate > req.cost_budget:
                return _skip(ans, f"the run's cost budget (${req.cost_budget:g}) would be exceeded")
            run.cost_reserved += estimate
        controls, control_notes = self.models.controls(model, req.thinking, req.temperature)
        ans.notes += control_notes
        body: dict[str, Any] = {"messages": messages, **controls}
        if max_tokens:
            body["max_tokens"] = max_tokens
        try:
            if run.sem is not None:
                async with run.sem:
                    await self._call(run, ans, body, who, info, event)
            else:
                await self._call(run, ans, body, who, info, event)
        finally:
            run.cost_reserved -= estimate
        return ans

    async def _call(self, run: Run, ans: Answer, body: dict, who: str, info: Any, event: str) -> None:
        req = run.req
        left = run.deadline - time.monotonic()
        if left <= 0:
            _skip(ans, f"the run's deadline ({req.timeout:g} s) passed before it could start", "timeout")
            await run.emit("failed", who, ans.error or "")
            return
        limit = min(req.per_model_timeout, left)
        await run.emit(event, who)
        t0 = time.monotonic()
        try:
            on_text = None if run.on_delta is None else functools.partial(run.on_delta, who)
            data, _call = await asyncio.wait_for(
                tracing.member(event, who, ans.model, self.models.complete(ans.model, body, on_text)), timeout=limit)
        except asyncio.TimeoutError:
            ans.status, ans.error = "timeout", f"no answer within {limit:.0f} s" + (
                " (the run's deadline)" if limit < req.per_model_timeout else "")
        except AccordError as e:
            ans.status, ans.error = "failed", e.message
        except Exception as e:  # an adapter bug must not sink the whole panel
            ans.status, ans.error = "failed", f"{e.__class__.__name__}: {e}"
        else:
            _fill(ans, data, info)
            run.tokens_spent += ans.completion_tokens
            run.cost_spent += ans.cost
        ans.latency = round(time.monotonic() - t0, 3)
        if ans.ok:
            await run.emit("done", who, f"{ans.latency:.1f} s")
        else:
            await run.emit("failed", who, ans.error or "")

    async def fan_out(self, run: Run, jobs: list[Callable[[], Awaitable[Answer]]]) -> list[Answer]:
        return list(await asyncio.gather(*(j() for j in jobs)))


def _skip(ans: Answer, why: str, status: str = "skipped") -> Answer:
    ans.status, ans.error = status, why
    return ans


def _fill(ans: Answer, data: dict, info: Any) -> None:
    choices = data.get("choices") or [{}]
    msg = (choices[0] or {}).get("message") or {}
    content = msg.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    ans.content = (content or "").strip()
    ans.reasoning = msg.get("reasoning_content") or msg.get("reasoning") or None
    u = Usage.from_openai(data.get("usage")) or Usage()
    ans.prompt_tokens = u.prompt_tokens
    ans.completion_tokens = u.completion_tokens
    ans.cost = u.cost(info)
    if not ans.content and (ans.reasoning or "").strip():
        # a thinking model that put its whole answer in its reasoning answered: read that, don't call it empty
        ans.content = ans.reasoning.strip()  # type: ignore[union-attr]
        ans.notes.append("answered only in its reasoning; that text is read as its answer")
    if not ans.content:
        ans.status, ans.error = "failed", "the model returned an empty answer" + (
            f" (finish_reason {choices[0].get('finish_reason')})" if choices[0].get("finish_reason") else "")


def _row(role: str, a: Answer) -> dict:
    return {"role": role, "model": a.model, "stance": None if a.stance == "neutral" else a.stance,
            "content": a.content, "reasoning": a.reasoning, "status": a.status, "error": a.error,
            "prompt_tokens": a.prompt_tokens, "completion_tokens": a.completion_tokens, "cost": a.cost,
            "latency": a.latency}
