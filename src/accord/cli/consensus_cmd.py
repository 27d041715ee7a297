"""`accord consensus "question" -m deepseek -m qwen:against -m kimi`: the panel at work, live, then the result."""

from __future__ import annotations

import asyncio
import sys
import time

import click

from .common import config_option, env_file_option, fail, load_config


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


async def _run(cfg, question: str, o: dict, as_json: bool) -> int:
    import orjson

    from ..consensus.agents import with_agents
    from ..consensus.callers import LocalModels
    from ..consensus.runner import Engine
    from ..consensus.types import InputError
    from ..store.db import Database
    from ..store.threads import ThreadNotFound, ThreadStore
    from .recording import recorded_router

    db = Database.from_settings(cfg.settings)
    store = ThreadStore(db)
    try:
        async with recorded_router(cfg, db) as router:
            result, notes, labels = await _ask(cfg, question, o, as_json, Engine(with_agents(LocalModels(router), cfg.agents), store), store)
    except ThreadNotFound as e:
        fail(f"no thread {e}; see `accord threads`", 2)
    except InputError as e:
        fail(str(e), 2)
    finally:
        await db.close()
    result.notes[:0] = notes
    if as_json:
        click.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        _show(result, labels)
    return 0 if result.status != "failed" else 1


async def _ask(cfg, question: str, o: dict, as_json: bool, engine, store) -> tuple:
    """Build the request from the options and run it; (result, notes, labels)."""
    from ..consensus.choose import top
    from ..consensus.files import Rules, read_inputs
    from ..consensus.types import Member, Request

    c = cfg.consensus
    seats = [Member.parse(m) for m in (o["models"] or c.panel)]
    context, images, notes = await read_inputs(list(o["files"]), list(o["images"]), cfg.mcp.file_tokens,
                                               Rules.from_config(cfg))
    if not seats:
        models = engine.models
        seats = [Member(n) for n in top([(n, models.info(n)) for n in models.names()])]
        notes.append(f"no panel given or configured: asked the top models ({', '.join(m.model for m in seats)})")
    req = Request(
        question=question, panel=seats, mode=o["mode"] or c.mode, context=context,
        images=images,
        history=await store.history(o["continuation_id"]) if o["continuation_id"] else [],
        chair=o["chair"] or c.chair, thinking=o["thinking"], temperature=o["temperature"],
        concurrency=1 if o["sequential"] else c.concurrency, per_model_timeout=c.per_model_timeout,
        timeout=c.timeout, max_tokens=c.max_tokens, token_budget=c.token_budget, cost_budget=c.cost_budget,
        rounds=o["rounds"] or c.rounds, answer_format=o["answer_format"], embedding_model=c.embedding_model,
        final_vote=o.get("final_vote", False),
    )
    engine.check(req)
    labels = engine.labels(req.panel)
    if as_json:
        result = await engine.run(req, thread_id=o["continuation_id"])
    else:
        result = await _live(engine, req, labels, o["continuation_id"])
    return result, notes, labels


async def _live(engine, req, labels: list[str], thread_id: str | None):
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    rows: dict[str, str] = dict.fromkeys(labels, "[dim]waiting[/]")
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
        task = asyncio.ensure_future(engine.run(req, on_event, thread_id=thread_id))
        try:
            while not task.done():
                live.update(table())
                await asyncio.sleep(0.25)
        except BaseException:  # Ctrl-C: the run stops now (its thread marked cancelled), not at interpreter exit
            task.cancel()
            await asyncio.wait({task})
            raise
        return task.result()


def _show(result, labels: list[str]) -> None:
    from rich.console import Console
    from rich.markdown import Markdown

    from ..consensus.report import markdown

    Console().print(Markdown(markdown(result, labels, 10**9)))
