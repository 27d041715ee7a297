"""`accord debug "symptoms"` and `accord plan "task"`: the MCP tools `debug` and `planner` from the terminal,
each model's progress on stderr, the result on stdout (exit 0, or 2 when no model gave a usable answer)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from .common import config_option, env_file_option, fail, load_config

_models = click.option("-m", "--model", "models", multiple=True, metavar="MODEL",
                       help="A panel seat (a model or an agent CLI); repeat. Default: consensus.panel, else the top models.")
_files = click.option("-f", "--file", "files", multiple=True, help="A file or folder to include.")
_cont = click.option("--continue", "continuation_id", metavar="THREAD", help="Continue a stored thread.")
_json = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _text(words: tuple[str, ...], what: str, usage: str) -> str:
    text = " ".join(words).strip() or (sys.stdin.read().strip() if not sys.stdin.isatty() else "")
    if not text:
        fail(f"no {what}: {usage}", 2)
    return text


@click.command()
@config_option
@env_file_option
@_models
@_files
@click.option("--logs", metavar="FILE", help="A log file to include (- for standard input).")
@click.option("--checks", help="What the suggested checks showed (with --continue).")
@_cont
@_json
@click.argument("symptoms", nargs=-1)
def debug(config_path, env_file, models, files, logs, checks, continuation_id, as_json, symptoms) -> None:
    """The panel proposes ranked root-cause hypotheses for SYMPTOMS, merged with votes."""
    from ..consensus.ask import plain_panel
    from ..consensus.debug import Ask, diagnose, markdown

    text = _text(symptoms, "symptoms", 'accord debug "what goes wrong" --logs error.log -m MODEL -m MODEL')
    log_text = None
    if logs:
        try:
            log_text = sys.stdin.read() if logs == "-" else Path(logs).read_text("utf-8", "replace")
        except OSError as e:
            fail(f"cannot read {logs}: {e.strerror}", 2)
    cfg = load_config(config_path, env_file)

    async def go(engine, context: str, history: list[dict], progress) -> tuple[Any, str, bool]:
        ask = Ask(plain_panel(cfg, engine.models, models), text, logs=log_text, context=context, checks=checks,
                  thread_id=continuation_id, history=history)
        d = await diagnose(engine, cfg, ask, progress)
        return d, markdown(d, 10**9), d.status != "failed"

    sys.exit(asyncio.run(_run(cfg, files, continuation_id, as_json, go)))


@click.command()
@config_option
@env_file_option
@_models
@_files
@click.option("--chair", help="The model that merges the drafts (default: chosen per run).")
@_cont
@_json
@click.argument("task", nargs=-1)
def plan(config_path, env_file, models, files, chair, continuation_id, as_json, task) -> None:
    """The panel drafts plans for TASK in parallel; the chair merges them into one."""
    from ..consensus.ask import plain_panel
    from ..consensus.planner import Ask, markdown
    from ..consensus.planner import plan as make_plan

    text = _text(task, "task", 'accord plan "what to plan" -m MODEL -m MODEL')
    cfg = load_config(config_path, env_file)

    async def go(engine, context: str, history: list[dict], progress) -> tuple[Any, str, bool]:
        ask = Ask(plain_panel(cfg, engine.models, models), text, context=context, chair=chair, thread_id=continuation_id,
                  history=history)
        p = await make_plan(engine, cfg, ask, progress)
        return p, markdown(p, 10**9), p.status != "failed"

    sys.exit(asyncio.run(_run(cfg, files, continuation_id, as_json, go)))


async def _run(cfg, files: tuple[str, ...], continuation_id: str | None, as_json: bool,
               go: Callable[..., Awaitable[tuple[Any, str, bool]]]) -> int:
    import orjson

    from ..consensus.agents import with_agents
    from ..consensus.callers import LocalModels
    from ..consensus.files import Rules, read_inputs
    from ..consensus.runner import Engine
    from ..consensus.types import InputError
    from ..store.db import Database
    from ..store.threads import ThreadNotFound, ThreadStore
    from .recording import recorded_router

    db = Database.from_settings(cfg.settings)
    store = ThreadStore(db)

    async def progress(ev) -> None:
        if ev.kind in ("start", "chair", "done", "failed"):
            click.echo(f"{ev.model}: {ev.kind} {ev.detail[:160]}".rstrip(), err=True)

    try:
        context, _images, notes = await read_inputs([os.path.abspath(f) for f in files], None,
                                                    cfg.mcp.file_tokens, Rules.from_config(cfg))
        for n in notes:
            click.echo(f"note: {n}", err=True)
        history = await store.history(continuation_id) if continuation_id else []
        async with recorded_router(cfg, db) as router:
            result, text, ok = await go(Engine(with_agents(LocalModels(router), cfg.agents), store), context,
                                        history, progress)
    except ThreadNotFound as e:
        fail(f"no thread {e}; see `accord threads`", 2)
    except InputError as e:
        fail(str(e), 2)
    finally:
        await db.close()
    click.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode() if as_json else text)
    return 0 if ok else 2
