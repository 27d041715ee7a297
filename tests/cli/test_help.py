"""Accord as `pip install .` leaves it: no test-only package is imported, every command's --help works."""

from __future__ import annotations

import ast
import contextlib
import os
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from test_main import run
from test_serve import Served, config

from cli_commands import command_paths
from fakes import free_port

SRC = Path(__file__).parents[2] / "src" / "accord"
TEST_ONLY = ("httpx", "openai", "anthropic", "psutil", "pexpect", "pytest", "hypothesis", "schemathesis",
             "playwright")


def test_every_command_and_subcommand_has_help():
    paths = command_paths()
    assert ["claude", "install"] in paths and ["keys", "create"] in paths  # the walk reaches sub-commands
    for path in paths:
        r = run(*path, "--help")
        assert r.returncode == 0 and "Traceback" not in r.stderr, (path, r.stderr)
        assert "Usage:" in r.stdout, path


def _runtime_distributions() -> set[str]:
    """Accord's runtime dependencies and theirs, without the test extra."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in metadata.requires("accord") or []]
    while todo:
        req = todo.pop()
        marker = str(req.marker or "")
        if 'extra == "test"' in marker or ("extra" not in marker and req.marker and not req.marker.evaluate()):
            continue
        name = req.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        with contextlib.suppress(metadata.PackageNotFoundError):  # an optional extra not installed here
            todo.extend(Requirement(r) for r in metadata.requires(req.name) or [] if "extra ==" not in r)
    return seen


def test_src_imports_only_runtime_dependencies():
    allowed = _runtime_distributions()
    owners = metadata.packages_distributions()
    bad = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("accord", "__future__"):
                    continue
                # a package not installed here (an optional extra such as uvloop) is known by its own name
                dists = {re.sub(r"[-_.]+", "-", d).lower() for d in owners.get(top, [top])}
                if not dists & allowed:
                    bad.append(f"{path.relative_to(SRC)}:{node.lineno} imports {top} ({', '.join(dists) or '?'})")
    assert not bad, "not a runtime dependency in pyproject.toml:\n" + "\n".join(bad)


@pytest.fixture
def without_test_packages(tmp_path: Path) -> dict:
    """An environment where the test-only packages cannot be imported, as after a plain `pip install .`."""
    shims = tmp_path / "no-test-packages"
    shims.mkdir()
    for name in TEST_ONLY:
        (shims / f"{name}.py").write_text(f"raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(shims), os.environ.get("PYTHONPATH")]))}


def test_reload_and_doctor_work_without_test_packages(tmp_path, without_test_packages):
    port = free_port()
    cfg = config(tmp_path, port)
    served = Served("--config", str(cfg), env=without_test_packages).wait_ready(port)
    try:
        r = run("reload", "--config", str(cfg), env=without_test_packages)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert "reloaded: 1 models" in r.stdout
        r = run("doctor", "--no-models", "--json", "--config", str(cfg), env=without_test_packages)
        assert "Traceback" not in r.stderr, r.stderr
        assert '"port"' in r.stdout and "with this config" in r.stdout
    finally:
        out = served.stop()
    assert "Traceback" not in out


def test_reload_with_no_server_is_a_clear_error(tmp_path, without_test_packages):
    cfg = config(tmp_path, free_port())
    r = run("reload", "--config", str(cfg), env=without_test_packages)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "no Accord server answers" in r.stderr and "accord serve" in r.stderr
