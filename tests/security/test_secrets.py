"""Canaries: a provider key, a master key and a virtual key, each a unique random string, sent through every
path (success, upstream errors that echo the key back, /health, debug logging, `accord config show` and
`config check`, the dashboard's pages, MCP tool results, a config error at start, an exception inside a
handler). None may appear anywhere but where it was given. The canaries are never printed: a failure says
where a canary was found, not the text around it."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import subprocess
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client

from fakes import Reply, free_port
from mcp import Client
from serving import ACCORD, serving
from waiting import wait_for

PROVIDER = "sk-canary-provider-" + secrets.token_hex(12)
MASTER = "sk-canary-master-" + secrets.token_hex(12)


def _responder(req: dict) -> Reply:
    """The fake provider: fine, or failing with the caller's own Authorization header echoed back."""
    auth = req["headers"].get("authorization", "")
    body = req["json"] or {}
    said = json.dumps(body.get("messages") or body.get("input") or "")
    model = body.get("model", "")
    if "echo-401" in said or model == "echo-model":
        return Reply(status=401, error={"error": {"message": f"Incorrect API key provided: {auth}"}})
    if "echo-500" in said:
        return Reply(status=500, error=f"upstream crashed; request headers were {dict(req['headers'])}")
    return Reply(content="fine")


def _config(upstream_url: str, data: Path) -> str:
    return f"""settings:
  master_key: {MASTER}
  data_dir: {data}
  num_retries: 0
models:
  - {{name: m, model: openai/gpt-4o-mini, api_base: {upstream_url}/v1, api_key: {PROVIDER}}}
  - {{name: echo, model: openai/echo-model, api_base: {upstream_url}/v1, api_key: {PROVIDER}}}
  - {{name: emb, model: openai/text-embedding-3-small, api_base: {upstream_url}/v1, api_key: {PROVIDER}}}
consensus:
  panel: [m, echo]
  chair: m
"""


class Leaks:
    def __init__(self, canaries: dict[str, str]) -> None:
        self.canaries = canaries
        self.found: list[str] = []
        self.checked = 0

    def scan(self, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self.checked += 1
        for name, value in self.canaries.items():
            if value in text or value[-16:] in text:  # whole, or its random tail
                self.found.append(f"{name} canary in {where}")

    def response(self, where: str, r: httpx.Response) -> None:
        self.scan(f"{where} (body)", r.content)
        self.scan(f"{where} (headers)", "\n".join(f"{k}: {v}" for k, v in r.headers.items()))


@pytest.fixture
def served(upstream, tmp_path):
    upstream.responder = _responder
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(_config(upstream.url, tmp_path / "data"))
    with contextlib.ExitStack() as running:
        url, log, env = running.enter_context(serving(cfg, tmp_path))
        yield url, cfg, log, env, running.close  # close: a graceful stop (SIGTERM), once


async def test_canaries_never_leave(served, tmp_path):
    url, cfg, log, env, stop = served
    admin = {"Authorization": f"Bearer {MASTER}"}
    leaks = Leaks({"provider": PROVIDER, "master": MASTER})
    with httpx.Client(base_url=url, timeout=60) as c:
        made = c.post("/key/generate", json={"key_alias": "canary"}, headers=admin)
        assert made.status_code == 200
        virtual = made.json()["key"]  # the one place a virtual key may appear: when it is made
        leaks.canaries["virtual"] = virtual
        user = {"Authorization": f"Bearer {virtual}"}
        for who in (admin, user):
            for say in ("hello", "echo-401", "echo-500"):
                for stream in (False, True):
                    r = c.post("/v1/chat/completions", headers=who, json={
                        "model": "m", "stream": stream, "messages": [{"role": "user", "content": say}]})
                    leaks.response(f"chat {say} stream={stream}", r)
            leaks.response("embeddings", c.post("/v1/embeddings", headers=who, json={"model": "emb", "input": "x"}))
            leaks.response("echo model", c.post("/v1/chat/completions", headers=who, json={
                "model": "echo", "messages": [{"role": "user", "content": "hi"}]}))
        # wrong and half-right keys in every header clients use
        for h in ({"Authorization": f"Bearer {MASTER[:-1]}"}, {"x-api-key": virtual[:-2]},
                  {"api-key": PROVIDER}, {"Authorization": PROVIDER}):
            leaks.response("refused key", c.get("/v1/models", headers=h))
            leaks.response("refused key (admin)", c.get("/key/list", headers=h))
        for path in ("/health", "/health/readiness", "/health/liveliness", "/v1/models", "/key/list",
                     f"/key/info?key={virtual}", "/spend/logs", "/usage/summary", "/openapi.json"):
            leaks.response(path, c.get(path, headers=admin))
        leaks.response("reload", c.post("/config/reload", headers=admin))

        # the dashboard, signed in
        ui = httpx.Client(base_url=url, timeout=60)
        assert ui.post("/ui/login", json={"username": "admin", "password": MASTER}).status_code == 200
        for page in ("/ui/", "/ui/models", "/ui/keys", "/ui/logs", "/ui/settings", "/ui/playground", "/ui/threads"):
            r = ui.get(page)
            assert r.status_code == 200, (page, r.status_code)
            leaks.scan(f"{page} (body)", r.text)
        ui.close()

    # MCP over HTTP: a tool result that carries an upstream error
    http = httpx2.AsyncClient(headers=admin, timeout=httpx2.Timeout(60, read=120))
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        for tool, args in (("chat", {"prompt": "echo-401", "model": "m"}), ("chat", {"prompt": "echo-500"}),
                           ("chat", {"prompt": "hello", "model": "echo"}), ("consensus", {"question": "echo-401?"}),
                           ("listmodels", {}), ("version", {})):
            r = await client.call_tool(tool, args)
            leaks.scan(f"MCP {tool} {args}", "\n".join(getattr(b, "text", "") for b in r.content))

    # the CLI: config show / check, and a config error at start naming the bad entry
    for args in (["config", "show"], ["config", "show", "--json"], ["config", "check"], ["models"]):
        p = subprocess.run([ACCORD, *args, "--config", str(cfg)], capture_output=True, text=True, env=env, timeout=60)
        leaks.scan(f"accord {' '.join(args)}", p.stdout + p.stderr)
    broken = tmp_path / "broken.yaml"
    broken.write_text(cfg.read_text().replace("num_retries: 0", f"num_retries: {PROVIDER}").replace(
        "api_key: " + PROVIDER + "}", "api_key: " + PROVIDER + ", rpm: " + MASTER + "}", 1))
    for args in (["serve", "--port", str(free_port())], ["config", "check"], ["config", "show"]):
        p = subprocess.run([ACCORD, *args, "--config", str(broken)], capture_output=True, text=True, env=env,
                           timeout=60)
        assert p.returncode != 0
        leaks.scan(f"accord {args[0]} with a broken config", p.stdout + p.stderr)
    stop()  # a graceful stop writes the last usage batch and its log lines
    leaks.scan("the debug log of accord serve", log.read_text(errors="replace"))
    assert leaks.checked > 80
    assert leaks.found == []


def test_an_exception_inside_a_handler_leaks_nothing(gateway_factory, upstream, caplog, monkeypatch):
    """A crash whose message quotes a secret (as some libraries' errors quote URLs or headers): the 500 says
    nothing, and the log, even at debug level with the traceback, has the secret masked."""
    import logging

    from accord import logs

    caplog.set_level(logging.DEBUG)
    gw = gateway_factory(_config(upstream.url, Path("data")).replace("  data_dir: data\n", ""))

    async def boom(*a, **k):
        raise RuntimeError(f"connection to https://api.example/v1?key={PROVIDER} failed; master {MASTER}")

    monkeypatch.setattr(gw.app.state.router, "complete", boom)
    r = httpx.post(f"{gw.url}/v1/chat/completions", headers={"Authorization": f"Bearer {MASTER}"},
                   json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    leaks = Leaks({"provider": PROVIDER, "master": MASTER})
    leaks.response("500", r)
    formatter = logs.formatter("text")
    text = "\n".join(formatter.format(rec) for rec in caplog.records)
    assert "RuntimeError" in text  # the crash is logged
    leaks.scan("the log of the crash", text)
    assert leaks.found == []


# ------------------------------------------------------------------------ header values and URL credentials
HEADER = "canary-header-" + secrets.token_hex(12)
URL_PASS = "canary-urlpass-" + secrets.token_hex(12)
BASIC = base64.b64encode(f"proxyuser:{URL_PASS}".encode()).decode()  # what Basic auth sends on the wire


def _echo_headers(req: dict) -> Reply:
    """An upstream that fails quoting every header it was sent (some proxies do, in their error pages)."""
    if (req["json"] or {}).get("model") == "echo-headers":
        return Reply(status=500, error=f"bad gateway; request headers were {dict(req['headers'])}")
    return Reply(content="fine")


def test_header_values_and_url_credentials_never_leave(upstream, tmp_path):
    """A secret in a model's `headers:` and a user:password inside its `api_base` are secrets like its api_key:
    absent from /health, the dashboard, `config show`, `doctor --json` and the INFO log; the credentials are
    still sent, as HTTP Basic auth, since the server behind the URL needs them."""
    upstream.responder = _echo_headers
    host = upstream.url.removeprefix("http://")
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(f"""settings:
  master_key: {MASTER}
  data_dir: {tmp_path / 'data'}
  num_retries: 0
models:
  - {{name: hdr, model: openai/echo-headers, api_base: {upstream.url}/v1, api_key: {PROVIDER},
     headers: {{X-Api-Secret: {HEADER}}}}}
  - {{name: cred, model: openai/gpt-4o-mini, api_base: "http://proxyuser:{URL_PASS}@{host}/v1"}}
""")
    leaks = Leaks({"header value": HEADER, "URL password": URL_PASS, "Basic credentials": BASIC})
    admin = {"Authorization": f"Bearer {MASTER}"}
    with serving(cfg, tmp_path, "info") as (url, log, env), httpx.Client(base_url=url, timeout=60) as c:
        for model in ("hdr", "cred"):
            r = c.post("/v1/chat/completions", headers=admin, json={
                "model": model, "messages": [{"role": "user", "content": "hi"}]})
            leaks.response(f"chat {model}", r)
        assert r.status_code == 200, r.text  # `cred` is served ...
        sent = upstream.requests[-1]["headers"]
        assert sent["authorization"] == f"Basic {BASIC}"  # ... with its credentials, as Basic auth
        health = c.get("/health", headers=admin)
        assert health.status_code == 200
        leaks.response("/health", health)
        shown = {e["model"]: e for e in health.json()["healthy_endpoints"] + health.json()["unhealthy_endpoints"]}
        assert shown["cred"]["healthy"] and shown["cred"]["api_base"] == f"http://{host}/v1"
        assert not shown["hdr"]["healthy"] and "bad gateway" in shown["hdr"]["error"]  # the error, minus the secret
        assert c.post("/ui/login", json={"username": "admin", "password": MASTER}).status_code == 200
        for page in ("/ui/models", "/ui/settings"):
            r = c.get(page)
            assert r.status_code == 200 and host in r.text, page
            leaks.scan(f"{page} (body)", r.text)
        r = c.post("/ui/api/models/test", json={"deployment": "hdr"},
                   headers={"x-csrf-token": re.search(r'name="csrf-token" content="([^"]+)"', r.text).group(1)})
        assert r.status_code == 200 and r.json()["healthy"] is False
        leaks.response("the dashboard's Test button", r)
        for args in (["config", "show"], ["config", "show", "--json"], ["doctor", "--json"]):
            p = subprocess.run([ACCORD, *args, "--config", str(cfg)], capture_output=True, text=True, env=env,
                               timeout=120)
            assert host in p.stdout, args  # the api_base is shown, without its password
            leaks.scan(f"accord {' '.join(args)}", p.stdout + p.stderr)
        wait_for(lambda: "/ui/api/models/test" in log.read_text(errors="replace"), "the access log line")
    text = log.read_text(errors="replace")
    assert "/health" in text  # the INFO log was written
    leaks.scan("the INFO log of accord serve", text)
    assert leaks.found == []


def test_a_bad_deployment_answers_its_own_error_and_health_stays_up(upstream, gateway_factory):
    """Credentials in api_base and an api_key: both want the Authorization header. That model says so, clearly,
    and every other model, and /health, carry on."""
    upstream.responder = None
    host = upstream.url.removeprefix("http://")
    g = gateway_factory(f"""settings:
  master_key: {MASTER}
  num_retries: 0
models:
  - {{name: good, model: openai/gpt-4o-mini, api_base: {upstream.url}/v1, api_key: {PROVIDER}}}
  - {{name: both, model: openai/gpt-4o-mini, api_base: "http://proxyuser:{URL_PASS}@{host}/v1",
     api_key: {PROVIDER}}}
""")
    admin = {"Authorization": f"Bearer {MASTER}"}
    r = httpx.get(f"{g.url}/health", headers=admin, timeout=60)
    assert r.status_code == 200
    body = r.json()
    assert [e["model"] for e in body["healthy_endpoints"]] == ["good"]
    [bad] = body["unhealthy_endpoints"]
    assert bad["model"] == "both" and "api_base" in bad["error"] and "api_key" in bad["error"]
    chat = httpx.post(f"{g.url}/v1/chat/completions", headers=admin, timeout=60, json={
        "model": "both", "messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code != 500 or chat.json()["error"]["code"] != "internal_error"
    assert "api_base" in chat.json()["error"]["message"]
    ok = httpx.post(f"{g.url}/v1/chat/completions", headers=admin, timeout=60, json={
        "model": "good", "messages": [{"role": "user", "content": "hi"}]})
    assert ok.status_code == 200
    leaks = Leaks({"URL password": URL_PASS, "Basic credentials": BASIC, "provider": PROVIDER})
    for where, resp in (("/health", r), ("chat both", chat)):
        leaks.response(where, resp)
    assert leaks.found == []


def test_a_log_line_quoting_a_header_value_or_url_password_is_masked(gateway_factory, upstream, caplog, monkeypatch):
    """The log masks a model's header values and the credentials in its api_base as it masks its api_key, even
    in the traceback of a crash whose text quotes them."""
    import logging

    from accord import logs

    caplog.set_level(logging.DEBUG)
    host = upstream.url.removeprefix("http://")
    gw = gateway_factory(f"""settings:
  master_key: {MASTER}
models:
  - {{name: m, model: openai/gpt-4o-mini, api_base: "http://proxyuser:{URL_PASS}@{host}/v1",
     headers: {{X-Api-Secret: {HEADER}}}}}
""")

    async def boom(*a, **k):
        raise RuntimeError(f"cannot send X-Api-Secret: {HEADER} to http://proxyuser:{URL_PASS}@{host}/v1 "
                           f"(Authorization: Basic {BASIC})")

    monkeypatch.setattr(gw.app.state.router, "complete", boom)
    r = httpx.post(f"{gw.url}/v1/chat/completions", headers={"Authorization": f"Bearer {MASTER}"},
                   json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}, timeout=60)
    assert r.status_code == 500
    text = "\n".join(logs.formatter("text").format(rec) for rec in caplog.records)
    assert "RuntimeError" in text and "cannot send X-Api-Secret" in text  # the crash is logged, with its text
    leaks = Leaks({"header value": HEADER, "URL password": URL_PASS, "Basic credentials": BASIC})
    leaks.scan("the log of the crash", text)
    assert leaks.found == []
