"""OpenTelemetry traces, read back with the SDK's in-memory exporter: a span per request with a child per
upstream attempt (GenAI semantic-convention attributes), and a consensus run as a tree of panelists, debate
rounds and the chair, each with its attempts under it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx2
import openai
import pytest
from mcp.client.streamable_http import streamable_http_client

from conftest import MASTER_KEY
from fakes import Reply
from faults import FaultServer
from mcp import Client
from panelkit import chair_json, kind
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(scope="module")
def exporter():
    """The process's tracer provider, exporting to memory, for this module only."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.util._once import Once

    from accord import tracing

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    yield memory
    provider.shutdown()
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # as opentelemetry's own test utilities reset it
    trace._TRACER_PROVIDER = None
    tracing.configure()  # off again: later tests in this process run untraced


@pytest.fixture
def spans(exporter):
    exporter.clear()
    return exporter


@pytest.fixture(scope="module")
def faults():
    server = FaultServer().start()
    yield server
    server.stop()


def children(all_spans, parent) -> list:
    return [s for s in all_spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def config(upstream_url: str, fault_url: str) -> str:
    return f"""
settings:
  master_key: {MASTER_KEY}
  num_retries: 1
  retry_backoff: 0.01
  fallbacks: {{flaky: [steady]}}
models:
  - {{name: flaky, model: openai/faulty, api_base: "{fault_url}", api_key: k1}}
  - {{name: steady, model: openai/gpt-4o, api_base: "{upstream_url}/v1", api_key: k2}}
  - {{name: tr-deepseek, model: deepseek/deepseek-chat, api_base: "{upstream_url}/v1", api_key: k3}}
  - {{name: tr-qwen, model: dashscope/qwen3-max, api_base: "{upstream_url}/v1", api_key: k4}}
consensus:
  panel: [tr-deepseek, tr-qwen]
  chair: tr-deepseek
  rounds: 1
"""


def test_request_span_parents_one_span_per_attempt(spans, upstream, faults, gateway_factory):
    gw = gateway_factory(config(upstream.url, faults.url("503")))
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0)
    r = client.chat.completions.create(model="flaky", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hello from the fake upstream."

    # the server ends the request's span once the response is sent, which may be just after the client read it
    done = wait_for(lambda: (d := spans.get_finished_spans()) and any(s.name == "POST /v1/chat/completions" for s in d)
                    and d, "the request's span to end")
    request = next(s for s in done if s.name == "POST /v1/chat/completions")
    assert request.attributes["http.response.status_code"] == 200
    attempts = children(done, request)
    assert [s.name for s in attempts] == ["chat faulty", "chat faulty", "chat gpt-4o"]
    failed, ok = attempts[0], attempts[2]
    assert failed.status.status_code.name == "ERROR" and failed.attributes["accord.deployment"] == "flaky"
    assert "gen_ai.usage.input_tokens" not in failed.attributes
    assert {k: ok.attributes[k] for k in ("gen_ai.operation.name", "gen_ai.system", "gen_ai.request.model",
                                          "gen_ai.response.model", "gen_ai.usage.input_tokens",
                                          "gen_ai.usage.output_tokens")} == {
        "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o", "gen_ai.usage.input_tokens": r.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": r.usage.completion_tokens}
    assert all(s.kind.name == "CLIENT" for s in attempts) and request.kind.name == "SERVER"


def test_a_streamed_attempt_ends_with_the_stream_and_its_usage(spans, upstream, faults, gateway_factory):
    gw = gateway_factory(config(upstream.url, faults.url("503")))
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0)
    chunks = list(client.chat.completions.create(model="steady", messages=[{"role": "user", "content": "hi"}],
                                                 stream=True, stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    # the server ends the request's span once the response is sent, which may be just after the client read it
    done = wait_for(lambda: (d := spans.get_finished_spans()) and any(s.name == "POST /v1/chat/completions" for s in d)
                    and d, "the request's span to end")
    request = next(s for s in done if s.name == "POST /v1/chat/completions")
    (attempt,) = children(done, request)
    assert attempt.attributes["gen_ai.response.model"] == "gpt-4o"
    assert attempt.attributes["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert attempt.end_time <= request.end_time


def panel_responder(rec: dict) -> Reply:
    if kind(rec) == "chair":
        return Reply(content=chair_json(["tr-deepseek", "tr-qwen"]))
    return Reply(content=f"{rec['json']['model']} agrees")


async def test_consensus_tree(spans, upstream, faults, gateway_factory):
    upstream.responder = panel_responder
    gw = gateway_factory(config(upstream.url, faults.url("503")))
    http = httpx2.AsyncClient(headers=ADMIN, timeout=httpx2.Timeout(30, read=300))
    async with http, Client(streamable_http_client(f"{gw.url}/mcp", http_client=http)) as client:
        r = await client.call_tool("consensus", {"question": "Ship on Friday?", "mode": "debate"})
        assert not r.is_error, r.content[0].text

    done = spans.get_finished_spans()
    run = next(s for s in done if s.name == "consensus debate")
    assert list(run.attributes["accord.consensus.panel"]) == ["tr-deepseek", "tr-qwen"]
    under = children(done, run)
    assert sorted(s.name for s in under) == ["consensus.chair", "consensus.panelist", "consensus.panelist",
                                             "consensus.round"]
    first = [s for s in under if s.name == "consensus.panelist"]
    assert sorted(s.attributes["accord.consensus.member"] for s in first) == ["tr-deepseek", "tr-qwen"]
    (rnd,) = [s for s in under if s.name == "consensus.round"]
    assert rnd.attributes["accord.consensus.round"] == 2
    assert sorted(s.attributes["accord.consensus.member"] for s in children(done, rnd)) == [
        "tr-deepseek r2", "tr-qwen r2"]
    (chair,) = [s for s in under if s.name == "consensus.chair"]
    for call in [*first, *children(done, rnd), chair]:
        (attempt,) = children(done, call)
        assert attempt.name == "chat " + attempt.attributes["gen_ai.request.model"]
        assert attempt.attributes["gen_ai.usage.output_tokens"] > 0
    assert {a.attributes["gen_ai.request.model"] for a in children(done, chair)} == {"deepseek-chat"}
    assert {a.attributes["gen_ai.system"] for c in first for a in children(done, c)} == {"deepseek", "dashscope"}


def test_no_tracing_without_the_extra_or_the_variables(tmp_path):
    """Without OTEL_* nothing is traced; without the package, the hooks hand back what they were given."""
    code = """
import sys
sys.modules["opentelemetry"] = None  # as if the extra were not installed
from accord import tracing
assert not tracing.configure() and not tracing.on()
async def f(): return 1
c = f()
assert tracing.within("x", {}, c) is c and tracing.consensus(None, c) is c
c.close()
app = object()
assert tracing.asgi(app) is app
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
    assert out.stdout.strip() == "ok", out.stderr
    installed = subprocess.run([sys.executable, "-c", "from accord import tracing; print(tracing.configure())"],
                               capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert installed.stdout.strip() == "False", installed.stderr


def test_otel_variables_configure_an_exporter(tmp_path):
    code = "from accord import tracing; print(tracing.configure())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "console",
                              "OTEL_SERVICE_NAME": "accord-test"})
    assert out.stdout.strip() == "True", out.stderr


def test_cli_consensus_exports_over_otlp(upstream, tmp_path):
    """`accord consensus`, configured by OTEL_* alone, sends its spans to an OTLP/HTTP collector before it
    exits; its --json output is untouched."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from fakes import ServerThread
    from panelkit import panel_config, responder

    received: list[bytes] = []

    async def traces(request: Request) -> Response:
        received.append(await request.body())
        return Response(b"", media_type="application/x-protobuf")

    collector = ServerThread(Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])).start()
    try:
        upstream.responder = responder(lambda m, r: Reply(content=f"{m}: yes"),
                                       chair=Reply(content=chair_json(["deepseek", "kimi"])))
        cfg = tmp_path / "accord.yaml"
        cfg.write_text(panel_config(upstream.url))
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
               "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "accord-cli-test"}
        accord = str(Path(sys.executable).parent / "accord")
        r = subprocess.run([accord, "consensus", "-c", str(cfg), "--json", "Ship on Friday?"], capture_output=True,
                           text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["status"] == "done"
    finally:
        collector.stop()
    assert received, "no spans reached the collector"
    names, services = [], set()
    for body in received:
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            services |= {a.value.string_value for a in rs.resource.attributes if a.key == "service.name"}
            names += [s.name for ss in rs.scope_spans for s in ss.spans]
    assert services == {"accord-cli-test"}
    assert names.count("consensus.panelist") == 3 and "consensus synthesize" in names and "consensus.chair" in names
    assert sum(n.startswith("chat ") for n in names) == 4  # one attempt per call
