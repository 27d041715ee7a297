"""OpenAI embeddings requests <-> Gemini batchEmbedContents, as pure functions."""

from __future__ import annotations

import base64
import struct
from typing import Any

from ..errors import BadRequest
from .base import estimate_tokens
from .translate_openai import client_input


@client_input
def to_gemini_embed(body: dict, model: str, extra: dict | None = None) -> dict:
    """One embedContent request per input; `extra` (the deployment's extra_body, e.g. taskType) goes into
    each, since that is where Gemini reads such options."""
    inp = body.get("input")
    items = [inp] if isinstance(inp, str) else inp
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        raise BadRequest("Gemini embeddings take `input` as a string or a list of strings (not token ids)",
                         param="input")
    base: dict[str, Any] = {"model": f"models/{model}"}
    if isinstance(body.get("dimensions"), int):
        base["outputDimensionality"] = body["dimensions"]
    return {"requests": [{**base, "content": {"parts": [{"text": t}]}, **(extra or {})} for t in items]}


def from_gemini_embed(data: dict, model: str, body: dict) -> dict | None:
    """OpenAI's embeddings list, with usage estimated (Gemini reports none); None when malformed."""
    embeddings = data.get("embeddings")
    if not isinstance(embeddings, list):
        return None
    base64_wanted = body.get("encoding_format") == "base64"  # the openai SDK asks for base64 by default
    out = []
    for i, e in enumerate(embeddings):
        values = e.get("values") if isinstance(e, dict) else None
        if not isinstance(values, list):
            return None
        vector: Any = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode() if base64_wanted \
            else values
        out.append({"object": "embedding", "index": i, "embedding": vector})
    inp = body.get("input")
    tokens = sum(estimate_tokens(x) for x in (inp if isinstance(inp, list) else [inp]))
    return {"object": "list", "data": out, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
