"""`accord claude install | uninstall | status`: register Accord's MCP server with Claude Code, or (--gateway)
run Claude Code itself on Accord's models."""

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
@click.option("--url", help="The MCP endpoint (http; default: http://<host>:<port>/mcp from the config); with "
              "--gateway, Accord's address (default: http://<host>:<port>).")
@click.option("--tool-timeout", default=900_000, show_default=True, type=click.IntRange(1000),
              help="MCP_TOOL_TIMEOUT in ms: how long Claude Code waits for a tool (slow reasoning models).")
@click.option("--start-timeout", default=30_000, show_default=True, type=click.IntRange(1000),
              help="MCP_TIMEOUT in ms: how long Claude Code waits for the server to start.")
@click.option("--keep-pal", is_flag=True, help="Leave PAL's entry registered beside Accord's (default: replace it, "
                                                "after a backup of the file).")
@click.option("--gateway", is_flag=True,
              help="Instead: run Claude Code itself on Accord's models (ANTHROPIC_BASE_URL -> `accord serve`).")
@click.option("--model", "main_model", metavar="NAME", help="--gateway: the model Claude Code runs on.")
@click.option("--opus", metavar="NAME", help="--gateway: the model for Claude Code's opus slot (default: --model).")
@click.option("--sonnet", metavar="NAME", help="--gateway: the model for its sonnet slot (default: --model).")
@click.option("--haiku", metavar="NAME",
              help="--gateway: the model for its haiku slot, used for background work (default: --model).")
@click.option("--key", "token", metavar="KEY",
              help="--gateway: the key Claude Code sends (e.g. a virtual key; default: the master key).")
@config_option
@cli_option
def install(scope: str, transport: str, url: str | None, tool_timeout: int, start_timeout: int,
            keep_pal: bool, gateway: bool, main_model: str | None, opus: str | None, sonnet: str | None,
            haiku: str | None, token: str | None, config_path: str | None, use_cli: bool | None) -> None:
    """Register Accord (replacing an `accord` entry, and PAL's, already there) and raise Claude Code's MCP
    time-outs.

    With --gateway, point Claude Code itself at `accord serve` instead, on the models you pick."""
    if gateway:
        install_gateway(scope, url, main_model, {"opus": opus, "sonnet": sonnet, "haiku": haiku}, token,
                         config_path)
        return
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
        entry = cc.http_entry(url, header)
    else:
        entry = cc.stdio_entry(exe, args)
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


def install_gateway(scope: str, url: str | None, model: str | None, slots: dict[str, str | None],
                     token: str | None, config_path: str | None) -> None:
    from ..setup import claude_config as cc
    from ..setup import claude_gateway as gw
    from ..setup.probe import local_host
    from ..store.paths import data_dir
    from .common import load_config

    if scope == "project":
        fail("--gateway writes a key, which must not go into the project's shared .claude/settings.json: use "
             "--scope local (.claude/settings.local.json, yours only) or --scope user", 2)
    cfg = load_config(config_path)
    served: dict[str, str] = {}
    for d in cfg.deployments:
        if d.info.mode == "chat":
            served.setdefault(d.name.lower(), d.name)
            for a in d.aliases:
                served.setdefault(a.lower(), a)
    names = ", ".join(dict.fromkeys(served.values())) or "none (add models with `accord init`)"
    if model is None:
        fail(f"say which model Claude Code runs on: --model NAME (served: {names}); --opus, --sonnet and "
             "--haiku map its other slots", 2)
    picked = {"model": model, **{k: v for k, v in slots.items() if v}}
    for opt, name in picked.items():
        if name.lower() not in served:
            fail(f"--{opt} {name}: not a model this config serves; served: {names}", 2)
    picked = {k: served[v.lower()] for k, v in picked.items()}
    s = cfg.settings
    url = url or f"http://{local_host(s.host)}:{s.port}"
    if token is None:
        token = s.master_key or "accord-open"  # an open loopback server takes any key; Claude Code wants one
        where = ("the master key" + (f" (from {cfg.master_key_env})" if cfg.master_key_env else "")
                 if s.master_key else "a placeholder: this server has no master key and takes any key")
    else:
        where = "the key given"
    values = gw.values(url, token, picked.pop("model"), picked)
    p = _place(scope)
    try:
        gw.install(p.settings, values, data_dir(s))
    except cc.ClaudeConfigError as e:
        fail(str(e), 2)
    except OSError as e:
        fail(f"cannot write Claude Code's settings: {e.strerror or e}", 1)
    click.echo(f"Claude Code runs on Accord ({url}), scope {scope}: wrote {p.settings} (env)")
    click.echo(f"  {gw.MODEL}={values[gw.MODEL]}; opus={values[gw.SLOTS['opus']]}, "
               f"sonnet={values[gw.SLOTS['sonnet']]}, haiku={values[gw.SLOTS['haiku']]}")
    click.echo(f"  {gw.TOKEN}: {where}, written in the file (Claude Code does not expand ${{VARS}} there); "
               "the file is readable by you only")
    click.echo("  `accord serve` must be running")
    click.echo(f"undo: accord claude uninstall --gateway --scope {scope}")


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
@click.option("--gateway", is_flag=True, help="Instead: stop running Claude Code on Accord (what "
                                                "`install --gateway` wrote, and only that, is removed).")
@config_option
@cli_option
def uninstall(scope: str, gateway: bool, config_path: str | None, use_cli: bool | None) -> None:
    """Remove the `accord` MCP server from Claude Code (the time-out settings stay)."""
    from ..setup import claude_config as cc

    p = _place(scope)
    if gateway:
        from ..setup import claude_gateway as gw
        from ..store.paths import data_dir
        from .common import load_config

        try:
            done, kept = gw.uninstall(p.settings, data_dir(load_config(config_path).settings))
        except cc.ClaudeConfigError as e:
            fail(str(e), 2)
        if not done and not kept:
            click.echo(f"Claude Code was not set to run on Accord by `install --gateway` in scope {scope}")
            return
        click.echo(f"Claude Code no longer runs on Accord in scope {scope} ({p.settings}): removed "
                   f"{', '.join(done) or 'nothing'}")
        if kept:
            click.echo(f"  left {', '.join(kept)}: changed since `install --gateway` wrote them")
        return
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
    from ..setup import claude_gateway as gw

    found = 0
    try:
        for scope in cc.SCOPES:
            p = _place(scope)
            entry = cc.get_server(p)
            if entry:
                found += 1
                click.echo(f"{scope:8} {cc.describe(entry)}   ({p.file})")
            env = gw.current(p.settings)
            if env:
                found += 1
                slots = ", ".join(f"{k}={env[v]}" for k, v in gw.SLOTS.items() if v in env)
                token = "set" if env.get(gw.TOKEN) else "not set"
                click.echo(f"{scope:8} Claude Code runs on {env[gw.BASE_URL]}: model {env.get(gw.MODEL, '?')}"
                           f"{'; ' + slots if slots else ''}; token {token}   ({p.settings})")
            t = cc.timeouts(p.settings)
            if t:
                click.echo(f"{'':8} timeouts in {p.settings}: " + ", ".join(f"{k}={v}" for k, v in t.items()))
    except cc.ClaudeConfigError as e:
        fail(str(e), 2)
    if not found:
        click.echo("`accord` is not registered with Claude Code here; run `accord claude install` (MCP tools) "
                   "or `accord claude install --gateway --model NAME` (Claude Code on Accord's models)")
        raise SystemExit(1)
