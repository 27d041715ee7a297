"""The layout rules of /work/shared/DESIGN.md, read from the source itself (every import `ast` finds: at module
level, inside functions, under TYPE_CHECKING, relative ones resolved, and modules loaded by name through
`importlib.import_module("accord.…")` or a `"accord.…:attr"` reference):

- the front-ends (gateway/, ui/, mcp/) are siblings: none imports another;
- the commands (cli/, setup/) reach the front-ends only through the composition root, accord/app.py, which only
  the CLI imports;
- the shared services (everything else) import no front-end, command or the root: imports point down;
- no import cycles among the modules of src/accord.

A package's `__init__` counts as a module of its own: `from ..gateway import routes` is an edge to
accord.gateway (its __init__ runs), `from . import chat` one to accord.gateway.chat. Importing a submodule also
runs its parents' `__init__`s, but that is not counted as an edge, or every `__init__` that re-exports a
submodule's names would be a cycle with it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import accord

SRC = Path(accord.__file__).parent
FRONT_ENDS = {"gateway", "ui", "mcp"}
COMMANDS = {"cli", "setup"}
ROOT = "accord.app"
_BY_NAME = re.compile(r"^(accord(?:\.\w+)+)(?::\w+)?$")


def modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's __init__)."""
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _by_name(node: ast.Call) -> list[str]:
    """Modules loaded by name: import_module("accord.x") (also handed to to_thread), or an "accord.x:attr"."""
    refs = [node.func, *node.args]
    names = {r.attr if isinstance(r, ast.Attribute) else r.id if isinstance(r, ast.Name) else "" for r in refs}
    if "import_module" not in names:
        return []
    return [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]


def imports(mods: dict[str, tuple[Path, bool]]) -> dict[str, set[tuple[str, int]]]:
    """Module -> {(imported module, line)}, for imports of modules of src/accord only."""
    edges: dict[str, set[tuple[str, int]]] = {m: set() for m in mods}
    for mod, (path, is_pkg) in mods.items():
        package = mod.split(".") if is_pkg else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            elif isinstance(node, ast.Call):
                targets = _by_name(node)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and ":" in node.value:
                m = _BY_NAME.match(node.value)  # "accord.x:attr", as uvicorn and the provider registry take them
                targets = [m.group(1)] if m and m.group(1) != mod else []
            for target in targets:
                while target and target not in mods and "." in target:  # import_module("accord.x.y") of a name
                    target = target.rsplit(".", 1)[0]
                if target in mods:
                    edges[mod].add((target, node.lineno))
    return edges


def layer(mod: str) -> str:
    """front-end | command | root | shared."""
    parts = mod.split(".")
    if mod == ROOT:
        return "root"
    if len(parts) > 1 and parts[1] in FRONT_ENDS:
        return "front-end"
    if len(parts) > 1 and parts[1] in COMMANDS:
        return "command"
    return "shared"


def cycles(edges: dict[str, set[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected components of more than one module, and modules importing themselves (Tarjan)."""
    graph = {m: {t for t, _ in e} for m, e in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def check_the_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Function-level, TYPE_CHECKING, relative and by-name imports are all edges (so none can hide a cycle)."""
    pkg = tmp_path / "accord"
    (pkg / "p").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "p" / "__init__.py").write_text("from .a import x\n")
    (pkg / "p" / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\nx = 1\n")
    (pkg / "p" / "b.py").write_text("import accord.q\n\n\ndef f():\n    from ..p import c\n")
    (pkg / "p" / "c.py").write_text("import importlib\nimportlib.import_module('accord.p.a')\nH = 'accord.q:App'\n")
    (pkg / "q.py").write_text("import json\n")
    monkeypatch.setattr(f"{__name__}.SRC", pkg)
    edges = {m: {t for t, _ in e} for m, e in imports(modules()).items()}
    assert edges == {"accord": set(), "accord.p": {"accord.p.a"}, "accord.p.a": {"accord.p.b"},
                     "accord.p.b": {"accord.p.c", "accord.q"}, "accord.p.c": {"accord.p.a", "accord.q"}, "accord.q": set()}
    assert cycles(imports(modules())) == [["accord.p.a", "accord.p.b", "accord.p.c"]]
    monkeypatch.undo()


def test_front_ends_are_siblings_and_imports_point_down():
    wrong = []
    for mod, targets in imports(modules()).items():
        for target, line in sorted(targets):
            here, there = layer(mod), layer(target)
            if there == "root" and not mod.startswith("accord.cli."):
                wrong.append(f"{mod}:{line} imports the composition root {target} (only the CLI may)")
            elif there == "front-end" and here == "front-end" and mod.split(".")[1] != target.split(".")[1]:
                wrong.append(f"{mod}:{line} imports {target}, another front-end")
            elif there == "front-end" and here in ("command", "shared"):
                wrong.append(f"{mod}:{line} ({here}) imports the front-end {target}")
            elif there == "command" and here in ("front-end", "shared"):
                wrong.append(f"{mod}:{line} ({here}) imports the command module {target}")
    assert wrong == []


def test_no_import_cycles(tmp_path, monkeypatch):
    check_the_reader(tmp_path, monkeypatch)  # a cycle hidden in a function or under TYPE_CHECKING is found
    found = cycles(imports(modules()))
    assert found == [], f"{len(found)} import cycles: {found}"


def test_test_folders_mirror_the_packages() -> None:
    """tests/<package>/test_<module>.py for what one package holds; besides those, only the cross-cutting
    folders (attacks, faults and load, end-to-end runs of real CLIs) and tests of top-level modules."""
    tests = Path(__file__).parent
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    folders = {d.name for d in tests.iterdir() if d.is_dir() and any(d.glob("test_*.py"))}
    assert folders - packages <= {"security", "reliability", "e2e"}, folders - packages
    assert folders & packages, "no test folder mirrors a package"
