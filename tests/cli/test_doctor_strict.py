"""`accord doctor --strict` through its entry point: each claimed capability is tried against a strict fake
provider that refuses function calling for one model."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from test_doctor import run

from strict import Refused, StrictUpstream

KEY = "sk-provider-doctor-strict-9876"


@pytest.fixture(scope="module")
def strict() -> Iterator[StrictUpstream]:
    with StrictUpstream() as fake:
        yield fake


def setup(tmp_path, url: str, gemini_extra: str = "") -> None:
    (tmp_path / "accord.yaml").write_text(f"""
models:
  - {{name: claude, model: anthropic/claude-sonnet-4-5, api_base: {url}, api_key: {KEY}}}
  - {{name: gemini, model: gemini/gemini-2.5-flash, api_base: {url}, api_key: {KEY}{gemini_extra}}}
settings:
  data_dir: {tmp_path / 'data'}
""")


def no_tools_for_gemini(rec: dict) -> Refused | None:
    if ":generateContent" in rec["path"] and rec["json"].get("tools"):
        return Refused(400, "INVALID_ARGUMENT", "Function calling is not enabled for models/gemini-2.5-flash")
    return None


def test_doctor_strict_reports_a_refused_claim_with_its_fix(tmp_path, strict):
    strict.reset()
    strict.refuse = no_tools_for_gemini
    setup(tmp_path, strict.url)

    plain = run("--json")  # without --strict nothing but the one-token check is sent
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert not any(c["check"].startswith("claims") for c in json.loads(plain.stdout)["checks"])
    assert not any(r["json"].get("tools") for r in strict.requests)

    r = run("--json", "--strict")
    assert r.returncode == 1, r.stdout + r.stderr
    by = {c["check"]: c for c in json.loads(r.stdout)["checks"]}
    claude, gemini = by["claims claude"], by["claims gemini"]
    assert claude["status"] == "ok" and set(claude["data"]["accepted"]) == {"tools", "thinking", "vision",
                                                                            "json_mode"}
    assert gemini["status"] == "fail" and gemini["data"]["refused"] == ["tools"]
    assert "Function calling is not enabled" in gemini["detail"]
    assert "capabilities: {tools: false}" in gemini["fix"] and "`gemini`" in gemini["fix"]
    assert set(gemini["data"]["accepted"]) == {"thinking", "vision", "json_mode"}
    assert KEY not in r.stdout
    # the probes themselves are requests both providers accept: the only refusal is the scripted one
    assert [why.message for _, why in strict.refusals] == ["Function calling is not enabled for models/"
                                                           "gemini-2.5-flash"] * len(strict.refusals)

    table = run("--strict", env={"COLUMNS": "200"})  # the table for people names the fix too
    assert table.returncode == 1 and "tools: false" in table.stdout

    setup(tmp_path, strict.url, ", capabilities: {tools: false}")  # the fix doctor gave
    fixed = run("--json", "--strict")
    assert fixed.returncode == 0, fixed.stdout
    by = {c["check"]: c for c in json.loads(fixed.stdout)["checks"]}
    assert by["claims gemini"]["status"] == "ok" and "tools" not in by["claims gemini"]["data"]["accepted"]
