"""The providers `accord init` offers, and the model entries each one contributes to accord.yaml."""

from __future__ import annotations

from dataclasses import dataclass

from .. import catalog
from ..providers.vendors import VENDORS


@dataclass(frozen=True)
class Preset:
    name: str  # what the user types: deepseek, qwen, kimi, ...
    label: str
    vendor: str  # the vendor row models are written against (deepseek/..., dashscope-cn/...)
    catalog_vendor: str  # whose catalog rows give the models
    china: str | None = None  # the preset to use for the mainland-China endpoint

    @property
    def key_env(self) -> str | None:
        return VENDORS[self.vendor].key_env


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("deepseek", "DeepSeek", "deepseek", "deepseek"),
        Preset("qwen", "Qwen (DashScope)", "dashscope", "dashscope", china="qwen-cn"),
        Preset("kimi", "Kimi (Moonshot)", "moonshot", "moonshot", china="kimi-cn"),
        Preset("openai", "OpenAI", "openai", "openai"),
        Preset("anthropic", "Anthropic", "anthropic", "anthropic"),
        Preset("gemini", "Google Gemini", "gemini", "gemini"),
        Preset("openrouter", "OpenRouter", "openrouter", ""),
        Preset("ollama", "Ollama (local)", "ollama", ""),
        # reachable by name and through the wizard's "China endpoint?" question
        Preset("qwen-cn", "Qwen (DashScope, China)", "dashscope-cn", "dashscope"),
        Preset("kimi-cn", "Kimi (Moonshot, China)", "moonshot-cn", "moonshot"),
    )
}
MENU = ("deepseek", "qwen", "kimi", "openai", "anthropic", "gemini", "openrouter", "ollama")
ALIASES = {"dashscope": "qwen", "moonshot": "kimi", "google": "gemini", "claude": "anthropic",
           "dashscope-cn": "qwen-cn", "moonshot-cn": "kimi-cn", "gpt": "openai"}

# OpenRouter has no catalog rows of its own: these ids are offered (and used when none are given)
OPENROUTER_DEFAULTS = ("deepseek/deepseek-r1", "qwen/qwen3-max", "moonshotai/kimi-k2", "google/gemini-2.5-pro")
OLLAMA_HOST = "http://localhost:11434"


def find(name: str) -> Preset | None:
    key = name.strip().lower()
    return PRESETS.get(ALIASES.get(key, key))


def catalog_entries(preset: Preset, with_key: bool) -> list[dict]:
    """One accord.yaml model entry per chat model the catalog knows for this provider."""
    out = []
    for info in catalog.for_vendor(preset.catalog_vendor):
        if info.mode != "chat":
            continue
        entry: dict = {"name": info.id, "model": f"{preset.vendor}/{info.id}"}
        if info.aliases:
            entry["aliases"] = list(info.aliases)
        if with_key and preset.key_env:
            entry["api_key"] = f"${{{preset.key_env}}}"
        out.append(entry)
    return out


def openrouter_entries(ids: list[str], taken: set[str], with_key: bool) -> list[dict]:
    out = []
    for mid in ids:
        tail = mid.rsplit("/", 1)[-1]
        name = tail if tail not in taken else f"openrouter-{tail}"
        taken.add(name)
        entry: dict = {"name": name, "model": f"openrouter/{mid}"}
        if with_key:
            entry["api_key"] = "${OPENROUTER_API_KEY}"
        out.append(entry)
    return out


def ollama_entries(host: str, names: list[str]) -> list[dict]:
    base = ollama_root(host) + "/v1"
    return [{"name": n, "model": f"ollama/{n}", "api_base": base} for n in names]


def ollama_root(host: str) -> str:
    root = host if host.startswith(("http://", "https://")) else f"http://{host}"
    return root.rstrip("/").removesuffix("/v1")


def ollama_tags(host: str, timeout: float = 1.5) -> list[str]:
    """The models a running Ollama has (GET /api/tags); [] when it does not answer quickly."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"{ollama_root(host)}/api/tags", timeout=timeout) as r:
            return [str(m["name"]) for m in json.load(r).get("models", []) if m.get("name")]
    except Exception:
        return []


def suggested_panel(models: list[dict], limit: int = 4) -> list[str]:
    """The strongest chat model of each provider, best first: a sensible default panel."""
    best: dict[str, tuple[int, str]] = {}
    for m in models:
        vendor = m["model"].split("/", 1)[0]
        info = catalog.lookup(m["model"].split("/", 1)[1]) if "/" in m["model"] else None
        score = info.intelligence if info else 0
        if vendor not in best or score > best[vendor][0]:
            best[vendor] = (score, m["name"])
    ranked = sorted(best.values(), key=lambda t: -t[0])
    return [name for _, name in ranked[:limit]]
