"""What every scenario shares: the gateways under test (how each is asked for a model), request bodies, the
upstream models the fake scripts by name, and the machine's load beside each table."""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

from .. import targets
from ..loadgen import request_bytes
from ..procs import Server, free_port

HOST = "127.0.0.1"
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
TOOL = {"type": "function", "function": {"name": "grep", "description": "Search the repository.",
                                         "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                                                        "required": ["q"]}}}
ANTHROPIC_TOOL = {"name": "grep", "description": "Search the repository.",
                  "input_schema": TOOL["function"]["parameters"]}  # type: ignore[index]


@dataclass(frozen=True)
class Sizes:
    """Every knob whose full value takes minutes; `quick()` takes seconds."""

    contexts: tuple[int, ...] = (1_000, 10_000, 100_000)  # tokens per request (scenario 1)
    latency_s: float = 5.0  # seconds of back-to-back requests per latency figure
    tool_chunks: int = 20  # argument deltas per streamed tool call (scenario 2)
    tool_pace_ms: float = 10.0
    stream_runs: int = 30
    hol_tokens: int = 100_000  # the four background requests' context (scenario 3)
    hol_s: float = 10.0  # seconds of small requests per phase of scenario 3 (alone, beside each background)
    hol_streams: int = 4
    big_event_mb: float = 20.0
    open_streams: int = 10_000  # scenario 4
    open_chunks: int = 12
    open_pace_ms: float = 2_500.0
    keys: int = 10_000  # scenario 5
    frontier_workers: tuple[int, ...] = (1, 2, 4)  # scenario 7
    frontier_c: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    frontier_s: float = 4.0
    frontier_warm_s: float = 4.0  # warm-up at c = 8 before each ladder: every worker up, its pools filled

    @classmethod
    def quick(cls) -> Sizes:
        # scenario 7 quick: two workers only (one worker is what every other scenario runs on)
        return cls(contexts=(1_000, 10_000), latency_s=0.5, tool_chunks=5, tool_pace_ms=10.0, stream_runs=3,
                   hol_tokens=10_000, hol_s=0.5, hol_streams=4, big_event_mb=2.0, open_streams=200, open_chunks=3,
                   open_pace_ms=300.0, keys=100, frontier_workers=(2,), frontier_c=(1, 16), frontier_s=0.3,
                   frontier_warm_s=0.3)


def upstream_models(z: Sizes) -> dict[str, str]:
    """Client-facing model name -> the fake upstream's scripted model (see bench/fake_upstream.py)."""
    return {"m": "gpt-4o-mini", "tools": f"tools-{z.tool_chunks}x{z.tool_pace_ms:g}", "lock": f"lockstep-{z.tool_chunks}",
            "hol": "sse-50x10", "big": f"bigevent-{z.big_event_mb:g}",
            "long": f"sse-{z.open_chunks}x{z.open_pace_ms:g}", "fo": "gpt-4o-mini"}


FAIL_PATH = "/fail500"  # the fake answers 500 under it: the first deployment of model `fo`


CHARS_PER_TOKEN = 4.6  # English prose and code, as cl100k/o200k-style tokenizers count it


def tokens_text(n: int) -> str:
    """About `n` tokens of prose-like text: n x 4.6 characters (100k tokens: a ~460 KB body)."""
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "agents", "read", "ten", "thousand", "lines", "of", "code", "and", "write", "patches"]
    size = int(n * CHARS_PER_TOKEN)
    out, length, i = [], 0, 0
    while length < size:
        w = words[i % len(words)] + str(i % 97)
        out.append(w)
        length += len(w) + 1
        i += 1
    return " ".join(out)[:size]


def chat_body(model: str, tokens: int = 8, stream: bool = False, tools: bool = False) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": tokens_text(tokens)}]}
    if stream:
        body["stream"] = True
    if tools:
        body["tools"] = [TOOL]
    return orjson.dumps(body)


def messages_body(model: str, stream: bool = True, tools: bool = True) -> bytes:
    body: dict[str, Any] = {"model": model, "max_tokens": 256, "stream": stream,
                            "messages": [{"role": "user", "content": "Find the callers of load()."}]}
    if tools:
        body["tools"] = [ANTHROPIC_TOOL]
    return orjson.dumps(body)


@dataclass
class Gateway:
    """One target as a client sees it: a port, headers for every request, and the name to ask for a model."""

    name: str
    port: int
    headers: dict[str, str] = field(default_factory=dict)
    upstream_names: bool = False  # asked for the fake's scripted model name itself (direct, Portkey)
    models: dict[str, str] = field(default_factory=dict)
    model_headers: dict[str, dict[str, str]] = field(default_factory=dict)  # per client model (Portkey's configs)
    server: Server | None = None
    key: str | None = targets.MASTER_KEY

    def model(self, name: str) -> str:
        return self.models[name] if self.upstream_names else name

    def hdrs(self, name: str) -> dict[str, str]:
        return {**self.headers, **self.model_headers.get(name, {})}

    def request(self, path: str, model: str, body: bytes, key: str | None = None) -> bytes:
        """Raw HTTP bytes of one POST (body already names `self.model(model)`)."""
        return request_bytes(HOST, self.port, path, body, key or self.key, self.hdrs(model))

    def rss_mb(self) -> float | None:
        return self.server.rss_mb() if self.server is not None and self.server.proc is not None else None


# -------------------------------------------------------------------------------- configs of each gateway
def accord_config(url: str, models: dict[str, str], port: int, workers: int, data: Path,
                  database_url: str | None = None) -> str:
    lines = ["models:"]
    for name, up in models.items():
        if name == "fo":  # first deployment fails with 500, the second serves (order: tried first to last)
            lines += [f"  - name: fo\n    model: openai/{up}\n    api_base: {url}{FAIL_PATH}/v1\n    api_key: x\n"
                      "    order: 1",
                      f"  - name: fo\n    model: openai/{up}\n    api_base: {url}/v1\n    api_key: x\n    order: 2"]
            continue
        lines.append(f"  - name: {name}\n    model: openai/{up}\n    api_base: {url}/v1\n    api_key: x")
    db = f"  database_url: {database_url}\n" if database_url else ""
    # cooldown off: every failover request meets the failing deployment first (the path being measured)
    return "\n".join(lines) + f"""
settings:
  master_key: {targets.MASTER_KEY}
  port: {port}
  workers: {workers}
  log_level: warning
  cooldown_time: 0
  data_dir: {data}
{db}mcp:
  http: false
"""


def litellm_config(url: str, models: dict[str, str]) -> str:
    lines = ["model_list:"]
    for name, up in models.items():
        bases = [(f"{url}{FAIL_PATH}/v1", 1), (f"{url}/v1", 2)] if name == "fo" else [(f"{url}/v1", None)]
        for base, order in bases:
            lines.append(f"  - model_name: {name}\n    litellm_params:\n      model: openai/{up}\n"
                         f"      api_base: {base}\n      api_key: x" + (f"\n      order: {order}" if order else ""))
    return "\n".join(lines) + f"""
router_settings:
  num_retries: 2
  disable_cooldowns: true
general_settings:
  master_key: {targets.MASTER_KEY}
"""


def portkey_headers(url: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Portkey is routed per request: provider and host in headers; failover as a fallback config."""
    base = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"{url}/v1"}
    cfg = {"strategy": {"mode": "fallback"}, "targets": [
        {"provider": "openai", "api_key": "x", "custom_host": f"{url}{FAIL_PATH}/v1"},
        {"provider": "openai", "api_key": "x", "custom_host": f"{url}/v1"}]}
    return base, {"fo": {"x-portkey-config": json.dumps(cfg, separators=(",", ":"))}}


def start_gateway(name: str, work: Path, url: str, fake: Server, models: dict[str, str], workers: int = 1,
                  database_url: str | None = None, tag: str = "") -> Gateway:
    """Start one target (direct: the fake itself) and return how to address it; `stop_gateway` ends it."""
    tag = tag or name
    if name == "direct":
        return Gateway("direct", fake.port, upstream_names=True, models=models, server=fake)
    if name == "accord":
        port = free_port()
        cfg = work / f"{tag}.yaml"
        cfg.write_text(accord_config(url, models, port, workers, work / f"{tag}-data", database_url))
        srv = Server(tag, [*targets.accord_executable(), "serve", "-c", str(cfg)], port, work / f"{tag}.log")
    elif name == "litellm":
        port = free_port()
        cfg = work / f"{tag}.yaml"
        cfg.write_text(litellm_config(url, models))
        srv = Server(tag, [str(targets.litellm_bin()), "--config", str(cfg), "--host", HOST, "--port", str(port),
                           "--num_workers", str(workers)], port, work / f"{tag}.log",
                     # its /v1/messages for an OpenAI model then calls the upstream's chat completions (as Accord
                     # does), not the Responses API the fake does not serve
                     env={"LITELLM_LOCAL_MODEL_COST_MAP": "True",
                          "LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES": "True"})
    elif name == "portkey":
        srv = targets.portkey(work)
    else:
        raise ValueError(f"unknown target {name!r}")
    srv.start()
    if name == "portkey":
        base, per_model = portkey_headers(url)
        return Gateway(name, srv.port, {**base}, upstream_names=True, models=models, model_headers=per_model,
                       server=srv, key="x")
    return Gateway(name, srv.port, server=srv)


def stop_gateway(gw: Gateway) -> None:
    if gw.name != "direct" and gw.server is not None:
        gw.server.stop()


@contextmanager
def gateway(name: str, work: Path, url: str, fake: Server, models: dict[str, str], **kw: Any) -> Iterator[Gateway]:
    gw = start_gateway(name, work, url, fake, models, **kw)
    try:
        yield gw
    finally:
        stop_gateway(gw)


# ------------------------------------------------------------------------------------------- machine load
class Load:
    """The machine's load beside a table: the 1-minute load average at start and end, and the share of the
    machine's CPU time used by processes outside this run (the cores are shared with other people's work).
    This run = this process, its children (servers, their workers, wrk, streamer processes) alive at either
    end, and those it waited for."""

    def __init__(self) -> None:
        self.start = os.getloadavg()[0]
        self.t0 = time.perf_counter()
        self.busy0 = self._busy()
        self.mine0 = self._mine()

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return t.user + t.nice + t.system

    @staticmethod
    def _mine() -> dict[int, float]:
        me = psutil.Process()
        t = me.cpu_times()
        out = {0: t.user + t.system + t.children_user + t.children_system}
        for p in me.children(recursive=True):
            try:
                c = p.cpu_times()
                out[p.pid] = c.user + c.system
            except psutil.Error:
                continue
        return out

    def done(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        mine1 = self._mine()
        mine = sum(v - self.mine0.get(pid, 0.0) for pid, v in mine1.items())
        # a child gone since the start was waited for: row 0 now holds its whole life, of which the part before
        # the start is not this table's
        mine -= sum(v for pid, v in self.mine0.items() if pid and pid not in mine1)
        other = max(0.0, (self._busy() - self.busy0) - mine) / (wall * (os.cpu_count() or 1))
        return {"loadavg_start": round(self.start, 2), "loadavg_end": round(os.getloadavg()[0], 2),
                "other_cpu_share": round(min(other, 1.0), 3), "seconds": round(wall, 1)}


def raise_fd_limit(want: int = 65_536) -> int:
    """Raise RLIMIT_NOFILE for this process and the servers it starts (they inherit it): 10,000 streams are
    20,000+ descriptors in a proxy (client side and upstream side). Root may raise the hard limit too."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in (max(want, hard), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, target), target))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def agent_messages(size: int = 460_000) -> list[dict]:
    """A coding agent's history of about `size` bytes: code with quotes, escapes and non-ASCII, tool calls, results."""
    code = 'def f(x):\n    return {"a": [x, "b\\n"], \'c\': 1}\n\t# comment \u00e9\n'
    msgs: list[dict] = [{"role": "system", "content": "You are a coding agent. " * 50}]
    while len(orjson.dumps(msgs)) < size:
        msgs.append({"role": "user", "content": "please fix " + code * 5})
        msgs.append({"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "edit", "arguments": orjson.dumps({"path": "a.py", "content": code * 3}).decode()}}]})
        msgs.append({"role": "tool", "tool_call_id": "c1", "content": code * 10})
    return msgs


def as_anthropic(messages: list[dict]) -> tuple[str, list[dict]]:
    """An OpenAI-shaped history (agent_messages) as Claude Code sends it to POST /v1/messages: the system prompt
    apart, tool calls as `tool_use` blocks, tool results as `tool_result` blocks in the user turn that follows."""
    system = ""
    out: list[dict] = []
    for m in messages:
        if m["role"] == "system":
            system = m["content"]
        elif m["role"] == "assistant":
            out.append({"role": "assistant", "content": [
                {"type": "tool_use", "id": f"toolu_{len(out)}", "name": c["function"]["name"],
                 "input": orjson.loads(c["function"]["arguments"])} for c in m.get("tool_calls") or []]
                or m["content"]})
        else:
            block = ({"type": "tool_result", "tool_use_id": f"toolu_{len(out) - 1}", "content": m["content"]}
                     if m["role"] == "tool" else {"type": "text", "text": m["content"]})
            if out and out[-1]["role"] == "user":
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
    return system, out
