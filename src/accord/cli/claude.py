"""`accord claude install | uninstall | status`: register Accord's MCP server with Claude Code."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import config_option, fail

if TYPE_CHECKING:
    from ..setup.claude_config import Place

scope_option = click.option("--scope", type=click.Choice(["user", "project", "local"]), default="user",
                            show_default=True, help="user: every project; project: .mcp.json here (shared); "
                                                    "local: this folder, only for you.")
cli_option = click.option("--cli/--no-cli", "use_cli", default=None,
                          help="Use the `claude` command (default: when it is on PATH) or write the files.")


def _claude(args: list[str]) -> tuple[int | None, str]:
    try:
        r = subprocess.run(["claude", *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    return r.returncode, (r.stdout + r.stderr).strip()


def _place(scope: str):
    from ..setup.claude_config import place

    return place(scope, Path.home(), Path.cwd().absolute())


@click.group()
def claude() -> None:
    """Register Accord's MCP server with Claude Code, and show what is registered."""


@claude.command()
@scope_option
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True,
              help="stdio: Claude Code starts `accord mcp`; http: it connects to a running `accord serve`.")
@click.option("--url", help="The MCP endpoint (http; default: http://<host>:<port>/mcp from the config).")
@click.option("--tool-timeout", default=900_000, show_default=True, type=click.IntRange(1000),
              help="MCP_TOOL_TIMEOUT in ms: how long Claude Code waits for a tool (slow reasoning models).")
@click.option("--start-timeout", default=30_000, show_default=True, type=click.IntRange(1000),
              help="MCP_TIMEOUT in ms: how long Claude Code waits for the server to start.")
@click.option("--keep-pal", is_flag=True, help="Leave PAL's entry registered beside Accord's (default: replace it, "
                                                "after a backup of the file).")
@config_option
@cli_option
def install(scope: str, transport: str, url: str | None, tool_timeout: int, start_timeout: int,
            keep_pal: bool, config_path: str | None, use_cli: bool | None) -> None:
    """Register Accord (replacing an `accord` entry, and PAL's, already there) and raise Claude Code's MCP
    time-outs."""
    from .. import config as config_mod
    from ..errors import ConfigError
    from ..setup import claude_config as cc
    from ..setup.unit import accord_executable

    try:
        found = config_mod.find(config_path)
    except ConfigError as e:
        fail(str(e), 2)
    exe = accord_executable()
    args = ["mcp", *(["--config", str(found.resolve())] if found else [])]
    key_note = ""
    header: str | None = None
    if transport == "http":
        url, header, key_note = _http_target(config_path, url)
    entry = cc.http_entry(url, header) if transport == "http" else cc.stdio_entry(exe, args)
    p = _place(scope)
    if use_cli is None:
        use_cli = shutil.which("claude") is not None
    elif use_cli and not shutil.which("claude"):
        fail("the `claude` command is not on PATH (npm install -g @anthropic-ai/claude-code); "
             "without --cli Accord writes Claude Code's files itself", 2)
    try:
        pal_lines = _replace_pal(p, keep_pal)
        via = _register_cli(scope, transport, exe, args, url or "", header) if use_cli else None
        if via is None:
            cc.remove_server(p)
            cc.set_server(p, entry)
            via = f"wrote {p.file}" + (f" (projects[{p.keys[1]}])" if scope == "local" else "")
        env = cc.set_env(p.settings, {"MCP_TIMEOUT": str(start_timeout), "MCP_TOOL_TIMEOUT": str(tool_timeout)})
    except cc.ClaudeConfigError as e:
        fail(str(e), 2)
    except OSError as e:
        fail(f"cannot write Claude Code's config: {e.strerror or e}", 1)
    click.echo(f"registered `accord` for Claude Code, scope {scope}: {cc.describe(entry)}")
    click.echo(f"  {via}")
    click.echo(f"  {p.settings}: env " + ", ".join(f"{k}={v}" for k, v in env.items()))
    for line in pal_lines:
        click.echo(f"  {line}")
    if transport == "http":
        click.echo(f"  {key_note}; `accord serve` must be running")
    elif not found:
        click.echo("  no config file yet: `accord mcp` serves the providers whose keys are in its environment "
                   "(run `accord init`, then this again, to pin one)")
    click.echo(f"undo: accord claude uninstall --scope {scope}")
    click.echo("check: claude mcp list (restart Claude Code to pick it up)")


def _replace_pal(p: Place, keep: bool) -> list[str]:
    """Take PAL's entry out where Accord's goes (so Claude Code runs one server for the same job), after a
    backup of the file; say where else PAL is still registered."""
    from ..setup import claude_config as cc
    from ..setup.pal import is_server

    cwd = str(Path.cwd().absolute())
    here = {p.keys} | ({("projects", cwd, "mcpServers")} if p.scope == "user" else set())
    which = [(k, n) for k, n, e in cc.all_servers(cc.read_json(p.file)) if k in here and n != cc.SERVER
             and is_server(n, e)]
    lines = []
    names = ", ".join(f"`{n}`" for _, n in which)
    if which and keep:
        lines.append(f"PAL's entry {names} stays in {p.file} (--keep-pal): Claude Code runs both servers")
    elif which:
        backup = cc.remove_servers(p.file, which)
        lines.append(f"replaced PAL's entry {names} in {p.file}: Claude Code now has one server, Accord "
                     f"(backup of the file before: {backup})")
    for scope in cc.SCOPES:
        other = _place(scope)
        seen = set(which) if other.file == p.file else set()
        for keys, name, entry in cc.all_servers(cc.read_json(other.file)):
            if keys == other.keys and (keys, name) not in seen and name != cc.SERVER and is_server(name, entry) \
                    and (other.file != p.file or keys != p.keys):
                lines.append(f"PAL is still registered as `{name}` in {other.file} (scope {scope}): "
                             f"`accord claude install --scope {scope}` replaces it there")
    return lines


def _http_target(config_path: str | None, url: str | None) -> tuple[str, str, str]:
    """The config's own address and master-key variable: (url, Authorization header, what to tell)."""
    from ..setup.claude_config import bearer
    from ..setup.probe import local_host
    from .common import load_config

    cfg = load_config(config_path)
    s = cfg.settings
    if not cfg.mcp.http:
        fail(f"MCP over HTTP is off in {cfg.path or 'the config'} (mcp: http: false): turn it on, "
             "or register with --transport stdio", 2)
    url = url or f"http://{local_host(s.host)}:{s.port}/mcp"
    if not s.master_key:
        return url, bearer("ACCORD_MASTER_KEY"), (
            "no master key is set, and a server without one keeps /mcp off: set ACCORD_MASTER_KEY in Accord's env "
            "file and restart `accord serve` (the header reads ${ACCORD_MASTER_KEY} from Claude Code's environment), "
            "or register with --transport stdio, which needs no key")
    if cfg.master_key_env:
        var = cfg.master_key_env
        return url, bearer(var), (f"the header reads ${{{var}}} from Claude Code's environment: export {var} in "
                                  "your shell profile (its value is in Accord's env file)")
    return url, bearer("ACCORD_MASTER_KEY"), (
        f"the master key is written as it is in {cfg.path}, and Claude Code reads it only from its environment: "
        "the header reads ${ACCORD_MASTER_KEY}. Move the key to the env file as ACCORD_MASTER_KEY=..., write "
        "`master_key: ${ACCORD_MASTER_KEY}` in the config, and export ACCORD_MASTER_KEY in your shell profile")


def _register_cli(scope: str, transport: str, exe: str, args: list[str], url: str,
                  header: str | None) -> str | None:
    """Through `claude mcp add`; None (after saying why) when it fails, so the files are written instead."""
    from ..setup.claude_config import SERVER

    _claude(["mcp", "remove", "--scope", scope, SERVER])
    if transport == "http":
        cmd = ["mcp", "add", "--scope", scope, "--transport", "http", SERVER, url,
               *(["--header", f"Authorization: {header}"] if header else [])]
    else:
        cmd = ["mcp", "add", "--scope", scope, SERVER, "--", exe, *args]
    rc, out = _claude(cmd)
    if rc == 0:
        return f"via `claude mcp add --scope {scope}{' --transport http' if transport == 'http' else ''} {SERVER} ...`"
    click.secho(f"`claude mcp add` failed ({out.splitlines()[-1] if out else rc}); writing the files instead",
                fg="yellow", err=True)
    return None


@claude.command()
@scope_option
@cli_option
def uninstall(scope: str, use_cli: bool | None) -> None:
    """Remove the `accord` MCP server from Claude Code (the time-out settings stay)."""
    from ..setup import claude_config as cc

    p = _place(scope)
    try:
        removed = cc.remove_server(p)
    except cc.ClaudeConfigError as e:
        fail(str(e), 2)
    if (use_cli or use_cli is None) and shutil.which("claude"):
        rc, _ = _claude(["mcp", "remove", "--scope", scope, cc.SERVER])
        removed = removed or rc == 0
    click.echo(f"removed `accord` from scope {scope} ({p.file})" if removed
               else f"`accord` was not registered in scope {scope}")


@claude.command()
def status() -> None:
    """Where `accord` is registered for Claude Code (this folder and the user), and the MCP time-outs."""
    from ..setup import claude_config as cc

    found = 0
    try:
        for scope in cc.SCOPES:
            p = _place(scope)
            entry = cc.get_server(p)
            if entry:
                found += 1
                click.echo(f"{scope:8} {cc.describe(entry)}   ({p.file})")
            t = cc.timeouts(p.settings)
            if t:
                click.echo(f"{'':8} timeouts in {p.settings}: " + ", ".join(f"{k}={v}" for k, v in t.items()))
    except cc.ClaudeConfigError as e:
        fail(str(e), 2)
    if not found:
        click.echo("`accord` is not registered with Claude Code here; run `accord claude install`")
        raise SystemExit(1)
