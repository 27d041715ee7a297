"""A model entry (Accord's or LiteLLM's) made into a `Deployment`: its provider, URL, key and capabilities."""

from __future__ import annotations

import difflib
import os
from typing import Any

from .. import catalog
from ..providers.vendors import VENDORS, Vendor, base_env, known_prefixes, vendor_for_prefix
from .loaded import Deployment
from .yamlsource import Source


def split_model(model: str) -> tuple[Vendor | None, str]:
    """`deepseek/deepseek-chat` -> (deepseek, deepseek-chat); `openrouter/x/y` -> (openrouter, x/y)."""
    prefix, sep, rest = model.partition("/")
    if sep:
        vendor = vendor_for_prefix(prefix)
        if vendor is not None:
            return vendor, rest
    return None, model


def deployment_from(
    name: str, model: str, *, src: Source, path: tuple, api_base: str | None = None,
    api_key: str | None = None, aliases: list[str] | tuple = (), capabilities: dict | None = None,
    dep_id: str | None = None, **kw: Any,
) -> Deployment:
    vendor, upstream_id = split_model(model)
    if vendor is None:
        known = catalog.lookup(model)
        if known is not None and "/" not in model:
            vendor = VENDORS.get(known.vendor)
        elif api_base:
            vendor = VENDORS["openai"]  # any OpenAI-compatible endpoint
        if vendor is None:
            prefix = model.partition("/")[0] if "/" in model else None
            close = difflib.get_close_matches(prefix or "", known_prefixes(), n=1) if prefix else []
            hint = f" (did you mean `{close[0]}/`?)" if close else ""
            raise src.error((*path, "model") if src.lines else path,
                            f"cannot tell which provider serves `{model}`{hint}; write it as provider/model, "
                            f"e.g. deepseek/deepseek-chat, or openai/{model} with an api_base. "
                            f"Known providers: {', '.join(v for v in VENDORS)}")
    base = api_base or default_base(vendor)
    if not base:
        raise src.error(path, f"`{vendor.name}` models need an api_base (the server's URL, e.g. http://host:8000/v1)")
    if api_key is None and vendor.key_env:
        api_key = os.environ.get(vendor.key_env)
    caps = dict(capabilities or {})
    unknown = [k for k in caps if k not in catalog.OVERRIDABLE]
    if unknown:
        close = difflib.get_close_matches(unknown[0], catalog.OVERRIDABLE, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"known: {', '.join(catalog.OVERRIDABLE)}"
        raise src.error((*path, "capabilities", unknown[0]), f"unknown capability `{unknown[0]}`; {hint}")
    info = catalog.info_for(upstream_id, vendor.name, caps)
    if kw.get("anthropic_base") is None and vendor.anthropic_base and base == vendor.api_base:
        kw["anthropic_base"] = vendor.anthropic_base  # the vendor's own host: its Anthropic endpoint too
    if kw.get("anthropic_base"):
        kw["anthropic_base"] = kw["anthropic_base"].rstrip("/")
    return Deployment(
        id=dep_id or "", name=name, vendor=vendor, model=upstream_id, api_base=base.rstrip("/"),
        api_key=api_key, info=info, aliases=tuple(aliases), **{k: v for k, v in kw.items() if v is not None},
    )


def default_base(vendor: Vendor) -> str | None:
    """The vendor's URL, unless `<VENDOR>_API_BASE` (e.g. DEEPSEEK_API_BASE) points elsewhere (a proxy)."""
    return os.environ.get(base_env(vendor)) or vendor.api_base


def stray_api_bases(deployments: list[Deployment]) -> list[str]:
    """Warnings for `*_API_BASE` variables no model reads: most likely a misspelt name (QWEN_API_BASE,
    DASHSCOPE_API_BASE for a dashscope-cn model), with which the models silently reach the real host."""
    used = {d.vendor.name: d.vendor for d in deployments}
    out = []
    for var in sorted(k for k, v in os.environ.items() if k.endswith("_API_BASE") and v):
        name = var[: -len("_API_BASE")].lower().replace("_", "-")
        vendor = VENDORS.get(name) or vendor_for_prefix(name) or vendor_for_prefix(name.replace("-", "_"))
        if vendor is not None and vendor.name in used and var == base_env(vendor):
            continue
        close = [base_env(used[n]) for n in difflib.get_close_matches(name, list(used), n=1, cutoff=0.6)]
        if vendor is None and not close:
            continue  # another program's variable, nothing like one of ours
        if vendor is not None and var == base_env(vendor):
            what = f"{var} is set but no model uses provider `{vendor.name}`"
        else:
            what = f"{var} is set but Accord does not read it"
        hint = (f"; did you mean {close[0]}?" if close else
                f"; the variable for `{vendor.name}` is {base_env(vendor)}" if vendor and var != base_env(vendor) else "")
        out.append(what + hint + " (the table of provider variables is in the README)")
    return out

