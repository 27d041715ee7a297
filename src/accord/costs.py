"""What a request may cost at most, known before it is sent: the amount a key's budget reserves while it runs.

A budget can only hold if every request in flight is counted before its real cost is known. The bound is
deliberately generous -- it is released and replaced by the real cost as soon as the request ends -- so a
request is never under-reserved:
- prompt: one token per byte of the JSON body (byte-level BPE tokenizers never make a token of less than a
  byte; the JSON around the text stands in for the chat template), plus IMAGE_TOKENS per image, whose tokens
  a URL does not show;
- output: `max_completion_tokens` or `max_tokens` if given (capped at the model's output limit), else the
  model's whole output limit (catalog);
- priced at the catalog prices of the dearest model the call may reach (its fallbacks included; those for a
  too-long prompt only when the bound does not fit the model's window), every prompt token at the dearer of
  the input and cache-write prices (a prompt may be written to the cache whole).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import orjson

from .providers.openai_compat import client_json, messages_key, without_messages

if TYPE_CHECKING:
    from .catalog import ModelInfo
    from .router import Allow, Plan, Router

IMAGE_TOKENS = 2_000  # more than any provider bills for one image (OpenAI high detail ~1,100; Claude ~1,600)


# the JSON strings that name an image part: "image_url" (OpenAI) and "image" (Anthropic). One pass of a regular
# expression: two `bytes.count`s read ~0.5 MB at ~1 ns a byte each (0.47 ms at 100k tokens, the regex 0.15-0.27)
_IMAGE = re.compile(rb'"image(?:_url)?"')


def prompt_tokens_bound(body: dict) -> int:
    """Bytes of the body's JSON plus IMAGE_TOKENS per image. An agent history whose JSON the gateway kept
    (openai_compat.client_json) is not written again for it (~0.4 ms at 100k tokens, per request of a key with a
    budget or a max_price): its length and images are read from the kept bytes, the other fields written apart,
    and the count is the whole body's to the byte."""
    known = client_json(body)
    if known is None:
        raw = orjson.dumps(body)
        return len(raw) + IMAGE_TOKENS * len(_IMAGE.findall(raw))
    rest = without_messages(body)
    # `{rest,"messages":[...]}` as encode() writes it; the kept view's object is `[messages]`, whose brackets
    # match no image, read in place (bytes() of the view would copy ~0.5 MB)
    size = len(rest) + len(messages_key(rest)) + len(known)
    images = len(_IMAGE.findall(rest)) + len(_IMAGE.findall(known.obj))
    return size + IMAGE_TOKENS * images


def output_tokens_bound(body: dict, info: ModelInfo) -> int:
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    limit = info.max_output_tokens
    if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
        return min(asked, limit) if limit > 0 else asked
    return limit


def bound(info: ModelInfo, prompt: int, output: int) -> float:
    """The most `prompt` + `output` tokens can cost on one model: a cache write may cost more than input."""
    dearer = info.cache_write_price is not None and info.cache_write_price > info.input_price
    return info.cost(prompt, output, cache_write_tokens=prompt if dearer else 0)


def worst_case(router: Router, model: str, body: dict, allow: Allow | None = None, plan: Plan | None = None) -> float:
    """The most, in dollars, a call to `model` with `body` can cost, whichever reachable model serves it. A
    model's context-window fallbacks count only if the bound can overflow its window (else the dearest larger
    model would be reserved for every request)."""
    prompt = prompt_tokens_bound(body)

    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    asked = asked if isinstance(asked, int) else 0

    def overflows(name: str) -> bool:  # asked uncapped: a max_tokens over the limit may be reported as too long
        info = router.groups[name][0].info
        return prompt + max(asked, output_tokens_bound(body, info)) > info.context_window

    dearest = 0.0
    for name in router.reachable(model, allow, overflows, plan):
        for dep in router.groups[name]:
            dearest = max(dearest, bound(dep.info, prompt, output_tokens_bound(body, dep.info)))
    return dearest


def cap_message(who: str, cap: float, worst: float, body: dict) -> str:
    """Why a request over a max_price is refused, and how to bring it under."""
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    lower = f"lower max_tokens (now {asked})" if asked else "set max_tokens (without it the model's whole output " \
        "limit is counted)"
    return (f"this request may cost up to ${worst:.6f} (its worst case: a prompt of {prompt_tokens_bound(body)} "
            f"tokens at most, and every output token it may produce), over {who} max_price of ${cap:g}; {lower}, "
            "or shorten the prompt")
