"""PAL MCP server settings, mapped onto accord.yaml: its custom models file, its .env, and the `env` of its
entry in Claude Code's MCP config (where a uvx install keeps all of them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from .imported import Result

# PAL custom model field -> Accord capability
CAPABILITIES = {
    "context_window": "context_window", "max_output_tokens": "max_output_tokens",
    "supports_extended_thinking": "thinking", "supports_images": "vision",
    "supports_function_calling": "tools", "supports_json_mode": "json_mode",
    "supports_temperature": "temperature", "intelligence_score": "intelligence",
}
UNMAPPED = {
    "max_thinking_tokens": "Accord asks for thinking by effort; it has no per-model thinking budget",
    "supports_system_prompts": "Accord sends system prompts to every model",
    "supports_streaming": "Accord streams from every model that can",
    "default_reasoning_effort": "the MCP tools choose the effort per call",
    "allow_code_generation": "no such switch in Accord",
    "max_image_size_mb": "no such limit in Accord",
}
IGNORED_QUIETLY = {"model_name", "aliases", "description", "friendly_name", "temperature_constraint"}
THREADS = "Accord stores threads in its database; it has no expiry or turn-limit setting"
LOG_LEVELS = {"debug": "debug", "info": "info", "warning": "warning", "warn": "warning", "error": "error",
              "critical": "error"}
LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "host.docker.internal"}
# how PAL's Claude Code entry is named (Zen MCP was its former name), or what its launcher runs
SERVER_NAMES = {"pal", "zen", "pal-mcp", "zen-mcp", "pal-mcp-server", "zen-mcp-server", "zen_mcp", "zen_mcp_server"}
_LAUNCHER = re.compile(r"(?<![a-z0-9])(pal|zen)[-_]mcp([-_]server)?(?![a-z0-9])")  # not paypal-mcp-server
APILOOKUP = ("apilookup (on in PAL) has no Accord tool: Claude Code looks current API docs up itself with its "
             "web search (WebSearch, WebFetch)")


def is_server(name: str, entry: Any) -> bool:
    """PAL's entry among Claude Code's MCP servers: by its name, or by a command or arguments (a `bash -c`
    launcher string included) that run pal-mcp-server / zen-mcp-server."""
    if not isinstance(entry, dict):
        return False
    if name.strip().lower() in SERVER_NAMES:
        return True
    args = a if isinstance(a := entry.get("args"), list) else []
    launch = " ".join(str(x) for x in [entry.get("command") or "", *args]).lower()
    return bool(_LAUNCHER.search(launch))


@dataclass
class Custom:
    url: str | None = None  # CUSTOM_API_URL
    key_ref: str | None = None  # how entries reference CUSTOM_API_KEY
    model_name: str | None = None  # CUSTOM_MODEL_NAME
    default: str | None = None  # DEFAULT_MODEL, resolved once the models are known (default_model)


def apply_env(env: dict[str, str], out: Result, *, have_litellm: bool) -> tuple[Custom, dict[str, str]]:
    """Map PAL's own settings; returns them and the variables that are not PAL's (keys, LiteLLM's, ...)."""
    custom, rest = Custom(), {}
    url = env.get("CUSTOM_API_URL", "").strip()
    proxy_here = False
    if url:
        host = urlparse(url).hostname or ""
        if have_litellm and host in LOOPBACK:
            proxy_here = True
            out.notes.append(f"CUSTOM_API_URL ({url}) pointed at the LiteLLM proxy being imported: the two-service "
                             "setup becomes one process (Accord's MCP server calls the models in-process; no "
                             "endpoint setting needed)")
        elif have_litellm:
            out.notes.append(f"CUSTOM_API_URL ({url}) is not on this machine: if it is the LiteLLM proxy imported "
                             "here, nothing to set; otherwise set mcp.endpoint to it")
        else:
            custom.url = url
    for key, value in env.items():
        value = value.strip()
        if key == "CUSTOM_API_URL":
            continue
        if key == "CUSTOM_API_KEY":
            if proxy_here:
                out.skipped.append("CUSTOM_API_KEY: the LiteLLM proxy's key; not needed in one process")
            elif value:
                out.env["CUSTOM_API_KEY"] = value
                custom.key_ref = "${CUSTOM_API_KEY}"
            continue
        if key == "CUSTOM_MODEL_NAME":
            custom.model_name = value or None
        elif key == "DEFAULT_MODEL":
            custom.default = value or None
        elif key == "DISABLED_TOOLS":
            tools = [t.strip().lower() for t in value.split(",") if t.strip()]
            if tools:
                out.section("mcp")["disabled_tools"] = tools
        elif key == "LOG_LEVEL":
            level = LOG_LEVELS.get(value.lower())
            if level:
                out.section("settings")["log_level"] = level
            else:
                out.skipped.append(f"LOG_LEVEL: `{value}` is not one of debug, info, warning, error")
        elif key in ("CONVERSATION_TIMEOUT_HOURS", "MAX_CONVERSATION_TURNS"):
            out.skipped.append(f"{key}={value}: {THREADS}")
        elif key == "CUSTOM_MODELS_CONFIG_PATH":
            continue  # the importer reads the file it names
        else:
            rest[key] = value
    if custom.url and custom.key_ref is None:  # no key: do not let OPENAI_API_KEY be sent to it
        custom.key_ref = "none"
    pal_here = len(rest) < len(env)  # PAL's own settings were given, so PAL's apilookup was on unless disabled
    if pal_here and "apilookup" not in out.data.get("mcp", {}).get("disabled_tools", []):
        out.notes.append(APILOOKUP)
    return custom, rest


def default_model(custom: Custom, out: Result) -> None:
    """DEFAULT_MODEL as an imported model's name: PAL's `custom` means CUSTOM_MODEL_NAME, and a name the
    imported models do not answer to would fail every call, so it becomes `auto` (said in a note)."""
    value = custom.default
    if not value:
        return
    mcp = out.section("mcp")
    if value.lower() == "auto":
        mcp["default_model"] = "auto"
        return
    wanted = value
    if value.lower() == "custom":
        if not custom.model_name:
            mcp["default_model"] = "auto"
            out.notes.append("DEFAULT_MODEL=custom names CUSTOM_MODEL_NAME, which is not set: mcp.default_model "
                             "is auto")
            return
        wanted = custom.model_name
    target = _target(wanted, [], out)
    if target is None:
        mcp["default_model"] = "auto"
        names = ", ".join(m["name"] for m in out.models) or "none"
        out.notes.append(f"DEFAULT_MODEL `{wanted}` is not among the imported models ({names}): mcp.default_model "
                         "is auto; set it to one of them to pin it")
        return
    mcp["default_model"] = target
    if wanted != value:
        out.notes.append(f"DEFAULT_MODEL=custom is PAL's name for CUSTOM_MODEL_NAME ({wanted}): "
                         f"mcp.default_model is {target}")


def match_names(model_name: str, aliases: list[str]) -> set[str]:
    """The names a PAL model may go by in the LiteLLM config (PAL names can carry a vendor prefix)."""
    names = {model_name, *aliases}
    return names | {n.rsplit("/", 1)[-1] for n in names}


def entry_names(entry: dict) -> set[str]:
    model = str(entry.get("model", ""))
    return {entry["name"], *(entry.get("aliases") or []), model, model.split("/", 1)[-1], model.rsplit("/", 1)[-1]}


def _target(model_name: str, aliases: list[str], out: Result) -> str | None:
    """The accord.yaml model name a PAL model configures, or None."""
    for m in out.models:  # an exact name first
        if m["name"] == model_name:
            return m["name"]
    wanted = match_names(model_name, aliases)
    return next((m["name"] for m in out.models if wanted & entry_names(m)), None)


def capabilities(model: dict, where: str, out: Result) -> dict:
    caps = {CAPABILITIES[k]: v for k, v in model.items() if k in CAPABILITIES and v is not None}
    desc = model.get("description") or model.get("friendly_name")
    if desc:
        caps["description"] = str(desc)
    constraint = model.get("temperature_constraint")
    if constraint == "fixed" and "temperature" not in caps:
        caps["temperature"] = False
    elif constraint and constraint != "fixed":
        out.skipped.append(f"{where}.temperature_constraint ({constraint}): Accord passes temperatures through")
    for k in model:
        if k in UNMAPPED:
            out.skipped.append(f"{where}.{k}: {UNMAPPED[k]}")
        elif k not in CAPABILITIES and k not in IGNORED_QUIETLY:
            out.skipped.append(f"{where}.{k}: not a PAL model field Accord knows")
    return caps


def apply_models(models: list, out: Result, custom: Custom, *, have_litellm: bool) -> None:
    for i, model in enumerate(models):
        if not isinstance(model, dict) or not model.get("model_name"):
            out.skipped.append(f"models[{i}]: no model_name")
            continue
        name = str(model["model_name"])
        aliases = [str(a) for a in model.get("aliases") or []]
        where = f"PAL model {name}"
        caps = capabilities(model, where, out)
        target = _target(name, aliases, out)
        if target is None:
            add_custom(name, caps, aliases, out, custom, have_litellm=have_litellm)
            continue
        for entry in out.models:
            if entry["name"] == target:
                entry["capabilities"] = {**entry.get("capabilities", {}), **caps}
        _add_aliases(target, [name, *aliases], out, where)


def add_custom(name: str, caps: dict, aliases: list[str], out: Result, custom: Custom, *,
               have_litellm: bool) -> None:
    """A PAL model no LiteLLM entry serves: an `openai/<name>` entry against CUSTOM_API_URL."""
    if have_litellm:
        out.skipped.append(f"PAL model {name}: no model of that name in the LiteLLM config")
        return
    if not custom.url:
        out.skipped.append(f"PAL model {name}: no CUSTOM_API_URL to serve it from (import PAL's .env too)")
        return
    entry: dict = {"name": name, "model": f"openai/{name}", "api_base": custom.url, "api_key": custom.key_ref}
    if caps:
        entry["capabilities"] = caps
    out.models.append(entry)
    _add_aliases(name, aliases, out, f"PAL model {name}")


def _add_aliases(target: str, aliases: list[str], out: Result, where: str) -> None:
    names = {m["name"] for m in out.models}
    owner = {a: m["name"] for m in out.models for a in m.get("aliases") or []}
    for a in dict.fromkeys(aliases):
        if a == target or owner.get(a) == target:
            continue
        if a in names or a in owner:
            out.skipped.append(f"{where}: alias `{a}` already names another model")
            continue
        for m in out.models:
            if m["name"] == target:
                m.setdefault("aliases", []).append(a)
        owner[a] = target
