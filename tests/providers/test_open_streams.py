"""Many open streams on one worker (issue 21, scenario 4): each holds two sockets in the gateway, one to the
client and one upstream, so a burst can run the process out of file descriptors. A stream whose upstream
connection cannot be opened for that reason waits for one to free up; it never fails as an unreachable
upstream (a 502 that would also cool a healthy deployment down)."""

from __future__ import annotations

import asyncio
import os
import resource
import sys

import httpx
import openai
import pytest
from test_serve import Served

from fakes import Reply, free_port

STREAMS = 60
TEXT = "0123456789abcdef" * 3  # six chunks of eight characters


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sets another process's fd limit (prlimit)")
def test_a_burst_beyond_the_fd_limit_waits_instead_of_failing(upstream, tmp_path):
    # the first answers wait until most of the room upstream is taken, so the rest meet a full process
    upstream.default = Reply(content=TEXT, hold=lambda: len(upstream.requests) >= STREAMS // 2 - 5,
                             chunk_delay=0.1)  # wait-ok: streams that stay open a while
    port = free_port()
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(f"""
settings: {{master_key: sk-fd-test, port: {port}, data_dir: {tmp_path / 'data'}, request_timeout: 60, num_retries: 0}}
models:
  - name: long
    model: openai/long
    api_base: {upstream.url}/v1
    api_key: k
mcp: {{http: false}}
""")
    served = Served("--config", str(cfg)).wait_ready(port)
    try:
        texts = asyncio.run(_burst(f"http://127.0.0.1:{port}/v1", served.proc.pid))
    finally:
        out = served.stop()
    assert texts == [TEXT] * STREAMS, out[-2000:]
    assert "could not be reached" not in out
    assert len(upstream.requests) == STREAMS


async def _burst(base_url: str, pid: int) -> list[str | BaseException]:
    """Open the client connections first (as a burst of clients does, 256 at a time in the benchmark), then
    leave the gateway room for only half as many upstream connections, then stream on all of them at once."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-fd-test", max_retries=0, http_client=http)
        await asyncio.gather(*(client.models.list() for _ in range(STREAMS)))  # no upstream call: one connection each
        hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{pid}/fd")) + STREAMS // 2, hard))

        async def one() -> str:
            stream = await client.chat.completions.create(model="long", stream=True,
                                                          messages=[{"role": "user", "content": "x"}])
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        return await asyncio.gather(*(one() for _ in range(STREAMS)), return_exceptions=True)
