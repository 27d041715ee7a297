"""Every MCP tool result fits `mcp.output_tokens` as a real tokenizer counts it, in any language, and the
`threads` tool pages through the stored full text exactly. Driven through the official MCP client against
scripted fake models that answer 200,000 characters of English, Chinese, Japanese, code or mixed text."""

from __future__ import annotations

import random
import re

import bpe_openai
import pytest

from accord.config import parse
from accord.mcp.server import build
from accord.mcp.state import State
from fakes import Reply
from mcp import Client
from panelkit import chair_json, panel_config, responder

SIZE = 80_000  # characters per answer: ten or more pages of CJK, several of English, each page within budget
ENCODINGS = [bpe_openai.get_encoding("cl100k_base"), bpe_openai.get_encoding("o200k_base")]
CLAUDE_CODE_WARNS = 10_000

EN = ("the panel agrees that the database should keep every answer because a client may need to read "
      "it again later however the cost of storage is small and the risk is low")
ZH = "数据库 一致性 模型 回答 因为 但是 所以 我们 建议 使用 风险 成本 性能 服务器 配置 测试 。 ，"
JA = "データベース の 整合性 を 確認 する ため に モデル が 回答 しました 。 リスク と コスト は 高い です"
CODE = '''def handle(self, request: Request) -> Response:
    """Route one request; 路由一个请求."""
    if request.method == "GET":
        return self.cache.get(request.path, {"status": 404, "body": b""})
    for i, item in enumerate(request.items):
        total += item.price * 1.2  # VAT 🎉
'''


def _text(kind: str, seed: int) -> str:
    rnd = random.Random(seed)
    en, zh, ja = EN.split(), ZH.split(), JA.split()
    words = {"english": lambda: " ".join(rnd.choice(en) for _ in range(400)) + ".\n",
             "chinese": lambda: "".join(rnd.choice(zh) for _ in range(400)) + "\n",
             "japanese": lambda: "".join(rnd.choice(ja) for _ in range(300)) + "\n",
             "code": lambda: CODE}
    pick = (lambda: words[rnd.choice(list(words))]()) if kind == "mixed" else words[kind]
    out = []
    while sum(map(len, out)) < SIZE:
        out.append(pick())
    return "".join(out)[:SIZE - 1] + "."  # no edge whitespace, which answers lose when stored


KINDS = ["english", "chinese", "japanese", "code", "mixed"]


def tokens(s: str) -> int:
    """The most any of the public tables counts (special-token text counted as text)."""
    return max(len(e.encode_ordinary(s)) for e in ENCODINGS)


def pages(text: str) -> str:
    """A `threads` page's text: between its first and its last blank line."""
    return text.split("\n\n", 1)[1].rsplit("\n\n", 1)[0]


def next_call(out: str) -> dict | None:
    m = re.search(r'threads\(id="([^"]+)", part=(\d+), offset=(\d+)\)', out)
    return {"id": m[1], "part": int(m[2]), "offset": int(m[3])} if m else None


async def read_on(c: Client, call: dict, budget: int) -> str:
    """Follow `next page` calls from `call` to the end of the part; every page within budget."""
    got = []
    while True:
        r = await c.call_tool("threads", call)
        out = r.content[0].text
        assert not r.is_error, out
        assert tokens(out) <= budget, (call, tokens(out))
        got.append(pages(out))
        if out.endswith(f"end of part {call['part']}"):
            return "".join(got)
        nxt = next_call(out.rsplit("\n\n", 1)[1])
        assert nxt is not None and nxt["offset"] > call["offset"], out[-300:]
        call = nxt


@pytest.mark.parametrize("kind", KINDS)
async def test_every_tool_result_fits_the_budget_and_threads_pages_back_the_whole_answer(upstream, kind):
    answers = {m: _text(kind, seed) for seed, m in enumerate(["deepseek-chat", "qwen3-max",
                                                              "kimi-k2-0905-preview", "gpt-4o-mini"])}
    long_chair = chair_json(["deepseek"], recommendation=_text(kind, 9))
    upstream.responder = responder(lambda m, r: Reply(content=answers[m]), chair=Reply(content=long_chair))
    state = State.create(parse(panel_config(upstream.url)))  # the default budget
    budget = state.cfg.mcp.output_tokens
    assert budget < CLAUDE_CODE_WARNS
    await state.start()
    try:
        async with Client(build(state)) as c:
            for tool, args in [("chat", {"prompt": "q", "model": "gpt"}),
                               ("thinkdeep", {"problem": "q", "model": "gpt"}),
                               ("challenge", {"statement": "q", "model": "gpt"})]:
                r = await c.call_tool(tool, args)
                out = r.content[0].text
                assert not r.is_error, out
                assert tokens(out) <= budget, (tool, tokens(out))
                # the result's own words, then the exact call that reads on from where it was cut
                call = next_call(out)
                assert call is not None, out[-500:]
                shown = out.split("\n[... trimmed", 1)[0]
                assert shown + await read_on(c, call, budget) == answers["gpt-4o-mini"]

            r = await c.call_tool("consensus", {"question": "q"})
            out = r.content[0].text
            assert not r.is_error, out
            assert tokens(out) <= budget, ("consensus", tokens(out))
            assert out.index("## Recommendation") < out.index("## Answers")  # the synthesis first
            head = out.split("## Answers", 1)[0]
            chair = next_call(head)  # the synthesis was cut: the call shows the chair's whole answer
            assert chair is not None and chair["offset"] == 0
            for model, label in [("deepseek-chat", "deepseek"), ("qwen3-max", "qwen:against"),
                                 ("kimi-k2-0905-preview", "kimi")]:  # every panelist's answer has a share
                seg = out.split(f"### {label}\n", 1)[1]
                shown = seg.split("\n[... trimmed", 1)[0]
                assert tokens(shown) > budget // 10
                call = next_call(seg)
                assert call is not None and call["offset"] == len(shown)
                assert shown + await read_on(c, call, budget) == answers[model]
            assert await read_on(c, {**call, "offset": 0}, budget) == answers["kimi-k2-0905-preview"]
            assert await read_on(c, chair, budget) == long_chair

            r = await c.call_tool("threads", {"id": chair["id"]})  # every stored message, each with its share
            out = r.content[0].text
            assert not r.is_error and tokens(out) <= budget
            assert out.count(f'threads(id="{chair["id"]}", part=') == 4
            r = await c.call_tool("threads", {})
            assert not r.is_error and chair["id"] in r.content[0].text
    finally:
        await state.close()


async def test_paging_a_thread_with_bad_arguments_says_what_to_fix(upstream):
    upstream.responder = responder(lambda m, r: Reply(content="短い答え"))
    state = State.create(parse(panel_config(upstream.url)))
    await state.start()
    try:
        async with Client(build(state)) as c:
            out = (await c.call_tool("chat", {"prompt": "q", "model": "gpt"})).content[0].text
            tid = out.rsplit("thread ", 1)[1].split()[0]
            r = await c.call_tool("threads", {"id": tid, "part": 1})
            assert r.content[0].text.endswith("\n\n短い答え\n\nend of part 1")
            for args, says in [({"part": 7}, "has no part 7: its parts are 0, 1"),
                               ({"part": 1, "offset": 99}, "offset 99 is past the end of part 1 (4 characters)"),
                               ({"offset": 3}, "offset needs part")]:
                r = await c.call_tool("threads", {"id": tid, **args})
                assert r.is_error and says in r.content[0].text and "Traceback" not in r.content[0].text
    finally:
        await state.close()
