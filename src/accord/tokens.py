"""Token counts and token-exact truncation, for budgets that must hold in any language.

Four characters a token holds for English only: Chinese and Japanese run near one token a character, so a
result cut to `output_tokens × 4` characters came back at 3–4 times its budget. We count with a real BPE
tokenizer that ships its tables (`bpe-openai`, works offline).

Which table: Claude's tokenizer is not public. Of the two public ones, cl100k_base counts at least as many
tokens as o200k_base for English, code and whitespace, and 1.5–1.8× as many for Chinese and Japanese (its
vocabulary is smaller), so it is the one that over-counts rather than under-counts. Claude's own counts
run somewhat higher than cl100k's for English; `room()` keeps a small margin for that and for the few
tokens that merge differently where pieces are joined, and the default `mcp.output_tokens` (8,000) stays
well under Claude Code's 10,000-token warning.

The tokenizer is loaded on first use and cached: importing it costs ~0.4 s and ~100 MB of tables, which
`accord --help`, the gateway's start-up and a plain proxy request never need.
"""

from __future__ import annotations

import functools
from typing import Any

ENCODING = "cl100k_base"
CHUNK = 50_000  # characters per encode call: the package refuses inputs over 200,000 tokens (or 1M chars)


@functools.cache
def _encoding() -> Any:
    import bpe_openai

    return bpe_openai.get_encoding(ENCODING)


def _clean(text: str) -> str:
    """Lone surrogates (possible in JSON-decoded model output) cannot be UTF-8 encoded: count them as U+FFFD,
    one character for one, so character offsets still line up with the original text."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join(c if not 0xD800 <= ord(c) <= 0xDFFF else "\ufffd" for c in text)


def _chunks(text: str) -> list[str]:
    """Pieces of at most CHUNK characters, cut before a space or after a newline where one is near, where the
    tokenizer's own pre-split would cut, so the sum of the pieces' counts equals the whole's (or nearly)."""
    out, start = [], 0
    while len(text) - start > CHUNK:
        end = start + CHUNK
        cut = max(text.rfind("\n", end - 2_000, end) + 1, text.rfind(" ", end - 2_000, end))
        end = cut if cut > start else end
        out.append(text[start:end])
        start = end
    out.append(text[start:])
    return out


def _encode(text: str) -> list[int]:
    enc = _encoding()
    ids: list[int] = []
    for piece in _chunks(_clean(text)):
        ids += enc.encode_ordinary(piece)
    return ids


def cannot_exceed(text: str, max_tokens: int) -> bool:
    """True when `text` is too short to be over `max_tokens`, without tokenizing: every token covers at least
    one UTF-8 byte, and a character is at most four bytes."""
    return len(text) * 4 <= max_tokens or len(text.encode("utf-8", "surrogatepass")) <= max_tokens


def count(text: str) -> int:
    """Tokens in `text` (cl100k_base; special-token text such as `<|endoftext|>` counted as plain text)."""
    if not text:
        return 0
    return len(_encode(text))


def fits(text: str, max_tokens: int) -> bool:
    return cannot_exceed(text, max_tokens) or count(text) <= max_tokens


def room(budget: int) -> int:
    """What to aim for under a client's budget: 5% (at least 16 tokens) below it, for the margin explained
    in the module docstring."""
    return max(0, budget - max(16, budget // 20))


def truncate(text: str, max_tokens: int) -> str:
    """The longest prefix of `text` found within `max_tokens` tokens: a prefix of the original string (never a
    split character), so `text[len(result):]` is exactly what was cut."""
    if max_tokens <= 0:
        return ""
    if cannot_exceed(text, max_tokens):
        return text
    # Encode only a window a little longer than what can survive: a token is rarely > 8 characters, and the
    # window grows when it is.
    size = 8 * max_tokens + 256
    while True:
        window = text[:size]
        ids = _encode(window)
        if len(ids) > max_tokens + 8 or size >= len(text):
            break
        size *= 2
    if len(ids) <= max_tokens:
        return text
    keep = max_tokens
    while True:
        cut = _encoding().decode_bytes(ids[:keep]).decode("utf-8", "ignore")  # drops a split last character
        out = text[:len(cut)]
        over = count(out) - max_tokens  # re-encoding the cut text can merge its tail differently
        if over <= 0:
            return out
        keep -= over


def shares(sizes: list[int], total: int) -> list[int]:
    """Split `total` tokens between texts of `sizes` tokens: equal shares, with what a short text leaves over
    going to the longer ones (so three answers where one is short lose less of the other two)."""
    out = [0] * len(sizes)
    left, todo = max(0, total), sorted(range(len(sizes)), key=lambda i: sizes[i])
    while todo:
        each = left // len(todo)
        i = todo.pop(0)
        out[i] = min(sizes[i], each)
        left -= out[i]
    return out
