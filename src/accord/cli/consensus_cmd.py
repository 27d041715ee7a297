"""`accord consensus "question" -m deepseek -m qwen:against -m kimi`: the panel at work, live, then the result."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING

import click

from .common import config_option, env_file_option, fail, load_config

if TYPE_CHECKING:
    from ..config import Config
    from ..consensus.ask import Asked
    from ..consensus.runner import Engine
    from ..consensus.types import Result


@click.command()
@config_option
@env_file_option
@click.option("-m", "--model", "models", multiple=True, metavar="MODEL[:STANCE]",
              help="A panel seat; repeat. STANCE: for, against, neutral. Default: consensus.panel.")
@click.option("--mode", type=click.Choice(["synthesize", "vote", "review", "debate", "select"]),
              help="Default: synthesize. select: the chair picks the best answer and says why.")
@click.option("--chair", help="The model that writes the synthesis (default: the panel's highest score).")
@click.option("-f", "--file", "files", multiple=True, help="Absolute path of a file or folder to include.")
@click.option("--image", "images", multiple=True, help="Absolute path or URL of an image.")
@click.option("--answer-format", help="vote: number, choice, yesno or json:<field>.")
@click.option("--thinking", type=click.Choice(["off", "low", "medium", "high", "max"]))
@click.option("-t", "--temperature", type=float)
@click.option("--rounds", type=click.IntRange(1, 5), help="debate: rounds after the first answers.")
@click.option("--vote-final", is_flag=True,
              help="debate: vote over the answers after the last round (default: the first, independent ones).")
@click.option("--sequential", is_flag=True, help="One model at a time (rate-limited free tiers).")
@click.option("--continue", "continuation_id", metavar="THREAD", help="Continue a stored thread.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (for scripts).")
@click.argument("question", nargs=-1)
def consensus(config_path, env_file, models, mode, chair, files, images, answer_format, thinking, temperature,
              rounds, vote_final, sequential, continuation_id, as_json, question) -> None:
    """Ask a panel of models at once. The question is the arguments, or standard input."""
    text = " ".join(question).strip() or (sys.stdin.read().strip() if not sys.stdin.isatty() else "")
    if not text:
        fail('nothing to ask: accord consensus "question" -m MODEL -m MODEL:against', 2)
    cfg = load_config(config_path, env_file)
    opts = dict(models=models, mode=mode, chair=chair, files=files, images=images, answer_format=answer_format,
                thinking=thinking, temperature=temperature, rounds=rounds, sequential=sequential,
                continuation_id=continuation_id, final_vote=vote_final)
    sys.exit(asyncio.run(_run(cfg, text, opts, as_json)))


async def _run(cfg: Config, question: str, o: dict, as_json: bool) -> int:
    import orjson

    from ..consensus import ask
    from ..consensus.agents import with_agents
    from ..consensus.callers import LocalModels
    from ..consensus.runner import Engine
    from ..consensus.types import InputError, Member
    from ..store.db import Database
    from ..store.threads import ThreadNotFound, ThreadStore
    from .recording import recorded_router

    db = Database.from_settings(cfg.settings)
    try:
        async with recorded_router(cfg, db) as router:
            engine = Engine(with_agents(LocalModels(router), cfg.agents), ThreadStore(db))
            asked = await ask.consensus(
                cfg, engine, question, panel=[Member.parse(m) for m in o["models"]], mode=o["mode"],
                chair=o["chair"], files=o["files"], images=o["images"], continuation_id=o["continuation_id"],
                thinking=o["thinking"], temperature=o["temperature"], rounds=o["rounds"],
                answer_format=o["answer_format"], final_vote=o["final_vote"], sequential=o["sequential"],
                no_panel="give -m MODEL (repeat)")
            if as_json:
                result = await ask.run(engine, asked)
            else:
                result = await _live(engine, asked)
    except ThreadNotFound as e:
        fail(f"no thread {e}; see `accord threads`", 2)
    except InputError as e:
        fail(str(e), 2)
    finally:
        await db.close()
    if as_json:
        click.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        _show(result, asked.labels)
    return 0 if result.status != "failed" else 1


async def _live(engine: Engine, asked: Asked) -> Result:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from ..consensus import ask

    rows: dict[str, str] = dict.fromkeys(asked.labels, "[dim]waiting[/]")
    started: dict[str, float] = {}

    def table() -> Table:
        t = Table(show_header=False, box=None, pad_edge=False)
        for who, state in rows.items():
            if who in started and "thinking" in state:
                state = f"[yellow]thinking {time.monotonic() - started[who]:.0f} s[/]"
            t.add_row(f"[bold]{who}[/]", state)
        return t

    async def on_event(ev) -> None:
        who = ev.model or ""
        if ev.kind in ("start", "chair", "review"):
            started[who] = time.monotonic()
            rows[who] = "[yellow]thinking[/]"
        elif ev.kind == "done":
            rows[who] = f"[green]done in {ev.detail}[/]"
        elif ev.kind == "failed":
            rows[who] = f"[red]failed: {ev.detail[:120]}[/]"
        live.update(table())

    with Live(table(), console=Console(stderr=True), refresh_per_second=4) as live:
        task = asyncio.ensure_future(ask.run(engine, asked, on_event))
        try:
            while not task.done():
                live.update(table())
                await asyncio.sleep(0.25)
        except BaseException:  # Ctrl-C: the run stops now (its thread marked cancelled), not at interpreter exit
            task.cancel()
            await asyncio.wait({task})
            raise
        return task.result()


def _show(result: Result, labels: list[str]) -> None:
    from rich.console import Console
    from rich.markdown import Markdown

    from ..consensus.report import markdown

    Console().print(Markdown(markdown(result, labels, 10**9)))
