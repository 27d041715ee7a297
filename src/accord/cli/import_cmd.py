"""`accord import FILE...`: a LiteLLM config.yaml, PAL's custom_models.json and PAL's .env into accord.yaml."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import fail


@click.command("import")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--out", "out_path", metavar="PATH", help="Where to write (default: $XDG_CONFIG_HOME/accord/accord.yaml).")
@click.option("--yes", "-y", is_flag=True, help="Overwrite an existing output without asking.")
@click.option("--use-litellm-database", "litellm_database", is_flag=True,
              help="Keep Accord's own tables in LiteLLM's PostgreSQL database (DATABASE_URL), beside LiteLLM's. "
                   "Default: Accord's own store (SQLite), apart from LiteLLM's tables.")
def import_(files: tuple[str, ...], out_path: str | None, yes: bool, litellm_database: bool) -> None:
    """Convert a LiteLLM config.yaml, a PAL custom_models.json and PAL's .env into one accord.yaml.

    Each file's kind is recognised by its content; everything that cannot be mapped is listed with the reason.
    Keys go to the env file beside the output, never into accord.yaml.
    """
    from .. import config as config_mod
    from ..setup.importer import ImportProblem, convert
    from ..setup.writer import render_yaml, update_env_file, write_text

    inputs = []
    for f in files:
        p = Path(f).expanduser()
        try:
            inputs.append((str(p), p.read_text(encoding="utf-8")))
        except FileNotFoundError:
            fail(f"{p}: no such file", 2)
        except (OSError, UnicodeDecodeError) as e:
            fail(f"{p}: cannot read it ({getattr(e, 'strerror', None) or e.__class__.__name__})", 2)
    try:
        result = convert(inputs, litellm_database=litellm_database)
    except ImportProblem as e:
        fail(str(e), 2)
    out = Path(out_path).expanduser() if out_path else config_mod.config_dir() / "accord.yaml"
    out = out.absolute()
    if out.is_dir():
        fail(f"{out} is a folder; give the file to write, e.g. --out {out / 'accord.yaml'}", 2)
    if out.exists() and not yes:
        if not sys.stdin.isatty():
            fail(f"{out} exists; pass --yes to overwrite it (nothing was written)", 2)
        if not click.confirm(f"{out} exists. Overwrite it?", default=False):
            click.echo("Nothing written.")
            return
    header = "# Converted by `accord import` from: " + ", ".join(f"{Path(n).name} ({k})" for n, k in result.kinds)
    env_path = out.parent / "env"
    try:
        write_text(out, render_yaml(result.data, header))
        if result.env:
            update_env_file(env_path, result.env)
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror or e}", 1)
    n, d = len({m["name"] for m in result.models}), len(result.models)
    click.secho(f"wrote {out} ({n} models{f', {d} deployments' if d != n else ''})", fg="green")
    if result.env:
        click.secho(f"wrote {env_path} (mode 0600: {', '.join(result.env)})", fg="green")
    for note in result.notes:
        click.echo(f"note: {note}")
    missing = _unset_refs(result.data, result.env, env_path)
    if missing:
        click.echo(f"note: the config reads {', '.join(missing)} from the environment: add {'it' if len(missing) == 1 else 'them'} to {env_path} "
                   "(or export them) before `accord config check`")
    if result.skipped:
        click.echo(f"not imported ({len(result.skipped)}):")
        for s in result.skipped:
            click.echo(f"  - {s}")


def _unset_refs(data: dict, new_env: dict[str, str], env_path: Path) -> list[str]:
    import os
    import re

    from .. import envfile

    try:
        have = {**envfile.parse(env_path.read_text(encoding="utf-8"))} if env_path.is_file() else {}
    except Exception:
        have = {}
    names = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", str(data))
    return sorted({n for n in names if n not in have and n not in new_env and n not in os.environ})
