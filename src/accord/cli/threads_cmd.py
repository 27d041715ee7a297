"""`accord threads [ID]`: the stored threads (consensus runs and conversations)."""

from __future__ import annotations

import asyncio

import click

from .common import config_option, env_file_option, fail, load_config


@click.command()
@config_option
@env_file_option
@click.option("-n", "--limit", default=20, show_default=True, help="How many recent threads to list.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.argument("thread_id", required=False)
def threads(config_path, env_file, limit, as_json, thread_id) -> None:
    """List recent threads, or show THREAD_ID with every stored answer."""
    cfg = load_config(config_path, env_file)
    asyncio.run(_run(cfg, thread_id, limit, as_json))


async def _run(cfg, thread_id: str | None, limit: int, as_json: bool) -> None:
    import orjson

    from ..store.db import Database
    from ..store.threads import ThreadNotFound, ThreadStore

    db = Database.from_settings(cfg.settings)
    store = ThreadStore(db)
    try:
        if thread_id:
            t = await store.get(thread_id)
        else:
            listed = await store.recent(limit)
    except ThreadNotFound:
        fail(f"no thread {thread_id}; `accord threads` lists them", 2)
    finally:
        await db.close()
    if not thread_id:
        if as_json:
            click.echo(orjson.dumps(listed, option=orjson.OPT_INDENT_2).decode())
            return
        if not listed:
            click.echo("no threads yet")
        for row in listed:
            kind = row["tool"] + (f"/{row['mode']}" if row["mode"] else "")
            click.echo(f"{row['id']}  {row['updated_at'][:19]}  {kind:<20} {row['status']:<11} "
                       f"${row['cost']:<9.4f} {row['title'][:60]}")
        return
    if as_json:
        click.echo(orjson.dumps(t, option=orjson.OPT_INDENT_2).decode())
        return
    click.secho(f"{t['id']}  {t['tool']}  {t['status']}  {t['prompt_tokens'] + t['completion_tokens']} tokens  "
                f"${t['cost']:.4f}", bold=True)
    r = t.get("result") or {}
    if t["status"] == "running" and r.get("background"):
        click.secho("\nstill running (a background run); run again for more", fg="yellow")
        for who, st in (r.get("progress") or {}).items():
            click.echo(f"  {who}: {st.get('state')}" + (f" ({st['detail']})" if st.get("detail") else ""))
        for who, text in (r.get("partial") or {}).items():
            click.secho(f"\n— {who}, so far", fg="cyan")
            click.echo(text)
    for m in t["messages"]:
        who = m["role"] + (f" {m['model']}" if m["model"] else "") + (f" ({m['stance']})" if m["stance"] else "")
        click.secho(f"\n— {who}" + (f" · {m['latency']:.1f} s" if m["latency"] else ""), fg="cyan")
        click.echo(m["content"] if m["status"] == "ok" else f"{m['status']}: {m['error']}")
