"""`accord keys`, `accord usage`, `accord db`: the store from the command line (same database as `serve`)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from .common import config_option, env_file_option, fail, load_config


def _run(config_path: str | None, env_file: str | None, work: Callable[[Any], Awaitable[Any]]) -> Any:
    cfg = load_config(config_path, env_file)

    async def main() -> Any:
        from ..store.db import Database

        db = Database.from_settings(cfg.settings)
        try:
            await db.start()
            return await work(db)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except click.ClickException:
        raise
    except Exception as e:  # the database is away or refuses: say so, no traceback
        fail(f"database: {e.__class__.__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")


def _emit(data: Any) -> None:
    import orjson

    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


# ------------------------------------------------------------------------------------------------- keys
def _model_list(models: str | None) -> list[str] | None:
    """--models a,b: the allow-list as the API takes it."""
    return None if models is None else [m.strip() for m in models.split(",") if m.strip()]


def _key_fields(raw: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    """The options read as the API and the dashboard read a key's fields (store.key_fields), with the same
    refusals, before any database is opened."""
    from ..errors import BadRequest
    from ..store.key_fields import key_fields

    try:
        return key_fields(raw, partial=partial)
    except BadRequest as e:
        fail(e.message, 2)


@click.group()
def keys() -> None:
    """Create, list, update and revoke virtual keys."""


@keys.command("create")
@config_option
@env_file_option
@click.option("--name", default="", help="A name (alias) to find the key by.")
@click.option("--models", help="Comma-separated models the key may use (default: all).")
@click.option("--budget", help="Spend limit in US dollars.")
@click.option("--rpm", help="Requests per minute.")
@click.option("--tpm", help="Tokens per minute.")
@click.option("--expires", metavar="DURATION", help="Lifetime, e.g. 12h, 30d, 6mo.")
@click.option("--json", "as_json", is_flag=True)
def create(config_path, env_file, name, models, budget, rpm, tpm, expires, as_json) -> None:
    """Create a key. It is shown once: store it now."""
    fields = _key_fields({"key_alias": name, "models": _model_list(models), "max_budget": budget, "rpm_limit": rpm,
                          "tpm_limit": tpm, "duration": expires})

    async def work(db):
        from ..store.keys import Keys

        return await Keys(db).create(**fields)

    key, info = _run(config_path, env_file, work)
    if as_json:
        _emit({"key": key, **info.public()})
        return
    click.echo(key)
    click.echo(f"created key {info.name or info.id} ({info.prefix}…); shown once, it is stored only as a hash",
               err=True)


@keys.command("list")
@config_option
@env_file_option
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@click.option("--json", "as_json", is_flag=True)
def list_(config_path, env_file, include_revoked, as_json) -> None:
    """List keys (never the keys themselves: their prefixes)."""

    async def work(db):
        from ..store.keys import Keys

        return await Keys(db).list(include_revoked=include_revoked)

    rows = [k.public() for k in _run(config_path, env_file, work)]
    if as_json:
        _emit(rows)
        return
    if not rows:
        click.echo("No keys. Create one with `accord keys create --name NAME`.")
        return
    from rich.console import Console
    from rich.table import Table

    t = Table()
    for col in ("name", "key", "models", "spend / budget", "rpm", "tpm", "expires", "state"):
        t.add_column(col)
    for r in rows:
        budget = f"${r['spend']:.4f}" + (f" / ${r['max_budget']:g}" if r["max_budget"] is not None else "")
        t.add_row(r["key_alias"] or r["id"][:8], r["key_name"], ", ".join(r["models"]) or "all", budget,
                  str(r["rpm_limit"] or ""), str(r["tpm_limit"] or ""), r["expires"] or "",
                  "revoked" if r["revoked"] else "active")
    Console().print(t)


@keys.command("revoke")
@config_option
@env_file_option
@click.argument("ref")
def revoke(config_path, env_file, ref) -> None:
    """Revoke a key, by the key, its id, or its name. Every instance refuses it within a second."""

    async def work(db):
        from ..store.keys import Keys

        k = Keys(db)
        try:
            found = await k.find(ref)
        except LookupError as e:
            fail(str(e), 2)
        if found is None:
            fail(f"no key `{ref}`; see `accord keys list`", 2)
        await k.revoke(found.id)
        return found

    found = _run(config_path, env_file, work)
    click.echo(f"revoked {found.name or found.id} ({found.prefix}…)")


@keys.command("update")
@config_option
@env_file_option
@click.argument("ref")
@click.option("--models")
@click.option("--budget")
@click.option("--rpm")
@click.option("--tpm")
def update_(config_path, env_file, ref, models, budget, rpm, tpm) -> None:
    """Change a key's models, budget or limits."""
    given = {k: v for k, v in (("models", _model_list(models)), ("max_budget", budget), ("rpm_limit", rpm),
                               ("tpm_limit", tpm)) if v is not None}
    changes: dict[str, Any] = _key_fields(given, partial=True)
    if not changes:
        fail("nothing to change: give --models, --budget, --rpm or --tpm", 2)

    async def work(db):
        from ..store.keys import Keys

        k = Keys(db)
        found = await k.find(ref)
        if found is None:
            fail(f"no key `{ref}`; see `accord keys list`", 2)
        return await k.update(found.id, **changes)

    info = _run(config_path, env_file, work)
    click.echo(f"updated {info.name or info.id}")


# ------------------------------------------------------------------------------------------------ usage
@click.command()
@config_option
@env_file_option
@click.option("--by", "group_by", type=click.Choice(["day", "model", "key"]), default="day", show_default=True)
@click.option("--since", help="First day, YYYY-MM-DD.")
@click.option("--until", help="Day after the last, YYYY-MM-DD.")
@click.option("--thread", "thread_id", metavar="THREAD", help="Every model call of one thread (what it cost).")
@click.option("--json", "as_json", is_flag=True)
def usage(config_path, env_file, group_by, since, until, thread_id, as_json) -> None:
    """Requests, tokens and spend, per day, model or key; or each call of one thread (--thread)."""
    if thread_id:
        _thread_usage(config_path, env_file, thread_id, as_json)
        return

    async def work(db):
        from ..store.usage import summary

        return await summary(db, group_by=group_by, start=since, end=until)

    rows = _run(config_path, env_file, work)
    if as_json:
        _emit(rows)
        return
    if not rows:
        click.echo("No usage recorded yet.")
        return
    from rich.console import Console
    from rich.table import Table

    t = Table()
    for col in (group_by, "requests", "errors", "tokens in", "tokens out", "cost $", "avg latency ms"):
        t.add_column(col, justify="left" if col == group_by else "right")
    for r in rows:
        t.add_row(str(r[group_by] or "-"), str(r["requests"]), str(r["errors"]), str(r["prompt_tokens"]),
                  str(r["completion_tokens"]), f"{r['cost']:.4f}", f"{r['avg_latency_ms']:.0f}")
    Console().print(t)


def _thread_usage(config_path: str | None, env_file: str | None, thread_id: str, as_json: bool) -> None:
    async def work(db):
        from ..store.usage import list_usage

        calls, _ = await list_usage(db, limit=10_000, thread_id=thread_id)
        return calls[::-1]  # oldest first

    calls = _run(config_path, env_file, work)
    total = {"requests": len(calls), "errors": sum(1 for c in calls if c["status"] >= 400),
             "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
             "completion_tokens": sum(c["completion_tokens"] for c in calls),
             "cost": round(sum(c["spend"] for c in calls), 6)}
    if as_json:
        _emit({"thread_id": thread_id, "calls": calls, "total": total})
        return
    if not calls:
        click.echo(f"No usage recorded for thread {thread_id}.")
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"thread {thread_id}")
    for col in ("time (UTC)", "route", "model", "status", "tokens in", "tokens out", "cost $", "latency ms"):
        t.add_column(col, justify="right" if col.startswith(("tokens", "cost", "latency")) else "left")
    for c in calls:
        status = str(c["status"]) + (f" {c['error_type']}" if c["error_type"] else "")
        t.add_row(c["startTime"][:19].replace("T", " "), c["route"], c["model"], status, str(c["prompt_tokens"]),
                  str(c["completion_tokens"]), f"{c['spend']:.6f}", f"{c['latency_ms']:.0f}")
    t.add_row("total", "", "", f"{total['errors']} errors", str(total["prompt_tokens"]),
              str(total["completion_tokens"]), f"{total['cost']:.6f}", "")
    Console().print(t)


# --------------------------------------------------------------------------------------------------- db
@click.group()
def db() -> None:
    """The database: where it is, and its migrations."""


@db.command()
@config_option
@env_file_option
def upgrade(config_path, env_file) -> None:
    """Apply pending migrations (`accord serve` also does this at start)."""

    async def work(database):
        from ..store.db import current_revision

        async with database.engine.connect() as conn:
            return await conn.run_sync(current_revision)

    rev = _run(config_path, env_file, work)
    click.echo(f"database is at revision {rev} (up to date)")
    sys.exit(0)
