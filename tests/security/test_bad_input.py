"""Bad bodies and bad tool calls: oversized, deeply nested, non-UTF-8, truncated, the wrong JSON type; MCP tool
calls with wrong types, huge prompts, paths outside the allowed roots and symlinks out of them. Each gets a
clear error in the documented shape, never a 5xx or a traceback, and the server serves the next request."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import httpx
import jsonschema
import pytest

from accord.config import parse
from accord.gateway.openapi import ERROR
from accord.mcp.server import build
from accord.mcp.state import State
from conftest import MASTER_KEY, basic_config
from mcp import Client
from panelkit import panel_config

AUTH = {"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


BODIES = {
    "not json": b"model=gpt-test&messages=hi",
    "truncated json": b'{"model": "gpt-test", "messages": [{"role": "user", "cont',
    "non-utf8": b'{"model": "gpt-\xff\xfe", "messages": [{"role": "user", "content": "\xc3\x28"}]}',
    "utf-16": '{"model": "gpt-test", "messages": []}'.encode("utf-16"),
    "json array": b"[1, 2, 3]",
    "json string": b'"hello"',
    "json null": b"null",
    "empty": b"",
    "nested 100k": nested(100_000).encode(),
    "nested in a field": f'{{"model": "gpt-test", "messages": [{{"role": "user", "content": "hi"}}], "metadata": {nested(600)}}}'.encode(),
    "nested content": f'{{"model": "gpt-test", "messages": [{{"role": "user", "content": {nested(600)}}}]}}'.encode(),
    "wrong types": b'{"model": 12, "messages": "hi"}',
    "messages of numbers": b'{"model": "gpt-test", "messages": [1, 2]}',
    "content object": b'{"model": "gpt-test", "messages": [{"role": "user", "content": {"a": 1}}]}',
    "huge number": b'{"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e999}',
    "lone surrogate": b'{"model": "gpt-test", "messages": [{"role": "user", "content": "\\ud800"}]}',
    "nul bytes": b'{"model": "gpt-\\u0000test", "messages": [{"role": "user", "content": "\\u0000"}]}',
}


@pytest.fixture
def gw(gateway_factory, upstream):
    return gateway_factory(basic_config(upstream.url, extra="").replace("settings:\n", "settings:\n  max_body_mb: 1\n"))


def _error_shaped(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code >= 400:
        jsonschema.validate(r.json(), ERROR)
        assert "Traceback" not in r.text


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/embeddings", "/key/generate", "/key/update"])
def test_malformed_bodies_get_a_clear_4xx(gw, route, caplog):
    seen = {}
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        for name, body in BODIES.items():
            r = c.post(route, content=body, headers=AUTH)
            _error_shaped(r)
            seen[name] = r.status_code
        # the server is fine afterwards
        ok = c.post("/v1/chat/completions", headers=AUTH,
                    json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
        assert ok.status_code == 200
    for name in ("not json", "truncated json", "non-utf8", "json array", "empty", "nested 100k"):
        assert seen[name] == 400, (name, seen)
    assert "internal error" not in caplog.text


def test_oversized_bodies_are_refused_with_413_with_or_without_a_length(gw):
    big = b'{"model": "gpt-test", "messages": [{"role": "user", "content": "' + b"x" * (2 * 2**20) + b'"}]}'
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = c.post("/v1/chat/completions", content=big, headers=AUTH)
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

        def chunks():
            for i in range(0, len(big), 65536):
                yield big[i:i + 65536]

        r = c.post("/v1/chat/completions", content=chunks(), headers=AUTH)  # chunked: no content-length
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    host, port = gw.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:  # a length no client could send
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + MASTER_KEY.encode()
                  + b"\r\nContent-Length: 99999999999999999999\r\n\r\n{}")
        s.settimeout(10)
        head = s.recv(65536).split(b"\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 4"), head


def test_a_body_cut_off_mid_way_leaves_no_error_and_the_server_serving(gw, caplog):
    host, port = gw.url.removeprefix("http://").split(":")
    for _ in range(5):
        with socket.create_connection((host, int(port))) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + MASTER_KEY.encode()
                      + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\": \"gpt")
        # closed with 990 bytes still owed
    r = httpx.post(f"{gw.url}/v1/chat/completions", headers=AUTH, timeout=30,
                   json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    assert "internal error" not in caplog.text and "Traceback" not in caplog.text


def test_garbage_headers_and_paths(gw):
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        for headers in ({"Authorization": "Bearer"}, {"Authorization": "Basic Zm9vOmJhcg=="},
                        {"Authorization": "Bearer " + "k" * 20000}, {"x-api-key": "sk-acc-"},
                        {"x-request-id": "r" * 5000}):
            _error_shaped(c.get("/v1/models", headers=headers))
        for path in ("/v1/models/" + "a" * 5000, "/v1/models/%00", "/v1/models/..%2F..%2Fetc%2Fpasswd",
                     "/key/info?key=" + "%ff" * 100, "/spend/logs?limit=-1", "/spend/logs?start_date=yesterday",
                     "/usage/summary?group_by=everything"):
            _error_shaped(c.get(path, headers=AUTH))


# ------------------------------------------------------------------------------------------------ MCP
async def _client(upstream, extra: str = ""):
    state = State.create(parse(panel_config(upstream.url, extra)))
    await state.start()
    return state


async def _call(client: Client, tool: str, args: dict) -> tuple[bool, str]:
    try:
        r = await client.call_tool(tool, args)
    except Exception as e:  # a protocol-level refusal is a clear error too, as long as it says what is wrong
        return True, str(e)
    return bool(r.is_error), r.content[0].text if r.content else ""


async def test_mcp_tool_calls_with_bad_input_are_clear_errors(upstream, tmp_path: Path):
    allowed = tmp_path / "project"
    allowed.mkdir()
    (allowed / "ok.py").write_text("print('hi')\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret\n")
    os.symlink(outside / "secret.txt", allowed / "link.txt")
    os.symlink(outside, allowed / "linkdir")
    (allowed / "bin.dat").write_bytes(b"\x00\x01\x02" * 100)
    state = await _client(upstream, f"  allowed_roots: [{allowed}]\n")
    cases = {
        "question of the wrong type": ("consensus", {"question": 123}, "question"),
        "models not a list": ("consensus", {"question": "q", "models": "deepseek"}, "models"),
        "temperature a word": ("chat", {"prompt": "hi", "temperature": "hot"}, "temperature"),
        "temperature out of range": ("chat", {"prompt": "hi", "temperature": 9}, "temperature"),
        "thinking unknown": ("chat", {"prompt": "hi", "thinking": "galaxy-brain"}, "thinking"),
        "empty prompt": ("chat", {"prompt": "   "}, "empty"),
        "unknown model": ("chat", {"prompt": "hi", "model": "no-such-model"}, "no-such-model"),
        "unknown thread": ("chat", {"prompt": "hi", "continuation_id": "nope"}, "thread"),
        "huge prompt": ("chat", {"prompt": "word " * 2_000_000, "model": "auto"}, "tokens"),
        "relative path": ("chat", {"prompt": "hi", "files": ["ok.py"]}, "absolute"),
        "outside the roots": ("chat", {"prompt": "hi", "files": [str(outside / "secret.txt")]}, "outside"),
        "system folder": ("chat", {"prompt": "hi", "files": ["/etc/passwd"]}, "system folder"),
        "dot-dot out": ("chat", {"prompt": "hi", "files": [f"{allowed}/../outside/secret.txt"]}, "outside"),
        "symlink out": ("chat", {"prompt": "hi", "files": [str(allowed / "link.txt")]}, "outside"),
        "symlinked folder out": ("consensus", {"question": "q", "files": [str(allowed / "linkdir")]}, "outside"),
        "missing file": ("chat", {"prompt": "hi", "files": [str(allowed / "nope.py")]}, "no such file"),
        "binary file": ("chat", {"prompt": "hi", "files": [str(allowed / "bin.dat")]}, "binary"),
        "image outside": ("chat", {"prompt": "hi", "images": [str(outside / "secret.txt")]}, "outside"),
    }
    results = {}
    try:
        async with Client(build(state)) as client:
            for name, (tool, args, says) in cases.items():
                is_error, text = await _call(client, tool, args)
                results[name] = (is_error, says.lower() in text.lower(), text[:200])
            # and a good call still works afterwards
            upstream.reply(content="fine")
            ok, text = await _call(client, "chat", {"prompt": "hi", "model": "gpt",
                                                    "files": [str(allowed / "ok.py")]})
    finally:
        await state.close()
    bad = {k: v for k, v in results.items() if not (v[0] and v[1])}
    assert bad == {}, json.dumps(bad, indent=1)
    assert not ok and "fine" in text
    assert all("top secret" not in v[2] for v in results.values())
    assert all("Traceback" not in v[2] for v in results.values())
