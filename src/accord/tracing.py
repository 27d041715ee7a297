"""OpenTelemetry traces, when the optional extra is installed (`pip install 'accord[otel]'`).

A span per HTTP request; under it a client span per upstream attempt, named and tagged after the GenAI
semantic conventions (gen_ai.operation.name, gen_ai.system, gen_ai.request.model, gen_ai.response.model,
gen_ai.usage.input_tokens / output_tokens); a consensus run is a span with a child per panelist call, the chair,
each review and each debate round, and the attempts of each call under it.

Configured by the standard variables: OTEL_TRACES_EXPORTER (otlp, console, none), OTEL_EXPORTER_OTLP_ENDPOINT /
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_TRACES_SAMPLER, OTEL_SDK_DISABLED. A tracer provider someone else installed first (`opentelemetry-instrument
accord serve`, a test's in-memory exporter) is used as it is.

No cost when off: the import is tried once, and every hook returns at once (the coroutine wrappers hand back
the coroutine itself) while `_tracer` is None: not installed, or installed but not configured.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .config import Deployment
    from .providers.base import Call

log = logging.getLogger("accord.tracing")
T = TypeVar("T")

try:  # the optional extra
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - exercised where the extra is not installed
    _trace = None  # type: ignore[assignment]

_tracer: Any = None
_configured_here = False


def configure() -> bool:
    """Find or set up the tracer provider; whether spans are recorded from now on."""
    global _tracer, _configured_here
    if _trace is None or os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        _tracer = None
        return False
    provider = _trace.get_tracer_provider()
    if not _is_real(provider) and not _configured_here:
        provider = _from_env()
        if provider is None:
            _tracer = None
            return False
        _trace.set_tracer_provider(provider)
        _configured_here = True
        provider = _trace.get_tracer_provider()
    from . import __version__

    _tracer = provider.get_tracer("accord", __version__)
    return True


def on() -> bool:
    return _tracer is not None


def _is_real(provider: Any) -> bool:
    """Whether a provider was installed (the API's default is a proxy, or a no-op one)."""
    name = type(provider).__name__
    return name not in ("ProxyTracerProvider", "NoOpTracerProvider")


def _from_env() -> Any:
    """An SDK provider exporting where OTEL_* says, or None when nothing says where spans should go."""
    env = os.environ
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if exporter == "none" or (not exporter and not endpoint):
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        log.warning("tracing: OTEL_* is set but opentelemetry-sdk is not installed: pip install 'accord[otel]'")
        return None
    resource = Resource.create({} if env.get("OTEL_SERVICE_NAME") else {"service.name": "accord"})
    provider = TracerProvider(resource=resource)
    for name in [e.strip() for e in (exporter or "otlp").split(",") if e.strip()]:
        if name == "console":
            # stderr: stdout carries `accord mcp`'s protocol and `--json` output
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        elif name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
        else:
            log.warning("tracing: OTEL_TRACES_EXPORTER `%s` is not supported here (otlp, console, none)", name)
    return provider


def _otlp_exporter() -> Any:
    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf").strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


# ------------------------------------------------------------------------------------------------ the hooks
def asgi(app: Any) -> Any:
    """The app, with a server span around each HTTP request when tracing is on (else the app itself)."""
    if _tracer is None:
        return app

    async def traced(scope: dict, receive: Any, send: Any) -> None:
        status = 0

        async def send_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method, path = scope["method"], scope["path"]
        with _tracer.start_as_current_span(f"{method} {path}", kind=_trace.SpanKind.SERVER, attributes={
                "http.request.method": method, "url.path": path,
                "accord.request_id": scope.get("accord.request_id", "")}) as span:
            try:
                await app(scope, receive, send_status)
            finally:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(_trace.Status(_trace.StatusCode.ERROR))

    return traced


def attempts(attempt: Callable[[Deployment, Call], Awaitable[T]]) -> Callable[[Deployment, Call], Awaitable[T]]:
    """The router's attempt function, with a client span per attempt when tracing is on (else itself). A
    streamed attempt's span stays open until the stream ends (`finished`), when its usage is known."""
    if _tracer is None:
        return attempt

    async def traced(dep: Deployment, call: Call) -> T:
        op = "embeddings" if dep.info.mode == "embedding" else "chat"
        span = _tracer.start_span(f"{op} {dep.model}", kind=_trace.SpanKind.CLIENT, attributes={
            "gen_ai.operation.name": op, "gen_ai.system": dep.vendor.name, "gen_ai.request.model": dep.model,
            "accord.model": dep.name, "accord.deployment": dep.id})
        call.span = span
        try:
            with _trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                result = await attempt(dep, call)
        except BaseException as e:
            span.set_attribute("error.type", getattr(e, "type", None) or e.__class__.__name__)
            span.set_status(_trace.Status(_trace.StatusCode.ERROR, str(getattr(e, "message", "")) or None))
            _end(call)
            raise
        if isinstance(result, dict):
            if isinstance(result.get("model"), str):
                span.set_attribute("gen_ai.response.model", result["model"])
            _end(call)
        return result

    return traced


def first_chunk(call: Call, chunk: bytes) -> None:
    """A streamed attempt's first chunk: the model that answers is named in it."""
    span = call.span
    if span is not None:
        try:
            import orjson

            model = orjson.loads(chunk).get("model")
        except Exception:
            return
        if isinstance(model, str) and model:
            span.set_attribute("gen_ai.response.model", model)


def finished(call: Call) -> None:
    """A call is over (the router's `_finished`): a streamed attempt's span ends, with its usage."""
    if call.span is not None:
        _end(call)


def _end(call: Call) -> None:
    span, call.span = call.span, None
    if span is None:
        return
    u = call.usage
    if u is not None:
        span.set_attribute("gen_ai.usage.input_tokens", u.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", u.completion_tokens)
        if u.cached_tokens:
            span.set_attribute("gen_ai.usage.cache_read.input_tokens", u.cached_tokens)
    if call.finish_reason:
        span.set_attribute("gen_ai.response.finish_reasons", [call.finish_reason])
    span.end()


def within(name: str, attributes: dict[str, Any], coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """`coro`, run inside a span `name` (the parent of every span it starts); `coro` itself when off."""
    if _tracer is None:
        return coro

    async def run() -> T:
        with _tracer.start_as_current_span(name, attributes=attributes):
            return await coro

    return run()


def consensus(req: Any, coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """A consensus run: its span parents every panelist, review, round and chair span."""
    if _tracer is None:
        return coro

    async def run() -> T:
        with _tracer.start_as_current_span(f"consensus {req.mode}", attributes={
                "accord.consensus.mode": req.mode, "accord.consensus.panel": [m.label for m in req.panel]}) as span:
            result = await coro
            answered = sum(1 for a in getattr(result, "answers", ()) if a.ok)
            span.set_attribute("accord.consensus.answered", answered)
            if (agreement := getattr(result, "agreement", None)) is not None:
                span.set_attribute("accord.consensus.agreement", agreement)
            return result

    return run()


ROLES = {"start": "panelist", "chair": "chair", "review": "review"}


def member(event: str, label: str, model: str, coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """One call of a consensus run (a panelist's answer, a review, the chair's synthesis)."""
    if _tracer is None:
        return coro
    role = ROLES.get(event, event)
    return within(f"consensus.{role}", {"accord.consensus.role": role, "accord.consensus.member": label,
                                        "gen_ai.request.model": model}, coro)


def debate_round(n: int, coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    if _tracer is None:
        return coro
    return within("consensus.round", {"accord.consensus.round": n}, coro)
