"""`accord service`: the systemd unit and the launchd plist it writes, and how it talks to the managers."""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from servers import need

ACCORD = shutil.which("accord", path=str(Path(sys.executable).parent)) or "accord"
CONFIG = """settings: {master_key: '${ACCORD_MASTER_KEY}'}
models:
  - name: deepseek-chat
    model: deepseek/deepseek-chat
    api_key: ${DEEPSEEK_API_KEY}
"""


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ACCORD, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "cfg dir"  # a space, as in "Application Support"
    folder.mkdir()
    (folder / "accord.yaml").write_text(CONFIG)
    (folder / "env").write_text("DEEPSEEK_API_KEY=sk-svc\nACCORD_MASTER_KEY=sk-master-svc\n")
    os.chmod(folder / "env", 0o600)
    return folder / "accord.yaml"


def unit_path() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user" / "accord.service"


def fake_tool(bin_dir: Path, name: str, rc: int, message: str = "") -> Path:
    """A stand-in for systemctl / launchctl that records its arguments."""
    bin_dir.mkdir(exist_ok=True)
    log = bin_dir / f"{name}.calls"
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\necho \"$@\" >> '{log}'\necho '{message}' >&2\nexit {rc}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return log


# ------------------------------------------------------------------------------------------------ linux
def test_linux_unit_content(home, config):
    r = run("service", "install", "--platform", "linux", "--no-start", "--config", str(config))
    assert r.returncode == 0, r.stderr
    unit = unit_path()
    assert f"wrote {unit}" in r.stdout and "accord service uninstall" in r.stdout
    assert "systemctl --user enable --now accord" in r.stdout  # how to start it by hand
    text = unit.read_text()
    lines = text.splitlines()
    exe = str(Path(ACCORD).absolute())
    assert f'ExecStart={exe} serve --config "{config.resolve()}"' in lines
    assert f"EnvironmentFile=-{config.resolve().parent / 'env'}" in lines
    assert "Restart=on-failure" in lines and "WantedBy=default.target" in lines
    assert lines.index("[Service]") < lines.index("Restart=on-failure") < lines.index("[Install]")
    assert "sk-svc" not in text and "sk-master-svc" not in text  # keys stay in the env file


def test_linux_unit_passes_systemd_analyze_verify(home, config):
    need("systemd-analyze", how="Debian's `systemd` package; .ci/run installs it")
    r = run("service", "install", "--platform", "linux", "--no-start", "--config", str(config))
    assert r.returncode == 0, r.stderr
    v = subprocess.run(["systemd-analyze", "verify", str(unit_path())], capture_output=True, text=True, timeout=60)
    complaints = [ln for ln in (v.stdout + v.stderr).splitlines() if "accord.service" in ln]
    assert v.returncode == 0 and not complaints, v.stdout + v.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="starts through systemctl only on Linux")
def test_linux_start_runs_systemctl_and_reports_failure_clearly(home, config, tmp_path):
    bin_dir = tmp_path / "bin"
    calls = fake_tool(bin_dir, "systemctl", 0)
    r = run("service", "install", "--config", str(config), env={"PATH": str(bin_dir)})
    assert r.returncode == 0, r.stderr
    assert calls.read_text().splitlines() == ["--user daemon-reload", "--user enable --now accord"]
    assert "started" in r.stdout

    fake_tool(bin_dir, "systemctl", 1, "Failed to connect to bus: No medium found")
    r = run("service", "install", "--config", str(config), env={"PATH": str(bin_dir)})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "Failed to connect to bus" in r.stderr
    assert "systemctl --user daemon-reload" in r.stdout and "systemctl --user enable --now accord" in r.stdout

    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("service", "install", "--config", str(config), env={"PATH": str(empty)})
    assert r.returncode == 1 and "systemctl not found" in r.stderr and "Traceback" not in r.stderr

    r = run("service", "status", env={"PATH": str(empty)})
    assert r.returncode == 1 and "cannot ask the service manager" in r.stderr
    r = run("service", "logs", env={"PATH": str(empty)})
    assert r.returncode == 1 and "journalctl not found" in r.stderr

    calls.unlink()
    fake_tool(bin_dir, "systemctl", 0)
    r = run("service", "uninstall", env={"PATH": str(bin_dir)})
    assert r.returncode == 0 and not unit_path().exists()
    assert calls.read_text().splitlines() == ["--user disable --now accord", "--user daemon-reload"]


# ------------------------------------------------------------------------------------------------ macOS
def test_macos_plist(home, config):
    r = run("service", "install", "--platform", "macos", "--config", str(config))
    assert r.returncode == 0, r.stderr
    plist_path = home / "Library" / "LaunchAgents" / "dev.accord.serve.plist"
    assert f"wrote {plist_path}" in r.stdout
    if sys.platform != "darwin":
        assert "not started" in r.stdout and "launchctl bootstrap gui/" in r.stdout
    data = plistlib.loads(plist_path.read_bytes())
    exe = str(Path(ACCORD).absolute())
    assert data["Label"] == "dev.accord.serve"
    assert data["ProgramArguments"] == [exe, "serve", "--config", str(config.resolve())]
    assert data["EnvironmentVariables"]["PATH"].split(":")[0] == str(Path(exe).parent)
    assert "/usr/bin" in data["EnvironmentVariables"]["PATH"].split(":")
    assert not any("sk-" in v for v in data["EnvironmentVariables"].values())
    assert data["RunAtLoad"] is True and data["KeepAlive"] == {"SuccessfulExit": False}
    logs = home / "Library" / "Logs" / "accord"
    assert data["StandardOutPath"] == str(logs / "accord.out.log")
    assert data["StandardErrorPath"] == str(logs / "accord.err.log")
    assert logs.is_dir()

    from accord.setup.unit import validate_plist

    assert validate_plist(plist_path.read_bytes()) == []
    broken = dict(data)
    del broken["KeepAlive"]
    broken["ProgramArguments"] = ["accord", "serve"]
    assert validate_plist(plistlib.dumps(broken)) == ["missing key KeepAlive",
                                                     "ProgramArguments must start with an absolute path"]
    assert validate_plist(b"<plist><dict><key>x</key></plist>")[0].startswith("not a valid plist")

    (logs / "accord.err.log").write_text("".join(f"line {i}\n" for i in range(300)))
    r = run("service", "logs", "--platform", "macos", "-n", "3")
    assert r.returncode == 0 and r.stdout.splitlines()[-3:] == ["line 297", "line 298", "line 299"]

    r = run("service", "uninstall", "--platform", "macos")
    assert r.returncode == 0 and "removed" in r.stdout and not plist_path.exists()
    r = run("service", "uninstall", "--platform", "macos")
    assert r.returncode == 0 and "not installed" in r.stdout


# ------------------------------------------------------------------------------------------------ errors
def test_install_needs_a_loadable_config(home, tmp_path):
    r = run("service", "install", "--platform", "linux", "--no-start")
    assert r.returncode == 2 and "accord init" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - name: x\n    model: deepseek/x\n    temprature: 1\n")
    r = run("service", "install", "--platform", "linux", "--no-start", "--config", str(bad))
    assert r.returncode == 2 and "temprature" in r.stderr and not unit_path().exists()
    r = run("service", "install", "--platform", "windows")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_status_when_not_installed(home):
    for plat in ("linux", "macos"):
        r = run("service", "status", "--platform", plat)
        assert r.returncode == 3 and "not installed" in r.stdout
    r = run("service", "logs", "--platform", "macos")
    assert r.returncode == 1 and "no log files yet" in r.stderr
