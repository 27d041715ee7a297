"""`accord models`: what this config serves, with capabilities and prices from the catalog."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from .common import config_option, env_file_option, load_config

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


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

    console = Console()
    for shown in range(len(_COLUMNS), 0, -1):  # drop the least useful columns until the names fit whole
        t = _table(rows, _COLUMNS[:shown])
        if _fits(console, t, rows):
            break
    else:  # a name wider than the terminal itself: fold it over lines, still whole
        t = _table(rows, _COLUMNS[:1], fold_names=True)
    console.print(t)


# (header, justify, cell) in the order they give way: the last is dropped first when the terminal is narrow
_COLUMNS: list[tuple[str, str, Callable[[dict], str]]] = [
    ("name", "left", lambda r: r["name"]),
    ("provider", "left", lambda r: r["provider"]),
    ("context", "right", lambda r: _tokens(r["context_window"])),
    ("$ in/out per M", "right",
     lambda r: f"{r['input_price']:g} / {r['output_price']:g}" if r["in_catalog"] else "unknown"),
    ("thinking", "center", lambda r: "yes" if r["thinking"] else ""),
    ("score", "right", lambda r: str(r["intelligence"])),
    ("vision", "center", lambda r: "yes" if r["vision"] else ""),
    ("aliases", "left", lambda r: ", ".join(r["aliases"])),
]


def _fits(console: Console, table: Table, rows: list[dict]) -> bool:
    """Rendered at this width, the table is whole (its right border shows) and every name is on one line."""
    with console.capture() as cap:
        console.print(table)
    text = cap.get()
    return text.splitlines()[0].rstrip().endswith("┓") and all(r["name"] in text for r in rows)


def _table(rows: list[dict], columns: list, fold_names: bool = False) -> Table:
    """Names are never cut (an ellipsis would leave a name nobody can type); other columns break only between
    words, so a column that cannot fit its longest word is dropped instead."""
    from rich.table import Table

    t = Table(title=None, show_lines=False)
    cells = [[cell(r) for _, _, cell in columns] for r in rows]
    for i, (header, just, _) in enumerate(columns):
        words = [w for text in (header, *(c[i] for c in cells)) for w in text.split()]
        widest = max(map(len, words), default=1)
        if i == 0:
            t.add_column(header, justify=just, no_wrap=not fold_names, overflow="fold",
                         min_width=None if fold_names else max(len(c[0]) for c in cells))
        else:
            t.add_column(header, justify=just, overflow="fold", min_width=widest)
    for row in cells:
        t.add_row(*row)
    return t
