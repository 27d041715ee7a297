"""Thinking levels mapped per provider, and the file reader's safety rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from accord import tokens
from accord.config import parse
from accord.consensus.files import Rules, check_path, image_urls, read_files
from accord.consensus.types import InputError
from accord.providers import anthropic, gemini
from accord.providers.openai_compat import prepare
from accord.providers.thinking import EFFORT, thinking_params

CFG = """
models:
  - {name: qwen, model: dashscope/qwen3-max, api_key: k}
  - {name: gpt5, model: openai/gpt-5, api_key: k}
  - {name: gpt51, model: openai/gpt-5.1, api_key: k}
  - {name: o3, model: openai/o3, api_key: k}
  - {name: sonnet, model: anthropic/claude-sonnet-4-5, api_key: k}
  - {name: gem, model: gemini/gemini-2.5-pro, api_key: k}
  - {name: r1, model: deepseek/deepseek-reasoner, api_key: k}
  - {name: chat, model: deepseek/deepseek-chat, api_key: k}
"""


@pytest.fixture(scope="module")
def deps():
    return {d.name: d for d in parse(CFG).deployments}


def wire(dep, body: dict) -> dict:
    """The request each adapter sends upstream for `body` (its translator or vendor quirks applied)."""
    if dep.adapter == "anthropic":
        return anthropic.request_body(dep, body)
    if dep.adapter == "gemini":
        return gemini.request_body(dep, body)
    return prepare(dep, dict(body))


@pytest.mark.parametrize(("name", "level", "sent", "noted"), [
    ("qwen", "high", {"enable_thinking": True, "thinking_budget": 16384}, False),
    ("qwen", "off", {"enable_thinking": False}, False),
    ("gpt5", "max", {"reasoning_effort": "high"}, False),
    ("gpt5", "off", {"reasoning_effort": "minimal"}, False),
    ("gpt51", "off", {"reasoning_effort": "none"}, False),
    ("o3", "off", {"reasoning_effort": "low"}, True),
    ("sonnet", "medium", {"thinking": {"type": "enabled", "budget_tokens": 8192}}, False),
    ("gem", "low", {"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}}},
     False),
    ("r1", "high", {}, True),
    ("chat", "high", {}, True),
    ("chat", "off", {}, False),
    ("qwen", None, {}, False),
])
def test_thinking_levels_reach_each_provider_in_its_own_terms(deps, name, level, sent, noted):
    body, note = thinking_params(deps[name], level)
    assert set(body) <= {"reasoning_effort"}  # the engine speaks reasoning_effort; the translators the rest
    out = wire(deps[name], {"messages": [{"role": "user", "content": "hi"}], **body})
    assert {k: v for k, v in out.items() if k in sent} == sent
    assert (note is not None) == noted


@pytest.mark.parametrize("name", ["sonnet", "gem", "qwen", "gpt5"])
@pytest.mark.parametrize("level", ["off", "low", "medium", "high", "max"])
def test_a_thinking_level_is_sent_as_its_reasoning_effort_would_be(deps, name, level):
    """MCP `thinking: high` and a gateway client's `reasoning_effort: high` are the same request upstream."""
    ask = {"messages": [{"role": "user", "content": "hi"}]}
    body, _ = thinking_params(deps[name], level)
    assert wire(deps[name], {**ask, **body}) == wire(deps[name], {**ask, "reasoning_effort": EFFORT[level]})


def test_thinking_bad_level(deps):
    with pytest.raises(ValueError, match="one of off, low"):
        thinking_params(deps["qwen"], "extreme")


def test_files_read_within_budget_and_refuse_what_they_must(tmp_path: Path):
    a = tmp_path / "a.py"
    a.write_text("print('hi')\n" * 10)
    big = tmp_path / "big.txt"
    big.write_text("x" * 10_000)
    binf = tmp_path / "b.bin"
    binf.write_bytes(b"\x00\x01\x02")
    text, notes = read_files([str(a), str(big)], budget_tokens=1000)
    assert f"--- FILE: {a} ---" in text and "print('hi')" in text
    assert "[... trimmed]" in text and any("trimmed" in n for n in notes)
    assert tokens.count(text) <= 1000 + 10  # the budget is real tokens (the joins add a few)
    folder, _ = read_files([str(tmp_path)], 10_000)
    assert "a.py" in folder and "b.bin" not in folder
    for bad, msg in [("rel/path.py", "absolute"), ("/etc/passwd", "system folder /etc"),
                     ("/proc/self/environ", "system folder /proc"), (str(tmp_path / "missing.py"), "no such file"),
                     (str(binf), "binary")]:
        with pytest.raises(InputError, match=msg):
            read_files([bad], 1000)
    with pytest.raises(InputError, match="outside the allowed roots"):
        check_path(str(a), Rules([str(tmp_path / "elsewhere")]))
    assert check_path(str(a), Rules([str(tmp_path)])) == a.resolve()
    link = tmp_path / "sneaky"
    os.symlink("/etc/hostname", link)
    with pytest.raises(InputError, match="system folder"):
        read_files([str(link)], 1000)


def test_images_become_data_urls(tmp_path: Path):
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 10)
    urls = image_urls([str(png), "https://example.com/a.jpg"])
    assert urls[0].startswith("data:image/png;base64,") and urls[1] == "https://example.com/a.jpg"
    with pytest.raises(InputError, match="not an image"):
        image_urls([str(tmp_path)])
