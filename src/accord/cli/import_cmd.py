"""`accord import FILE...`: a LiteLLM config.yaml, PAL's custom_models.json and PAL's .env into accord.yaml."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import fail


@click.command("import")
@click.argument("files", nargs=-1, metavar="[FILE...]")
@click.option("--out", "out_path", metavar="PATH", help="Where to write (default: $XDG_CONFIG_HOME/accord/accord.yaml).")
@click.option("--yes", "-y", is_flag=True, help="Overwrite an existing output without asking.")
@click.option("--use-litellm-database", "litellm_database", is_flag=True,
              help="Keep Accord's own tables in LiteLLM's PostgreSQL database (DATABASE_URL), beside LiteLLM's. "
                   "Default: Accord's own store (SQLite), apart from LiteLLM's tables.")
def import_(files: tuple[str, ...], out_path: str | None, yes: bool, litellm_database: bool) -> None:
    """Convert the LiteLLM + PAL setup into one accord.yaml: LiteLLM's config.yaml and .env, PAL's
    custom_models.json and .env, Claude Code's .mcp.json or ~/.claude.json with PAL's entry.

    With no FILE, looks for them where that setup keeps them and says what it found. Each file's kind is
    recognised by its content; everything that cannot be mapped is listed with the reason. Keys go to the env
    file beside the output, never into accord.yaml.
    """
    from .. import config as config_mod
    from ..setup.importer import ImportProblem, convert
    from ..setup.writer import render_yaml, update_env_file, write_text

    if not files:
        files = _discover()
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
    if any(k == "claude-mcp" for _, k in result.kinds):
        click.echo(f"next: accord claude install{'' if out_path is None else f' --config {out}'} registers Accord "
                   "with Claude Code in place of PAL's entry (the file is backed up first)")


def _discover() -> tuple[str, ...]:
    """The replaced setup's files where it keeps them, said before they are read."""
    from ..setup import discover

    home, cwd = Path.home(), Path.cwd()
    found = discover.find(home, cwd)
    if not found:
        fail("no FILE given, and no LiteLLM or PAL file found in the usual places ("
             + ", ".join(str(p).replace(str(home), "~", 1) for p in discover.searched(home, cwd))
             + "); give the files: accord import config.yaml .env .mcp.json ...", 2)
    click.echo("found the setup Accord replaces:")
    for path, what in found:
        click.echo(f"  {path}: {what}")
    click.echo("importing them (each file is checked by its content):")
    return tuple(str(p) for p, _ in found)


def _unset_refs(data: dict, new_env: dict[str, str], env_path: Path) -> list[str]:
    import os
    import re

    from ..config import envfile

    try:
        have = {**envfile.parse(env_path.read_text(encoding="utf-8"))} if env_path.is_file() else {}
    except Exception:
        have = {}
    names = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", str(data))
    return sorted({n for n in names if n not in have and n not in new_env and n not in os.environ})
