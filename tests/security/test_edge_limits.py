"""Hostile sizes and bytes at the edge: a model name of a megabyte is a 400 before anything is stored; a header
block over 64 KB is a 431, and `accord serve` answers it before the header even ends (so a 100 MB header is
never held in memory); a path with `%0a` cannot forge a line of the text log."""

from __future__ import annotations

import socket

import httpx
from test_reload import MASTER, Server, write

from conftest import MASTER_KEY
from fakes import free_port
from waiting import DEADLINE, wait_for

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
MSG = [{"role": "user", "content": "hi"}]


def _error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    return err["message"]


def test_model_names_over_256_characters_are_a_400_and_never_stored(gateway):
    url, long = gateway.url, "m" * 257
    for r in (httpx.post(f"{url}/v1/chat/completions", json={"model": long, "messages": MSG}, headers=AUTH),
              httpx.post(f"{url}/chat/completions", json={"model": "x" * 1_000_000, "messages": MSG}, headers=AUTH),
              httpx.post(f"{url}/v1/embeddings", json={"model": long, "input": "x"}, headers=AUTH),
              httpx.get(f"{url}/v1/models/{long}", headers=AUTH),
              httpx.post(f"{url}/key/generate", json={"models": ["gpt-test", long]}, headers=AUTH)):
        msg = _error(r, 400, "model_name_too_long")
        assert "at most 256" in msg and "GET /v1/models" in msg
    # 256 is still a name: an unknown one, recorded like any other failed request
    edge = "n" * 256
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": edge, "messages": MSG}, headers=AUTH)
    assert r.status_code == 404

    def rows() -> list[dict]:
        got = httpx.get(f"{url}/spend/logs", headers=AUTH).json()
        return got if any(row["model"] == edge for row in got) else []

    stored = wait_for(rows, "the 256-character request's usage row")
    assert max(len(row["model"]) for row in stored) == 256
    assert httpx.get(f"{url}/key/list", headers=AUTH).json()["total_count"] == 0


def test_a_header_block_over_64_kb_is_a_431(gateway):
    ok = httpx.get(f"{gateway.url}/health/liveliness", headers={"x-fill": "a" * 60_000})
    assert ok.status_code == 200
    for headers in ({"x-big": "a" * 1_000_000}, {f"x-h{i}": "b" * 1000 for i in range(70)}):
        r = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "gpt-test", "messages": MSG},
                       headers={**AUTH, **headers})
        msg = _error(r, 431, "headers_too_large")
        assert "65536" in msg


def _serve(tmp_path, upstream, *args: str) -> Server:
    (tmp_path / "port").write_text(str(free_port()))
    cfg = tmp_path / "accord.yaml"
    write(cfg, upstream.url, "alpha")
    return Server(cfg, *args)


def test_serve_answers_431_while_a_huge_header_is_still_arriving(tmp_path, upstream):
    server = _serve(tmp_path, upstream)
    try:
        # a large body is no large head: served
        r = httpx.post(f"{server.url}/v1/chat/completions", headers={"Authorization": f"Bearer {MASTER}"},
                       json={"model": "alpha", "messages": [{"role": "user", "content": "x" * 1_000_000}]})
        assert r.status_code == 200, r.text
        with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as s:
            # 2 MB of one header that never ends: answered once the limit is passed, without waiting for the rest
            s.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
            sent = 0
            try:
                while sent < 2_000_000:
                    s.sendall(b"a" * 65536)
                    sent += 65536
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = s.recv(65536)
                assert chunk, f"connection closed without an answer: {answer!r}"
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        # the server goes on serving
        assert httpx.get(f"{server.url}/health/liveliness").status_code == 200
    finally:
        server.stop()


def test_text_logs_escape_control_characters_so_no_line_can_be_forged(tmp_path, upstream):
    server = _serve(tmp_path, upstream)  # text is the default format
    forged = "2026-01-01 00:00:00,000 INFO accord.access [forged] POST /key/generate 200 1.0 ms"
    try:
        r = httpx.get(f"{server.url}/v1/models%0a{forged.replace(' ', '%20')}%0d%1b%5B2J",
                      headers={"Authorization": f"Bearer {MASTER}", "x-request-id": "id\tone"})
        assert r.status_code == 404
    finally:
        out = server.stop()
    lines = out.splitlines()
    assert not any(line.startswith("2026-01-01") for line in lines), out
    access = [line for line in lines if "GET /v1/models" in line]
    assert len(access) == 1 and "[id\\tone]" in access[0], access
    assert "/v1/models\\n2026-01-01 00:00:00,000 INFO accord.access [forged]" in access[0], access
    assert "\\r\\x1b[2J 404" in access[0], access
    assert "\x1b" not in out and "\t" not in out
