"""`accord doctor --strict`: does each model accept what its catalog entry says it can do?

The catalog (or an override) claims tools, thinking, vision and JSON mode per model; consensus and `model: auto`
pick models by those claims. One minimal request per claim, sent through the model's own adapter, tells a user
on day one which claim the live provider refuses, rather than mid-consensus.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .checks import FAIL, OK, WARN, Result

# a 1x1 PNG: the smallest image every vision API takes
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
ASK = [{"role": "user", "content": "Reply with the word ok."}]
PROBE_TOOL = {"type": "function", "function": {
    "name": "accord_probe", "description": "Checks that tools work; call it with ok=true.",
    "parameters": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}}

# capability (a ModelInfo field) -> (what it is called, the smallest request that uses it)
PROBES: dict[str, tuple[str, dict]] = {
    "tools": ("tools", {"messages": ASK, "tools": [PROBE_TOOL], "max_tokens": 64}),
    # room for the least thinking any provider takes (Anthropic: 1,024 tokens) plus the answer
    "thinking": ("thinking", {"messages": ASK, "reasoning_effort": "low", "max_tokens": 4096}),
    "vision": ("vision", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What colour is this pixel? One word."},
        {"type": "image_url", "image_url": {"url": PIXEL}}]}], "max_tokens": 16}),
    "json_mode": ("JSON mode", {"messages": [{"role": "user", "content": 'Reply with the JSON {"ok": true}.'}],
                                "response_format": {"type": "json_object"}, "max_tokens": 32}),
}


def claims(info: Any) -> list[str]:
    return [cap for cap in PROBES if getattr(info, cap, False)]


async def _probe(router: Any, dep: Any, cap: str, timeout: float) -> tuple[str, str | None, bool]:
    """(capability, error message or None, whether the provider refused the request itself)."""
    from .. import providers
    from ..errors import AccordError, BadRequest, UpstreamError
    from ..providers.base import Call

    body = PROBES[cap][1]
    try:
        await asyncio.wait_for(providers.get(dep.adapter).complete(dep, dict(body), Call(dep), router.pools),
                               timeout)
    except (BadRequest, UpstreamError) as e:
        refused = isinstance(e, BadRequest) or getattr(e, "upstream_status", None) in (400, 422)
        return cap, e.message, refused
    except AccordError as e:
        return cap, e.message, False
    except asyncio.TimeoutError:
        return cap, f"no answer within {timeout:.0f} s", False
    return cap, None, False


async def capability_checks(cfg: Any, timeout: float = 15.0) -> list[Result]:
    """One request per claimed capability of every chat deployment, all at once; one Result per deployment."""
    from ..router import Router

    router = Router(cfg)
    try:
        deps = [d for group in router.groups.values() for d in group if d.info.mode == "chat" and claims(d.info)]
        runs = [asyncio.gather(*(_probe(router, d, cap, timeout) for cap in claims(d.info))) for d in deps]
        outcomes = await asyncio.gather(*runs)
    finally:
        await router.close()
    return [_result(dep, outcome) for dep, outcome in zip(deps, outcomes, strict=True)]


def _result(dep: Any, outcome: list[tuple[str, str | None, bool]]) -> Result:
    name = f"claims {dep.id}"
    label = {cap: PROBES[cap][0] for cap in PROBES}
    refused = [(cap, msg) for cap, msg, r in outcome if r]
    unsure = [(cap, msg) for cap, msg, r in outcome if msg and not r]
    data = {"accepted": [cap for cap, msg, _ in outcome if msg is None], "refused": [cap for cap, _ in refused],
            "unchecked": [cap for cap, _ in unsure]}
    if refused:
        caps = ", ".join(f"{c}: false" for c, _ in refused)
        detail = "; ".join(f"{label[c]} refused: {msg}" for c, msg in refused)
        fix = (f"set `capabilities: {{{caps}}}` on model `{dep.name}` in accord.yaml (the catalog claims more than "
               f"{dep.vendor.label or dep.vendor.name} serves for `{dep.model}`), or use a model that has it")
        return Result(name, FAIL, detail, fix, data)
    if unsure:
        detail = "; ".join(f"{label[c]} not checked: {msg}" for c, msg in unsure)
        return Result(name, WARN, detail, "fix the model check above, then run `accord doctor --strict` again",
                      data)
    return Result(name, OK, "accepted: " + ", ".join(label[c] for c in data["accepted"]), data=data)
