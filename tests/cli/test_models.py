"""`accord models` in narrow terminals: a model's name is what you type, so it is never cut."""

from __future__ import annotations

import pytest
from test_main import run

NAMES = ("deepseek-reasoner", "deepseek-v3.2-exp-thinking", "qwen3-coder-480b-a35b-instruct", "kimi-k2-0905-preview")


@pytest.mark.parametrize("columns", [80, 60])
def test_names_are_never_cut_other_columns_give_way(tmp_path, columns):
    (tmp_path / "accord.yaml").write_text("models:\n" + "".join(
        f"  - name: {n}\n    model: openai/{n}\n    api_base: http://127.0.0.1:9/v1\n    api_key: none\n"
        f"    aliases: [{n}-alias-one, {n}-alias-two]\n" for n in NAMES))
    r = run("models", env={"COLUMNS": str(columns)})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "…" not in r.stdout
    assert max(len(line) for line in lines) <= columns
    for n in NAMES:
        assert any(n in line for line in lines), f"{n} is not whole in:\n{r.stdout}"
    assert "provider" in lines[1] or "provider" in r.stdout  # the next most useful column stays
    wide = run("models", env={"COLUMNS": "200"})
    assert "aliases" in wide.stdout and "score" in wide.stdout
