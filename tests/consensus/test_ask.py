"""One way to ask (consensus/ask.py): with no panel given or configured, every front-end -- the MCP tool, the
CLI and the dashboard playground -- asks the same default panel (the top served models by score, not the first
ones in config order)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
from click.testing import CliRunner

from accord.cli import cli as main
from accord.config import parse
from accord.mcp.server import build
from accord.mcp.state import State
from conftest import MASTER_KEY
from fakes import Reply
from mcp import Client
from panelkit import UPSTREAM, chair_json, kind, panel_config, responder

TOP = ["r1", "qwen", "kimi"]  # by the catalog's scores; the config lists deepseek, qwen, kimi first


def no_panel(url: str) -> str:
    text = panel_config(url, master_key=MASTER_KEY)
    return text.replace('  panel: [deepseek, "qwen:against", kimi]\n', "  mode: synthesize\n")


def asked(upstream) -> list[str]:
    """The panel's seats, by config name, in the order first asked."""
    names = {up: name for name, up in UPSTREAM.items()}
    return list(dict.fromkeys(names[r["json"]["model"]] for r in upstream.requests
                              if r["path"].endswith("/chat/completions") and kind(r) == "panel"))


async def test_with_no_panel_mcp_cli_and_playground_ask_the_same_models(upstream, gateway_factory,
                                                                       tmp_path: Path):
    upstream.responder = responder(lambda m, r: Reply(content=f"{m}: yes"), chair=Reply(content=chair_json(["r1"])))
    text = no_panel(upstream.url)

    state = State.create(parse(text))
    await state.start()
    try:
        async with Client(build(state)) as client:
            listed = (await client.call_tool("listmodels", {})).content[0].text
            r = await client.call_tool("consensus", {"question": "Ship on Friday?"})
    finally:
        await state.close()
    assert "default panel: r1, qwen, kimi (mode synthesize; none configured: the top models by score)" in listed
    assert not r.is_error, r.content[0].text
    assert "asked the top models by score (r1, qwen, kimi)" in r.content[0].text
    assert sorted(asked(upstream)) == sorted(TOP)

    upstream.requests.clear()
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(text)
    out = await asyncio.to_thread(CliRunner().invoke, main, ["consensus", "-c", str(cfg), "--json", "Ship on Friday?"])
    assert out.exit_code == 0, out.output
    assert [a["model"] for a in json.loads(out.stdout)["answers"]] == TOP
    assert sorted(asked(upstream)) == sorted(TOP)

    upstream.requests.clear()
    gw = gateway_factory(text)
    ui = httpx.Client(base_url=gw.url, timeout=60)
    assert ui.post("/ui/login", json={"username": "admin", "password": MASTER_KEY}).status_code == 200
    page = ui.get("/ui/playground").text
    ticked = re.findall(r'name="seat" value="([^"]+)" checked', page)
    assert ticked == [n for n in UPSTREAM if n in TOP]  # the page offers the panel an empty run asks
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    r = ui.post("/ui/api/consensus", headers={"x-csrf-token": token}, json={"question": "Ship on Friday?"})
    assert r.status_code == 200, r.text
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert lines[0] == {"type": "start", "labels": TOP, "mode": "synthesize"}
    assert lines[-1]["type"] == "result" and lines[-1]["status"] == "done", lines[-1]
    assert "no panel given or configured: asked the top models by score (r1, qwen, kimi)" in lines[-1]["notes"]
    assert sorted(asked(upstream)) == sorted(TOP)


async def test_with_no_panel_the_cli_panel_tools_ask_the_top_models_as_mcp_does(upstream, tmp_path: Path):
    """`accord debug` and `accord plan` without -m and without consensus.panel: the same default panel as the
    MCP tools (consensus.ask.plain_panel), where they used to refuse."""
    upstream.responder = responder(lambda m, r: Reply(content=f"{m}: it is the cache"), chair=Reply(content="a plan"))
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(no_panel(upstream.url))
    served = {UPSTREAM[n] for n in TOP}
    for args in (["debug", "-c", str(cfg), "the build is slow"], ["plan", "-c", str(cfg), "ship the cache"]):
        upstream.requests.clear()
        out = await asyncio.to_thread(CliRunner().invoke, main, args)
        assert "no panel:" not in out.output, out.output
        models = {r["json"]["model"] for r in upstream.requests if r["path"].endswith("/chat/completions")}
        assert served <= models, (args[0], models)
