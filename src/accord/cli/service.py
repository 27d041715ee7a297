"""`accord service install | uninstall | status | logs`: Accord as a systemd user unit or a launchd agent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import click

from .common import config_option, fail

platform_option = click.option("--platform", type=click.Choice(["linux", "macos"]),
                               help="Which OS to write for (default: this one).")


def _platform(given: str | None) -> str:
    from ..setup.unit import current_platform

    found = given or current_platform()
    if found is None:
        fail("this OS has no supported service manager; pass --platform linux or --platform macos", 2)
    return found


def _run(cmd: list[str], timeout: float = 30) -> tuple[int | None, str]:
    """(exit code, output); exit code None when the program is missing or hangs."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return None, f"{cmd[0]} not found"
    except subprocess.TimeoutExpired:
        return None, f"{cmd[0]} did not answer within {timeout:.0f} s"
    except OSError as e:
        return None, f"{cmd[0]}: {e.strerror or e}"
    return r.returncode, (r.stdout + r.stderr).strip()


def _start_commands(platform: str, file: Path) -> list[list[str]]:
    from ..setup.unit import LABEL

    if platform == "linux":
        return [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", "accord"]]
    return [["launchctl", "bootstrap", f"gui/{os.getuid()}", str(file)],
            ["launchctl", "kickstart", f"gui/{os.getuid()}/{LABEL}"]]


def _stop_commands(platform: str) -> list[list[str]]:
    from ..setup.unit import LABEL

    if platform == "linux":
        return [["systemctl", "--user", "disable", "--now", "accord"], ["systemctl", "--user", "daemon-reload"]]
    return [["launchctl", "bootout", f"gui/{os.getuid()}/{LABEL}"]]


def _show(cmds: list[list[str]]) -> str:
    return "\n".join("  " + " ".join(c) for c in cmds)


def _execute(cmds: list[list[str]], what: str) -> bool:
    for cmd in cmds:
        rc, out = _run(cmd)
        if rc != 0:
            why = out.splitlines()[-1] if out else f"exit code {rc}"
            click.secho(f"could not {what}: `{' '.join(cmd)}` failed: {why}", fg="yellow", err=True)
            click.echo(f"Run these yourself once the service manager is reachable:\n{_show(cmds)}")
            return False
    return True


@click.group()
def service() -> None:
    """Run Accord as a background service: a systemd user unit (Linux) or a launchd agent (macOS)."""


@service.command()
@config_option
@platform_option
@click.option("--no-start", is_flag=True, help="Only write the files; do not enable or start the service.")
def install(config_path: str | None, platform: str | None, no_start: bool) -> None:
    """Write the unit (or plist) that runs `accord serve` with this config, then start it."""
    from .. import config as config_mod
    from ..errors import ConfigError
    from ..setup import unit

    plat = _platform(platform)
    try:
        found = config_mod.find(config_path)
        if found is None:
            fail("no config found: run `accord init` first, or pass --config FILE", 2)
        config_mod.load(found)
    except ConfigError as e:
        fail(f"the config does not load, so the service would not start: {e}", 2)
    cfg = found.resolve()
    env_file = cfg.parent / "env"
    exe = unit.accord_executable()
    t = unit.target(plat)
    if plat == "linux":
        content = unit.render_systemd(exe, cfg, env_file).encode()
    else:
        content = unit.render_plist(exe, cfg, t)
        problems = unit.validate_plist(content)
        if problems:
            fail(f"the generated plist is not valid: {'; '.join(problems)}", 1)
    try:
        t.file.parent.mkdir(parents=True, exist_ok=True)
        t.file.write_bytes(content)
        if t.log_out:
            t.log_out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"cannot write {t.file}: {e.strerror or e}", 1)
    click.echo(f"wrote {t.file}")
    click.echo(f"  runs: {exe} serve --config {cfg}")
    click.echo(f"  env:  {env_file}{'' if env_file.is_file() else ' (not there yet; Accord reads it when it is)'}")
    if t.log_out:
        click.echo(f"  logs: {t.log_out}, {t.log_err}")
    if plat == "linux":
        problems = _verify_unit(t.file)
        if problems:
            fail("systemd-analyze verify found problems:\n" + "\n".join(problems), 1)
    undo = "accord service uninstall" + (" --platform macos" if plat == "macos" else "")
    manual_undo = (f"systemctl --user disable --now accord; rm {t.file}" if plat == "linux"
                   else f"launchctl bootout gui/$(id -u)/{unit.LABEL}; rm {t.file}")
    cmds = _start_commands(plat, t.file)
    if no_start or plat != unit.current_platform():
        why = "--no-start" if no_start else f"written for {plat}, not this OS"
        click.echo(f"not started ({why}); to start it:\n{_show(cmds)}")
    elif _execute(cmds, "start the service"):
        click.secho("started: `accord service status` shows it, `accord service logs` its output", fg="green")
    else:
        click.echo(f"undo: {undo}   (by hand: {manual_undo})")
        raise SystemExit(1)
    click.echo(f"undo: {undo}   (by hand: {manual_undo})")
    if plat == "linux":
        click.echo("to keep it running while you are logged out: loginctl enable-linger $USER")


def _verify_unit(file: Path) -> list[str]:
    """systemd-analyze's complaints about our unit (none when the tool is missing)."""
    import shutil

    if not shutil.which("systemd-analyze"):
        return []
    _, out = _run(["systemd-analyze", "verify", str(file)], timeout=30)
    # only what concerns our file: the tool also reports on the machine's other units
    return [ln for ln in out.splitlines() if file.name in ln]


@service.command()
@platform_option
@click.option("--no-stop", is_flag=True, help="Only remove the files; do not stop the service.")
def uninstall(platform: str | None, no_stop: bool) -> None:
    """Stop the service and remove its unit (or plist)."""
    from ..setup import unit

    plat = _platform(platform)
    t = unit.target(plat)
    if not t.file.exists():
        click.echo(f"not installed (no {t.file})")
        return
    cmds = _stop_commands(plat)
    if not no_stop and plat == unit.current_platform():
        _execute(cmds[:1], "stop the service")
    try:
        t.file.unlink()
    except OSError as e:
        fail(f"cannot remove {t.file}: {e.strerror or e}", 1)
    click.echo(f"removed {t.file}")
    if plat == "linux" and not no_stop and unit.current_platform() == "linux":
        _run(cmds[-1])


@service.command()
@platform_option
def status(platform: str | None) -> None:
    """Whether the service is installed and running."""
    from ..setup import unit

    plat = _platform(platform)
    t = unit.target(plat)
    if not t.file.exists():
        click.echo(f"not installed (no {t.file}); install with `accord service install`")
        raise SystemExit(3)
    click.echo(f"installed: {t.file}")
    cmd = (["systemctl", "--user", "status", "accord", "--no-pager"] if plat == "linux"
           else ["launchctl", "print", f"gui/{os.getuid()}/{unit.LABEL}"])
    rc, out = _run(cmd)
    if rc is None or (plat == "linux" and "Failed to connect to bus" in out):
        click.secho(f"cannot ask the service manager: {out.splitlines()[-1] if out else cmd[0]}", fg="yellow",
                    err=True)
        click.echo(f"(`{' '.join(cmd)}` shows the state where {cmd[0]} works)")
        raise SystemExit(1)
    click.echo(out)
    raise SystemExit(0 if rc == 0 else 3)


@service.command()
@platform_option
@click.option("--lines", "-n", default=100, show_default=True, help="How many lines.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines.")
def logs(platform: str | None, lines: int, follow: bool) -> None:
    """The service's log (journalctl on Linux, the log files on macOS)."""
    from ..setup import unit

    plat = _platform(platform)
    t = unit.target(plat)
    if plat == "linux":
        cmd = ["journalctl", "--user", "-u", "accord", "-n", str(lines), "--no-pager", *(["-f"] if follow else [])]
        try:
            raise SystemExit(subprocess.call(cmd))
        except FileNotFoundError:
            fail("journalctl not found: the service's output goes to the systemd journal, which is not "
                 "available here", 1)
    files = [p for p in (t.log_out, t.log_err) if p and p.exists()]
    if not files:
        fail(f"no log files yet ({t.log_out}, {t.log_err}); is the service installed and started?", 1)
    if follow:
        try:
            raise SystemExit(subprocess.call(["tail", "-n", str(lines), "-F", *map(str, files)]))
        except FileNotFoundError:
            fail("tail not found; read the files directly: " + ", ".join(map(str, files)), 1)
    for p in files:
        click.echo(f"==> {p} <==")
        text = p.read_text(encoding="utf-8", errors="replace").splitlines()
        click.echo("\n".join(text[-lines:]))
