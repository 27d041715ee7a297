"""The README's table of provider variables is the vendor table, and every variable in it works."""

from __future__ import annotations

import json
from pathlib import Path

from test_main import run

from accord.providers import vendor_doc
from accord.providers.vendors import VENDORS, base_env

README = Path(__file__).parents[2] / "README.md"


def test_readme_table_is_the_vendor_table_and_its_variables_work(tmp_path):
    text = README.read_text(encoding="utf-8")
    assert vendor_doc.section() in text, ("the README's provider table is out of date: run "
                                          "`python -m accord.providers.vendor_doc README.md`")
    for v in VENDORS.values():  # every provider, with its key and URL variables
        row = next(line for line in text.splitlines() if line.startswith(f"| `{v.name}/`"))
        assert base_env(v) in row and (v.key_env or "none needed") in row
    assert "`DASHSCOPE_CN_API_BASE`" in text and "`MOONSHOT_CN_API_BASE`" in text

    # and each URL variable it names does move its provider's models
    models = "".join(f"  - name: m-{v.name}\n    model: {v.name}/some-model\n    api_key: k\n"
                     for v in VENDORS.values())
    (tmp_path / "accord.yaml").write_text("models:\n" + models)
    env = {base_env(v): f"http://{v.name}.example.test/v1" for v in VENDORS.values()}
    r = run("config", "show", "--json", env=env)
    assert r.returncode == 0, r.stderr
    bases = {m["name"]: m["api_base"] for m in json.loads(r.stdout)["models"]}
    assert bases == {f"m-{v.name}": f"http://{v.name}.example.test/v1" for v in VENDORS.values()}
    assert "API_BASE is set" not in r.stderr  # every one is read: no stray warning
