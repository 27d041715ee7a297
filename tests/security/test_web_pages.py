"""A web page in the user's browser, or another local user, against a zero-config (no master key, loopback)
Accord: DNS rebinding is refused by the Host check (421), blind cross-site forms and text/plain posts by the
JSON-only rule (415), and the admin API and HTTP /mcp are off until a master key is set (403, saying how)."""

from __future__ import annotations

import re

import httpx
import orjson
import pytest
from test_auth_routes import api_routes

from conftest import MASTER_KEY, basic_config

MSG = [{"role": "user", "content": "hi"}]
CHAT = {"model": "gpt-test", "messages": MSG}
MCP_INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture
def open_gw(upstream, gateway_factory):
    """Zero-config style: no master key, loopback only."""
    return gateway_factory(basic_config(upstream.url, master_key=None))


def _error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    return err["message"]


def test_a_foreign_host_gets_421_on_the_attacked_routes_and_every_other(open_gw, gateway):
    evil = {"Host": "evil.example"}
    attacked = [
        httpx.post(f"{open_gw.url}/v1/chat/completions", json=CHAT, headers=evil),
        httpx.post(f"{open_gw.url}/key/generate", json={"key_alias": "stolen"}, headers=evil),
        httpx.get(f"{open_gw.url}/key/list", headers=evil),
        httpx.post(f"{open_gw.url}/mcp", json=MCP_INIT, headers={**evil, **MCP_ACCEPT}),
        # the master key does not make a foreign Host acceptable either
        httpx.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers={**evil, **AUTH}),
        httpx.post(f"{gateway.url}/mcp", json=MCP_INIT, headers={**evil, **AUTH, **MCP_ACCEPT}),
    ]
    for r in attacked:
        msg = _error(r, 421, "host_not_allowed")
        assert "settings.allowed_hosts" in msg and "`evil.example`" in msg
    # every route the app has, the dashboard's too
    with httpx.Client(headers={"Host": "evil.example:4000"}) as c:
        for method, path in [*api_routes(open_gw.app), ("GET", "/ui/"), ("POST", "/ui/login")]:
            r = c.request(method, f"{open_gw.url}{path}", json={} if method == "POST" else None)
            assert r.status_code == 421, (method, path, r.status_code)


def test_loopback_hosts_any_port_and_ipv6_are_served_lookalikes_are_not(open_gw, gateway):
    for host in ("127.0.0.1", "127.0.0.1:4000", "localhost", "localhost:80", "LocalHost.:8080", "127.8.9.10:1",
                 "[::1]", "[::1]:4000", "[0:0:0:0:0:0:0:1]:4000"):
        r = httpx.post(f"{open_gw.url}/v1/chat/completions", json=CHAT, headers={"Host": host})
        assert r.status_code == 200, (host, r.text)
        r = httpx.post(f"{gateway.url}/mcp", json=MCP_INIT, headers={"Host": host, **AUTH, **MCP_ACCEPT})
        assert r.status_code == 200, (host, r.text)
    for host in ("localhost.evil.example", "127.0.0.1.evil.example", "evil.example:127.0.0.1", "[::2]:4000",
                 "::1", "128.0.0.1", "0.0.0.0:4000", "[::1]x", "", "localhost:port"):
        r = httpx.post(f"{open_gw.url}/v1/chat/completions", json=CHAT, headers={"Host": host})
        assert r.status_code == 421, (host, r.text)


def test_allowed_hosts_entries_are_served(upstream, gateway_factory):
    gw = gateway_factory(basic_config(upstream.url, extra="").replace(
        "  num_retries: 0\n", "  num_retries: 0\n  allowed_hosts: [accord.example.com, '*.corp.example', 10.1.2.3]\n"))
    for host in ("accord.example.com", "Accord.Example.COM:8443", "a.corp.example", "x.y.corp.example:4000",
                 "10.1.2.3:4000", "localhost:4000"):
        r = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers={"Host": host, **AUTH})
        assert r.status_code == 200, (host, r.text)
    r = httpx.post(f"{gw.url}/mcp", json=MCP_INIT, headers={"Host": "accord.example.com", **AUTH, **MCP_ACCEPT})
    assert r.status_code == 200, r.text
    for host in ("corp.example", "accord.example.com.evil.example", "evilcorp.example", "10.1.2.4"):
        r = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers={"Host": host, **AUTH})
        assert r.status_code == 421, (host, r.text)


def test_a_bad_allowed_hosts_entry_is_a_config_error_saying_what_to_write(upstream):
    from accord.config import parse
    from accord.errors import ConfigError

    text = basic_config(upstream.url).replace("  num_retries: 0\n",
                                              "  num_retries: 0\n  allowed_hosts: ['https://accord.example.com/']\n")
    with pytest.raises(ConfigError, match=r"allowed_hosts entry .* e\.g\. accord\.example\.com") as e:
        parse(text, "accord.yaml")
    assert e.value.line is not None


def test_forms_and_text_plain_get_415_on_the_api_but_the_dashboard_takes_its_forms(open_gw, gateway):
    body = orjson.dumps(CHAT)
    cases = [
        httpx.post(f"{open_gw.url}/v1/chat/completions", content=body, headers={"Content-Type": "text/plain"}),
        httpx.post(f"{open_gw.url}/v1/chat/completions", content=body),  # no Content-Type at all
        httpx.post(f"{open_gw.url}/v1/embeddings", data={"model": "embedder", "input": "x"}),  # a form
        httpx.post(f"{open_gw.url}/v1/chat/completions", files={"f": ("a.json", body)}),  # multipart
        httpx.post(f"{gateway.url}/key/generate", data={"key_alias": "x"}, headers=AUTH),
        httpx.post(f"{gateway.url}/config/reload", headers=AUTH),
        httpx.post(f"{gateway.url}/mcp", content=orjson.dumps(MCP_INIT),
                   headers={"Content-Type": "text/plain", **AUTH, **MCP_ACCEPT}),
        httpx.request("DELETE", f"{gateway.url}/mcp", content=b"x", headers={"Content-Type": "text/plain", **AUTH}),
    ]
    for r in cases:
        msg = _error(r, 415, "unsupported_media_type")
        assert "Content-Type: application/json" in msg
    # JSON, with or without parameters, is served
    for ctype in ("application/json", "Application/JSON; charset=utf-8"):
        r = httpx.post(f"{open_gw.url}/v1/chat/completions", content=body, headers={"Content-Type": ctype})
        assert r.status_code == 200, r.text
    # the dashboard takes forms: it checks its own CSRF token
    with httpx.Client(base_url=gateway.url) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/ui/login").text).group(1)
        r = c.post("/ui/login", data={"username": "admin", "password": MASTER_KEY, "csrf_token": token})
        assert r.status_code == 303, r.text
        r = c.post("/ui/login", data={"username": "admin", "password": MASTER_KEY})  # no token: its own refusal
        assert r.status_code == 403 and "CSRF" in r.text


def test_without_a_master_key_the_admin_api_and_mcp_are_off_and_say_how_to_turn_them_on(open_gw):
    url = open_gw.url
    for r in (httpx.post(f"{url}/key/generate", json={"key_alias": "x"}), httpx.get(f"{url}/key/list"),
              httpx.get(f"{url}/key/info", params={"key": "sk-acc-x"}), httpx.post(f"{url}/key/update", json={}),
              httpx.post(f"{url}/key/delete", json={"keys": ["x"]}), httpx.get(f"{url}/spend/logs"),
              httpx.get(f"{url}/usage/summary"), httpx.post(f"{url}/config/reload", json={})):
        msg = _error(r, 403, "master_key_required")
        assert "admin API" in msg and "settings.master_key" in msg and "ACCORD_MASTER_KEY" in msg
    r = httpx.post(f"{url}/mcp", json=MCP_INIT, headers=MCP_ACCEPT)
    msg = _error(r, 403, "master_key_required")
    assert "/mcp" in msg and "ACCORD_MASTER_KEY" in msg and "accord mcp" in msg
    # what stays open on loopback: the model routes and the health checks
    assert httpx.post(f"{url}/v1/chat/completions", json=CHAT).status_code == 200
    assert httpx.get(f"{url}/v1/models").status_code == 200
    assert httpx.get(f"{url}/health/readiness").status_code == 200
