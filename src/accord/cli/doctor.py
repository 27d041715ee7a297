"""`accord doctor`: is everything in place? A table with a fix for every failure, filled in live."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

import click

from .common import config_option, env_file_option


@click.command()
@config_option
@env_file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--no-models", is_flag=True, help="Skip the live request to each model.")
@click.option("--timeout", type=click.FloatRange(1, 300), default=15.0, show_default=True,
              help="Seconds to wait for each model.")
@click.option("--strict", is_flag=True, help="Also send each model one small request per capability it claims "
              "(tools, thinking, vision, JSON mode) and report the claims its provider refuses.")
def doctor(config_path, env_file, as_json, no_models, timeout, strict) -> None:
    """Check the config, keys, every model (a tiny real request), the port, the database, Redis, Claude Code
    (its MCP entry, and the gateway settings `accord claude install --gateway` wrote)."""
    from ..setup import checks

    results: list[checks.Result] = []
    live = None
    if not as_json:
        from rich.console import Console
        from rich.live import Live

        live = Live(_table(results), console=Console(), refresh_per_second=8, transient=False)
        live.start()

    def add(*rs) -> None:
        results.extend(r for r in rs if r is not None)
        if live is not None:
            live.update(_table(results))

    try:
        first, cfg = checks.config_check(config_path, env_file)
        add(first)
        if cfg is not None:
            add(checks.env_file_check(cfg), checks.env_vars_check(cfg), checks.api_base_check(cfg),
                checks.port_check(cfg))

            async def rest() -> None:
                tasks: list[Coroutine[Any, Any, checks.Result | list[checks.Result] | None]] = [
                    checks.database_check(cfg), checks.redis_check(cfg)]
                if not no_models and cfg.deployments:
                    tasks.append(checks.model_checks(cfg, timeout))
                    if strict:
                        from ..setup.probes import capability_checks

                        tasks.append(capability_checks(cfg, timeout))
                for coro in asyncio.as_completed(tasks):
                    r = await coro
                    add(*(r if isinstance(r, list) else [r]))

            asyncio.run(rest())
        add(checks.claude_check())
        if cfg is not None:
            add(*asyncio.run(checks.claude_gateway_checks(cfg, timeout)))
    finally:
        if live is not None:
            live.stop()
    failed = [r for r in results if r.status == checks.FAIL]
    if as_json:
        import orjson

        click.echo(orjson.dumps({"ok": not failed, "checks": [r.__dict__ for r in results]},
                                option=orjson.OPT_INDENT_2).decode())
    else:
        n_warn = sum(r.status == checks.WARN for r in results)
        click.echo(f"{len(failed)} failed, {n_warn} warnings" if failed or n_warn else "all good")
    sys.exit(1 if failed else 0)


def _table(results):
    from rich.table import Table

    t = Table(show_lines=False)
    t.add_column("check")
    t.add_column("")
    t.add_column("detail", overflow="fold")
    t.add_column("fix", overflow="fold")
    style = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
    for r in results:
        t.add_row(r.check, style[r.status], r.detail, r.fix)
    return t
