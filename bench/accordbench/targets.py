"""The servers compared: the fake upstream (direct), Accord, LiteLLM's proxy; their configs and installs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .procs import Server, free_port

BENCH = Path(__file__).resolve().parent.parent
MASTER_KEY = "sk-bench"
# the newest release whose `proxy` extra resolves from PyPI when this was written (later ones pin
# litellm-proxy / litellm-proxy-extras versions that are not published); the one REFERENCE.md measured
LITELLM_VERSION = "1.108.7"
LITELLM_VENV = BENCH / ".venv-litellm"


def fake_upstream(work: Path, chunks: int, pace_ms: float, lock_wait: float | None = None) -> Server:
    port = free_port()
    argv = [sys.executable, str(BENCH / "fake_upstream.py"), "--port", str(port), "--chunks", str(chunks),
            "--pace-ms", str(pace_ms)] + ([] if lock_wait is None else ["--lock-wait", str(lock_wait)])
    return Server("direct", argv, port, work / "fake-upstream.log")


def accord_executable() -> list[str]:
    exe = Path(sys.executable).parent / "accord"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from accord.cli import main; main()"]


def accord_config(upstream_url: str, port: int, workers: int, extra_models: str = "") -> str:
    return f"""models:
  - name: m
    model: openai/gpt-4o-mini
    api_base: {upstream_url}/v1
    api_key: x
  - name: a
    model: anthropic/claude-bench
    api_base: {upstream_url}
    api_key: x
{extra_models}settings:
  master_key: {MASTER_KEY}
  port: {port}
  workers: {workers}
  log_level: warning
"""


def accord(work: Path, upstream_url: str, workers: int, extra: str = "", tag: str = "accord") -> Server:
    """`accord serve` as a user runs it; `extra` is appended to its config (top-level sections)."""
    port = free_port()
    cfg = work / f"{tag}.yaml"
    cfg.write_text(accord_config(upstream_url, port, workers) + extra)
    return Server(tag, [*accord_executable(), "serve", "-c", str(cfg)], port, work / f"{tag}.log")


# the gateway alone: no MCP endpoint mounted at /mcp (what the MCP SDK and the store add to start-up)
GATEWAY_ONLY = "mcp:\n  http: false\n"


def litellm_config(upstream_url: str) -> str:
    return f"""model_list:
  - model_name: m
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {upstream_url}/v1
      api_key: x
  - model_name: a
    litellm_params:
      model: anthropic/claude-bench
      api_base: {upstream_url}
      api_key: x
general_settings:
  master_key: {MASTER_KEY}
"""


def litellm_bin() -> Path:
    return LITELLM_VENV / "bin" / "litellm"


def litellm_python() -> Path:
    return LITELLM_VENV / "bin" / "python"


def ensure_litellm(log: Path) -> None:
    """Create bench/.venv-litellm with the pinned litellm[proxy], once; never touches Accord's environment."""
    marker = LITELLM_VENV / f".installed-{LITELLM_VERSION}"
    if marker.exists() and litellm_bin().exists():
        return
    print(f"bench: installing litellm[proxy]=={LITELLM_VERSION} into {LITELLM_VENV} (once; a few minutes)",
          flush=True)
    if not (LITELLM_VENV / "bin" / "pip").exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    with log.open("wb") as out:
        subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"],
                       check=True, stdout=out, stderr=subprocess.STDOUT)
    marker.touch()


def litellm(work: Path, upstream_url: str, workers: int) -> Server:
    port = free_port()
    cfg = work / "litellm.yaml"
    cfg.write_text(litellm_config(upstream_url))
    argv = [str(litellm_bin()), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port),
            "--num_workers", str(workers)]
    # no database (none configured); the bundled cost map instead of a network fetch at start-up
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return Server("litellm", argv, port, work / "litellm.log", env=env)


def has_wrk() -> bool:
    return shutil.which("wrk") is not None


def clean_env() -> None:
    """Keep the developer's Accord settings and any database URL out of the processes under test."""
    for k in list(os.environ):
        if k.startswith(("ACCORD_", "LITELLM_")) or k == "DATABASE_URL":
            del os.environ[k]


# ------------------------------------------------------------------ Portkey's open-source gateway (Node)
PORTKEY_VERSION = "1.15.2"
PORTKEY_DIR = BENCH / ".portkey"
# @hono/node-server > 1.14.2 makes Portkey's responses fail with `TypeError: immutable` (Portkey-AI/gateway
# issues 1389, 1550): pinned to the version that issue names as working
PORTKEY_PACKAGE = {"private": True, "dependencies": {"@portkey-ai/gateway": PORTKEY_VERSION},
                   "overrides": {"@hono/node-server": "1.14.2"}}


def portkey_entry() -> Path:
    return PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"


def portkey_installed() -> bool:
    return portkey_entry().exists() and shutil.which("node") is not None


def ensure_portkey(log: Path) -> None:
    """npm-install the pinned gateway into bench/.portkey (git-ignored), once; nothing global."""
    if portkey_installed():
        return
    if shutil.which("npm") is None:
        raise RuntimeError("Portkey needs Node.js and npm (apt-get install -y nodejs npm), or leave it out "
                           "with --targets")
    import json

    PORTKEY_DIR.mkdir(parents=True, exist_ok=True)
    (PORTKEY_DIR / "package.json").write_text(json.dumps(PORTKEY_PACKAGE, indent=2) + "\n")
    print(f"bench: installing @portkey-ai/gateway@{PORTKEY_VERSION} into {PORTKEY_DIR} (once)", flush=True)
    with log.open("wb") as out:
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=PORTKEY_DIR, check=True, stdout=out,
                       stderr=subprocess.STDOUT)


def portkey(work: Path) -> Server:
    """`node build/start-server.js --port=N --headless`: one Node process (it has no worker setting)."""
    port = free_port()
    argv = ["node", str(portkey_entry()), f"--port={port}", "--headless"]
    return Server("portkey", argv, port, work / "portkey.log", health="/")
