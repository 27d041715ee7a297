"""The service definitions `accord service install` writes: a systemd user unit and a launchd agent.

Both start `accord serve --config <abs path>`; Accord loads the env file beside its config itself, so the keys
reach the service however the service manager treats the environment.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

UNIT_NAME = "accord.service"
LABEL = "dev.accord.serve"
PLIST_REQUIRED = ("Label", "ProgramArguments", "EnvironmentVariables", "KeepAlive", "RunAtLoad",
                  "StandardOutPath", "StandardErrorPath")
DEFAULT_PATH = "/usr/local/bin:/opt/homebrew/bin:/usr/bin:/bin:/usr/sbin:/sbin"


@dataclass(frozen=True)
class Target:
    platform: str  # linux | macos
    file: Path  # the unit or plist
    log_out: Path | None = None  # macOS only: where launchd sends stdout / stderr
    log_err: Path | None = None


def current_platform() -> str | None:
    return {"linux": "linux", "darwin": "macos"}.get(sys.platform)


def accord_executable() -> str:
    """The absolute path of the `accord` being run (the venv's script), else the one on PATH."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "accord" and argv0.is_file():
        return str(argv0.absolute())
    beside = Path(sys.executable).parent / "accord"
    if beside.is_file():
        return str(beside)
    return shutil.which("accord") or str(beside)


def target(platform: str) -> Target:
    home = Path.home()
    if platform == "linux":
        base = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        return Target("linux", base / "systemd" / "user" / UNIT_NAME)
    logs = home / "Library" / "Logs" / "accord"
    return Target("macos", home / "Library" / "LaunchAgents" / f"{LABEL}.plist",
                  logs / "accord.out.log", logs / "accord.err.log")


def _quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "/._-+:=@,%" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_systemd(exe: str, config: Path, env_file: Path) -> str:
    cmd = " ".join(_quote(a) for a in (exe, "serve", "--config", str(config)))
    return f"""# Written by `accord service install`; remove with `accord service uninstall`.
[Unit]
Description=Accord: LLM gateway and MCP server
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
EnvironmentFile=-{env_file}
Environment=PYTHONUNBUFFERED=1
WorkingDirectory={config.parent}
ExecStart={cmd}
Restart=on-failure
RestartSec=5

[Install]
WantedBy=default.target
"""


def render_plist(exe: str, config: Path, t: Target) -> bytes:
    path = os.pathsep.join(dict.fromkeys([str(Path(exe).parent), *DEFAULT_PATH.split(":")]))
    data = {
        "Label": LABEL,
        "ProgramArguments": [exe, "serve", "--config", str(config)],
        "EnvironmentVariables": {"PATH": path, "PYTHONUNBUFFERED": "1", "ACCORD_CONFIG": str(config)},
        "WorkingDirectory": str(config.parent),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restart on failure, as systemd's Restart=on-failure
        "ThrottleInterval": 5,
        "StandardOutPath": str(t.log_out),
        "StandardErrorPath": str(t.log_err),
        "ProcessType": "Background",
    }
    return plistlib.dumps(data, fmt=plistlib.FMT_XML, sort_keys=False)


def validate_plist(raw: bytes) -> list[str]:
    """Problems with a launchd plist (empty when it is fine): parses, has the keys, absolute paths."""
    try:
        data = plistlib.loads(raw)
    except Exception as e:
        return [f"not a valid plist: {e}"]
    problems = [f"missing key {k}" for k in PLIST_REQUIRED if k not in data]
    args = data.get("ProgramArguments") or []
    if not args or not all(isinstance(a, str) for a in args) or not os.path.isabs(args[0]):
        problems.append("ProgramArguments must start with an absolute path")
    for k in ("StandardOutPath", "StandardErrorPath"):
        if k in data and not os.path.isabs(str(data[k])):
            problems.append(f"{k} must be an absolute path")
    if plistlib.loads(plistlib.dumps(data)) != data:
        problems.append("does not survive a plistlib round trip")
    return problems
