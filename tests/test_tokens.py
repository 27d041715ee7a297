"""accord.tokens: counts that match a real tokenizer, cuts that never split a character."""

from __future__ import annotations

import subprocess
import sys

import bpe_openai
import pytest

from accord import tokens

CL100K = bpe_openai.get_encoding("cl100k_base")

MULTIBYTE = {
    "emoji": "🎉👍🏽🇯🇵👨‍👩‍👧" * 40,  # 4-byte characters, modifiers and joiners: one character, several tokens
    "chinese": "中文测试文本，数据库一致性。" * 40,
    "japanese": "データベースの整合性を確認する。" * 40,
    "mixed": "naïve café — 한국어 текст العربية ∑∫ x²\n" * 20,
    "combining": "e\u0301a\u0300o\u0302" * 80,
}


@pytest.mark.parametrize("name", MULTIBYTE)
def test_truncate_cuts_at_character_boundaries_within_the_budget(name):
    text = MULTIBYTE[name]
    total = len(CL100K.encode_ordinary(text))
    assert tokens.count(text) == total
    for k in range(total + 2):
        out = tokens.truncate(text, k)
        assert text.startswith(out) and "\ufffd" not in out
        assert out.encode("utf-8").decode("utf-8") == out  # whole characters only
        n = len(CL100K.encode_ordinary(out))
        assert n <= k
        if k < total:
            assert n >= k - 4  # not needlessly short
        else:
            assert out == text


def test_counts_text_past_the_tokenizers_own_limits_and_special_tokens_as_text():
    huge = "🎉中" * 150_000  # > 200,000 tokens, which bpe-openai refuses in one call
    assert tokens.count(huge) == 150_000 * len(CL100K.encode_ordinary("🎉中"))
    assert tokens.count("<|endoftext|>") == len(CL100K.encode_ordinary("<|endoftext|>")) > 1
    assert tokens.truncate(huge, 10) == huge[:len(tokens.truncate(huge, 10))]
    assert tokens.count("") == 0 and tokens.truncate("abc", 0) == ""


def test_the_tokenizer_is_loaded_only_when_first_used():
    code = ("import sys, accord.cli, accord.mcp.server, accord.consensus.report, accord.mcp.threads\n"
            "assert 'bpe_openai' not in sys.modules\n"
            "from accord import tokens\n"
            "assert tokens.truncate('short', 100) == 'short' and 'bpe_openai' not in sys.modules\n"
            "tokens.count('x')\n"
            "assert 'bpe_openai' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
