"""`accord models`: what this config serves, with capabilities and prices from the catalog."""

from __future__ import annotations

import click

from .common import config_option, env_file_option, load_config


def _tokens(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{round(n / 1000)}k" if n else "-"


@click.command()
@config_option
@env_file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def models(config_path: str | None, env_file: str | None, as_json: bool) -> None:
    """List the models this config serves."""
    cfg = load_config(config_path, env_file)
    rows = []
    seen: set[str] = set()
    for d in cfg.deployments:
        if d.name in seen:
            continue
        seen.add(d.name)
        i = d.info
        rows.append({
            "name": d.name, "provider": d.vendor.name, "model": d.model, "aliases": list(d.aliases),
            "context_window": i.context_window, "max_output_tokens": i.max_output_tokens,
            "thinking": i.thinking, "vision": i.vision, "tools": i.tools, "intelligence": i.intelligence,
            "input_price": i.input_price, "output_price": i.output_price, "in_catalog": i.known,
        })
    if as_json:
        import orjson

        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo("No models. Add one to accord.yaml (`accord init`), or set a provider key such as "
                   "DEEPSEEK_API_KEY.")
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=None, show_lines=False)
    for col, just in (("name", "left"), ("provider", "left"), ("context", "right"), ("thinking", "center"),
                      ("vision", "center"), ("$ in/out per M", "right"), ("score", "right"), ("aliases", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        price = f"{r['input_price']:g} / {r['output_price']:g}" if r["in_catalog"] else "unknown"
        t.add_row(r["name"], r["provider"], _tokens(r["context_window"]), "yes" if r["thinking"] else "",
                  "yes" if r["vision"] else "", price, str(r["intelligence"]), ", ".join(r["aliases"]))
    Console().print(t)
