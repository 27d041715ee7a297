"""Panels served as models (`panels:` in accord.yaml): `"model": "council"` on /v1/chat/completions runs the
panel and answers as one model. A key's allow-list must name the panel and cover every member and the chair;
its budget is reserved for the panel's worst case; every upstream call is recorded under route
`panel:<name>` and the run's thread. Whole answers carry the panel's detail in an `accord` field; streamed
ones show progress as `reasoning_content` while the panel works, then the chair's answer as it is written.

`chat` serves /v1/chat/completions. Other routes (/v1/responses, /v1/messages) call `open_panel`
with its body translated to chat messages, then translates `PanelCall.complete()` or `.chunks()` as it does a
model's answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .. import metering
from ..consensus import panels
from ..consensus.callers import LocalModels
from ..consensus.runner import Engine
from ..consensus.types import Event, InputError, Result
from ..costs import worst_case
from ..errors import AccordError, BadRequest, PermissionDenied, UpstreamError
from ..providers.base import Usage
from ..store.live import StoreUnavailable
from . import auth, sse
from .disconnect import ClientGone, unless_disconnected
from .usage import count_tokens

if TYPE_CHECKING:
    from ..config import PanelSettings
    from ..router import Allow
    from ..store.keys import KeyInfo


def find(request: Request, model: str) -> str | None:
    """The panel `model` names, or None (a plain model)."""
    return panels.find(request.app.state.cfg.panels, model) if request.app.state.cfg.panels else None


def fallback(request: Request, model: str, error: AccordError, key: KeyInfo | None,
             allow: Allow | None) -> str | None:
    """The panel to run when `model` (and its model fallbacks) failed: the first panel named in its fallbacks,
    else in default_fallbacks, that the caller may use; only for failures another model could fix."""
    cfg = request.app.state.cfg
    if not cfg.panels or not error.retryable:
        return None
    router = request.app.state.router
    primary = router.lookup(model) or model
    for name in (*cfg.settings.fallbacks.get(primary, ()), *cfg.settings.default_fallbacks):
        found = panels.find(cfg.panels, name)
        if found is None:
            continue
        try:
            permit(request, key, found, cfg.panels[found], allow)
        except PermissionDenied:
            continue  # as the router skips the fallbacks a key may not use
        return found
    return None


def fallback_cost(request: Request, model: str, body: dict, allow: Allow | None) -> float | None:
    """What a key's budget must reserve for `model` when one of its fallbacks is a panel (None: no panel)."""
    cfg = request.app.state.cfg
    if not cfg.panels:
        return None
    router = request.app.state.router
    primary = router.lookup(model) or model
    names = [panels.find(cfg.panels, n) for n in (*cfg.settings.fallbacks.get(primary, ()),
                                                   *cfg.settings.default_fallbacks)]
    found = [n for n in names if n is not None]
    if not found:
        return None
    try:
        own = worst_case(router, model, body, allow)
        return max(own, max(panels.worst_case(router, cfg.panels[n], cfg.consensus, body, allow) for n in found))
    except AccordError:
        return None


def permit(request: Request, key: KeyInfo | None, name: str, spec: PanelSettings, allow: Allow | None) -> None:
    """A key with an allow-list must name the panel and allow each of its models (the chair included)."""
    if key is None or key.models is None or allow is None:
        return
    router = request.app.state.router
    outside = [m for m in panels.members(spec) if (found := router.lookup(m)) is None or not allow(found)]
    listed = name.lower() in {m.lower() for m in key.models}
    if listed and not outside:
        return
    why = (f"its allow-list does not name panel `{name}`" if not listed else
           f"panel `{name}` asks {len(outside)} model(s) the key may not use")
    raise PermissionDenied(f"key `{key.name or key.prefix}` may not use model `{name}`: {why}; it may use: "
                           f"{', '.join(key.models)}", param="model", code="model_not_allowed")


async def engine_for(request: Request, allow: Allow | None) -> Engine:
    """An engine over the gateway's router (limited to what the key allows) and its thread store; without a
    database the panel still answers, unstored."""
    threads = None
    try:
        await request.app.state.store.wait(timeout=5)
    except StoreUnavailable:
        pass
    else:
        from ..store.threads import ThreadStore  # here: SQLAlchemy is loaded once the store is open

        threads = ThreadStore(request.app.state.store.db)
    return Engine(LocalModels(request.app.state.router, allow), threads)


class PanelCall:
    """A panel run, checked and paid for, not yet started: `complete()` gives a `chat.completion`, `chunks()`
    its `chat.completion.chunk` payloads (JSON bytes, as the router's streams); `close()` releases the key's
    budget reservation once it is over. Other routes (messages, responses) translate these as they translate
    a model's answer."""

    def __init__(self, request: Request, name: str, engine: Engine, req: Any, key: KeyInfo | None, body: dict,
                 res: Any, origin: metering.Origin) -> None:
        self.request, self.name, self.engine, self.req, self.key, self.body, self.res = (
            request, name, engine, req, key, body, res)
        self.origin = origin  # route panel:<name>, the key, the request id: every call of the run is its
        self.labels = engine.labels(req.panel)
        self.usage: Usage | None = None  # the run's total once it is over (as a router Call's)

    async def run(self, on_event: Any = None, on_delta: Any = None) -> Result:
        token = metering.current.set(self.origin)  # a stream runs after the route has returned: set it here
        try:
            result = await self.engine.run(self.req, on_event, tool=f"panel:{self.name}", on_delta=on_delta)
        finally:
            metering.current.reset(token)
        self.usage = Usage(result.prompt_tokens, result.completion_tokens)
        return result

    async def close(self) -> None:
        await auth.budget_release(self.request, self.res)
        self.res = None

    async def complete(self) -> dict:
        result = await self.run()
        _raise_if_failed(self.name, result, self.labels)
        return {"id": f"chatcmpl-{result.thread_id or uuid.uuid4().hex}", "object": "chat.completion",
                "created": int(time.time()), "model": self.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": panels.answer(result)},
                             "finish_reason": "stop"}],
                "usage": panels.usage(result), "accord": panels.extension(self.name, result, self.labels)}

    def chunks(self) -> AsyncIterator[bytes]:
        return _streamed(self)


async def open_panel(request: Request, name: str, body: dict, key: KeyInfo | None, allow: Allow | None, *,
                     started: float, charged: bool = False) -> PanelCall:
    """Check the caller may use panel `name` and the request is one it can answer, and reserve the key's
    budget for its worst case. Called inside the route's usage origin, whose route becomes `panel:<name>`: the
    route records a refused request's row as for any model. `charged`: the key's rpm/tpm were counted already
    (a fallback from a model that failed)."""
    cfg = request.app.state.cfg
    spec = cfg.panels[name]
    o = metering.current.get()
    if o is None:
        o = metering.Origin(f"panel:{name}", key_id=key.id if key else None,
                            request_id=request.scope.get("accord.request_id", ""))
    o.route = f"panel:{name}"
    permit(request, key, name, spec, allow)
    try:
        req = panels.request_for(spec, cfg.consensus, body)
    except InputError as e:
        raise BadRequest(str(e), param="messages") from None
    res = None
    if key is not None:
        amount = panels.worst_case(request.app.state.router, spec, cfg.consensus, body, allow)
        res = await auth.enforce(request, key, name, body, None, amount=amount, rate=not charged)
    try:
        engine = await engine_for(request, allow)
        engine.check(req)
    except InputError as e:
        await auth.budget_release(request, res)
        raise BadRequest(str(e), param="model") from None
    except BaseException:
        await auth.budget_release(request, res)
        raise
    return PanelCall(request, name, engine, req, key, body, res, o)


async def chat(request: Request, name: str, body: dict, key: KeyInfo | None, allow: Allow | None, *,
               started: float, charged: bool = False) -> Response:
    """POST /v1/chat/completions for panel `name`, whole or streamed."""
    call = await open_panel(request, name, body, key, allow, started=started, charged=charged)
    if body.get("stream"):
        async def over() -> None:  # however the stream ended: its tokens count, its reservation goes
            count_tokens(request, key, call)
            await call.close()

        return sse.ClosingStream(sse.events(call.chunks()), over, media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no",
                                          "x-accord-model": name})
    try:
        data = await unless_disconnected(request, call.complete())
    except ClientGone:
        return Response(status_code=499)  # nobody is listening; the panel's calls are cancelled
    finally:
        count_tokens(request, key, call)
        await call.close()
    thread = data["accord"]["thread_id"]
    return Response(orjson.dumps(data), media_type="application/json",
                    headers={"x-accord-model": name, **({"x-accord-thread": thread} if thread else {})})


def _raise_if_failed(name: str, result: Result, labels: list[str]) -> None:
    if result.status != "failed":
        return
    why = "; ".join(f"{lab}: {a.error}" for lab, a in zip(labels, result.answers, strict=False))
    raise UpstreamError(f"every model of panel `{name}` failed ({why})" +
                        (f"; thread {result.thread_id}" if result.thread_id else ""), retryable=False)


def progress_line(e: Event) -> str:
    """One line of thinking for a client to show while the panel works."""
    who = e.model or ""
    return {
        "start": f"{who} is thinking…\n", "done": f"{who} answered ({e.detail})\n",
        "failed": f"{who} failed: {e.detail}\n", "chair": f"{who} is writing the answer…\n",
        "review": f"{who} is reviewing the answers…\n", "round": f"{e.detail}…\n",
    }.get(e.kind, "")


HEARTBEAT = 15.0  # seconds without news after which the stream says who is still being waited for


async def _streamed(call: PanelCall) -> AsyncIterator[bytes]:
    """Chunks of a streamed panel answer; the run is cancelled if the client goes away."""
    req, name, labels = call.req, call.name, call.labels
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
    chair = panels.ChairText()
    sent: list[str] = []
    working: dict[str, float] = {}  # who is being waited for, since when
    t0 = time.monotonic()

    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> bytes:
        return orjson.dumps({"id": cid, "object": "chat.completion.chunk", "created": created, "model": name,
                             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})

    async def on_event(e: Event) -> None:
        if e.model is not None:
            if e.kind in ("start", "chair", "review"):
                working[e.model] = time.monotonic()
            else:
                working.pop(e.model, None)
        line = progress_line(e)
        if line and not sent:  # once the answer is being written, the thinking is over
            queue.put_nowait(chunk({"reasoning_content": line}))

    async def on_delta(who: str, text: str) -> None:
        if req.mode in panels.CHAIR_STREAMED and who.startswith("chair "):
            out = chair.feed(text)
            if out:
                sent.append(out)
                queue.put_nowait(chunk({"content": out}))

    async def work() -> None:
        try:
            result = await call.run(on_event, on_delta)
            _raise_if_failed(name, result, labels)
            final, already = panels.answer(result), "".join(sent)
            rest = final[len(already):] if final.startswith(already) else ("\n\n" if already else "") + final
            if rest:
                queue.put_nowait(chunk({"content": rest}))
            queue.put_nowait(chunk({}, "stop", accord=panels.extension(name, result, labels)))
            if (call.body.get("stream_options") or {}).get("include_usage"):
                queue.put_nowait(orjson.dumps({"id": cid, "object": "chat.completion.chunk", "created": created,
                                               "model": name, "choices": [], "usage": panels.usage(result)}))
            queue.put_nowait(None)
        except BaseException as e:
            queue.put_nowait(e)
            if isinstance(e, asyncio.CancelledError):
                raise

    task = asyncio.create_task(work())
    try:
        yield chunk({"role": "assistant", "content": ""})
        yield chunk({"reasoning_content": f"Asking the {name} panel ({req.mode}): {', '.join(labels)}\n"})
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except asyncio.TimeoutError:  # a quiet minute looks like a dead connection to clients and proxies
                if not sent and working:
                    yield chunk({"reasoning_content": f"still waiting for {', '.join(working)} "
                                                      f"({time.monotonic() - t0:.0f} s)\n"})
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                if isinstance(item, AccordError):
                    raise item
                if isinstance(item, InputError):
                    raise BadRequest(str(item))
                raise item
            yield item
    finally:
        if not task.done():  # the client went away: stop the panel and its upstream calls
            task.cancel()
            await asyncio.wait({task})
