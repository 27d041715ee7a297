"""The one translation of a LiteLLM proxy `config.yaml` into Accord's format.

Both readers of that format use it: the runtime (`accord serve` on a LiteLLM file, as it is) and
`accord import` (which writes accord.yaml). It works on the data's shape only, so it takes the values
resolved (runtime) or as `${VAR}` references (import) alike. Whatever it does not map is listed by key with
the reason, so both readers report the same keys for the same file; a malformed part goes to `problem`,
which the runtime raises and the importer reports and skips.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import catalog
from .deployments import split_model

SECTIONS = ("model_list", "litellm_settings", "router_settings", "general_settings", "environment_variables")
NOT_USED = "not used by Accord"
STEERS_LITELLM = "steers LiteLLM itself; Accord has no use for it"

# litellm_params keys with a meaning of their own; anything else is a request parameter passed upstream
_DEPLOYMENT_KEYS = {"model", "api_key", "api_base", "base_url", "extra_body", "rpm", "tpm", "timeout",
                    "stream_timeout", "max_retries", "weight", "order", "extra_headers", "headers", "api_version",
                    "input_cost_per_token", "output_cost_per_token"}
_NUMBERS = ("rpm", "tpm", "weight", "order", "timeout", "stream_timeout", "max_retries")
# litellm_params keys that only steer LiteLLM itself: reported, not sent upstream
_LITELLM_ONLY = {"custom_llm_provider", "drop_params", "input_cost_per_second", "output_cost_per_second",
                 "mock_response", "use_in_pass_through", "merge_reasoning_content_in_choices", "model_info", "tags",
                 "region_name", "organization", "litellm_credential_name"}
_MODEL_INFO = {
    "max_tokens": "max_output_tokens", "max_output_tokens": "max_output_tokens",
    "max_input_tokens": "context_window", "supports_vision": "vision", "supports_function_calling": "tools",
    "supports_reasoning": "thinking", "supports_response_schema": "json_mode", "mode": "mode",
}
_SETTINGS_MAP = {
    ("litellm_settings", "num_retries"): "num_retries",
    ("litellm_settings", "request_timeout"): "request_timeout",
    ("litellm_settings", "drop_params"): "drop_params",
    ("litellm_settings", "fallbacks"): "fallbacks",
    ("litellm_settings", "context_window_fallbacks"): "context_window_fallbacks",
    ("litellm_settings", "default_fallbacks"): "default_fallbacks",
    ("router_settings", "routing_strategy"): "routing_strategy",
    ("router_settings", "allowed_fails"): "allowed_fails",
    ("router_settings", "cooldown_time"): "cooldown_time",
    ("router_settings", "num_retries"): "num_retries",
    ("router_settings", "timeout"): "request_timeout",
    ("router_settings", "fallbacks"): "fallbacks",
    ("router_settings", "context_window_fallbacks"): "context_window_fallbacks",
    ("router_settings", "default_fallbacks"): "default_fallbacks",
    ("router_settings", "model_group_alias"): "model_group_alias",
    ("general_settings", "master_key"): "master_key",
}

Problem = Callable[[tuple, str], None]  # (path in the LiteLLM file, what is wrong); may raise


@dataclass
class Unmapped:
    """A key of the LiteLLM file that has no Accord equivalent, and why."""

    key: str  # e.g. litellm_settings.cache, model_list[4] (vllm-models).model_info.version
    why: str = NOT_USED

    def __str__(self) -> str:
        return f"{self.key}: {self.why}"


@dataclass
class Translation:
    models: list[dict] = field(default_factory=list)  # Accord `models:` entries (ModelEntry's fields)
    sources: list[tuple] = field(default_factory=list)  # each entry's path in the LiteLLM file
    settings: dict[str, Any] = field(default_factory=dict)  # Accord `settings:`
    origins: dict[str, str] = field(default_factory=dict)  # setting -> the LiteLLM key it came from
    unmapped: list[Unmapped] = field(default_factory=list)


def translate(data: dict, problem: Problem) -> Translation:
    """LiteLLM's sections as Accord's `models:` and `settings:`; a part `problem` does not raise for is left out."""
    out = Translation(unmapped=[Unmapped(k, "not a LiteLLM section Accord knows") for k in data if k not in SECTIONS])
    _settings(data, out, problem)
    model_list = data.get("model_list") or []
    if not isinstance(model_list, list):
        problem(("model_list",), "must be a list of entries (- model_name: ...)")
        model_list = []
    for i, entry in enumerate(model_list):
        model = _model(i, entry, out, problem)
        if model is not None:
            out.models.append(model)
            out.sources.append(("model_list", i, "litellm_params"))
    rs = rs_ if isinstance(rs_ := data.get("router_settings"), dict) else {}
    _group_aliases(rs.get("model_group_alias"), out)
    return out


def _settings(data: dict, out: Translation, problem: Problem) -> None:
    for section in ("litellm_settings", "router_settings", "general_settings"):
        block = data.get(section) or {}
        if not isinstance(block, dict):
            problem((section,), "must be a mapping of settings")
            continue
        for key, value in block.items():
            target = _SETTINGS_MAP.get((section, key))
            if target is None:
                out.unmapped.append(Unmapped(f"{section}.{key}"))
            elif target in ("fallbacks", "context_window_fallbacks"):
                fallbacks = _fallbacks(value, (section, key), problem)
                if fallbacks is not None:
                    out.settings[target], out.origins[target] = fallbacks, f"{section}.{key}"
            elif target != "model_group_alias":
                out.settings[target], out.origins[target] = value, f"{section}.{key}"
    rs = data.get("router_settings")
    if isinstance(rs, dict) and rs.get("redis_host"):
        auth = f":{rs['redis_password']}@" if rs.get("redis_password") else ""
        out.settings["redis_url"] = f"redis://{auth}{rs['redis_host']}:{rs.get('redis_port') or 6379}"
        out.origins["redis_url"] = "router_settings.redis_host"
        out.unmapped = [u for u in out.unmapped if not u.key.startswith("router_settings.redis_")]


def _model(i: int, entry: Any, out: Translation, problem: Problem) -> dict | None:
    path = ("model_list", i)
    if not isinstance(entry, dict):
        problem(path, "each entry needs model_name and litellm_params")
        return None
    name, params = entry.get("model_name"), entry.get("litellm_params")
    if not name or not isinstance(name, str):
        problem(path, "`model_name` is required: the name clients send")
        return None
    if not isinstance(params, dict) or not params.get("model"):
        problem((*path, "litellm_params"), "`litellm_params.model` is required, e.g. deepseek/deepseek-chat")
        return None
    where = f"model_list[{i}] ({name})"
    model = str(params["model"])
    skip = _unsupported(model, params)
    if skip:
        out.unmapped.append(Unmapped(where, skip))
        return None
    for k in entry:
        if k not in ("model_name", "litellm_params", "model_info"):
            out.unmapped.append(Unmapped(f"{where}.{k}", "not a model_list field Accord knows"))
    m: dict[str, Any] = {"name": name, "model": model}
    base = params.get("api_base") or params.get("base_url")
    if base:
        m["api_base"] = base
    if params.get("api_base") and params.get("base_url"):
        out.unmapped.append(Unmapped(f"{where}.litellm_params.base_url", "api_base is given, and used"))
    if "api_key" in params:
        m["api_key"] = params["api_key"]
    for k in _NUMBERS:
        if params.get(k) is not None:
            n = _num(params[k])
            if n is None:
                out.unmapped.append(Unmapped(f"{where}.litellm_params.{k}", f"not a number (got {params[k]!r})"))
            else:
                m[k] = n
    if params.get("api_version"):
        m["api_version"] = str(params["api_version"])
    if params.get("extra_body"):
        m["extra_body"] = params["extra_body"]
    headers = params.get("extra_headers") or params.get("headers")
    if headers:
        m["headers"] = headers
    if params.get("extra_headers") and params.get("headers"):
        out.unmapped.append(Unmapped(f"{where}.litellm_params.headers", "extra_headers is given, and used"))
    passthrough = {}
    for k, v in params.items():
        if k in _LITELLM_ONLY:
            out.unmapped.append(Unmapped(f"{where}.litellm_params.{k}", STEERS_LITELLM))
        elif k not in _DEPLOYMENT_KEYS:
            passthrough[k] = v
    if passthrough:
        m["params"] = passthrough
    caps = _capabilities(entry.get("model_info"), params, where, out)
    if caps:
        m["capabilities"] = caps
    info = entry.get("model_info")
    if isinstance(info, dict) and info.get("id"):
        m["id"] = str(info["id"])
    return m


def _capabilities(info: Any, params: dict, where: str, out: Translation) -> dict:
    """model_info (and LiteLLM's per-token prices) as Accord's capability overrides; prices per million."""
    caps: dict[str, Any] = {}
    if info is not None and not isinstance(info, dict):
        out.unmapped.append(Unmapped(f"{where}.model_info", "not a mapping"))
    for k, v in (info if isinstance(info, dict) else {}).items():
        if k in _MODEL_INFO:
            caps[_MODEL_INFO[k]] = v
        elif k in ("input_cost_per_token", "output_cost_per_token"):
            _price(caps, k, v, f"{where}.model_info.{k}", out)
        elif k != "id":
            out.unmapped.append(Unmapped(f"{where}.model_info.{k}", "no matching Accord capability"))
    for k in ("input_cost_per_token", "output_cost_per_token"):
        if k in params:
            _price(caps, k, params[k], f"{where}.litellm_params.{k}", out)
    return caps


def _price(caps: dict, key: str, value: Any, where: str, out: Translation) -> None:
    """LiteLLM's dollars per token as Accord's dollars per million tokens."""
    try:
        caps[key.split("_")[0] + "_price"] = float(value) * 1_000_000
    except (TypeError, ValueError):
        out.unmapped.append(Unmapped(where, f"not a number (got {str(value)[:40]!r})"))


def _group_aliases(value: Any, out: Translation) -> None:
    """router_settings.model_group_alias: another name for a model group, as Accord's `aliases`."""
    groups = {m["name"] for m in out.models}
    for alias, target in (value if isinstance(value, dict) else {}).items():
        target = target.get("model") if isinstance(target, dict) else target
        if target not in groups or alias in groups:
            out.unmapped.append(Unmapped(f"router_settings.model_group_alias.{alias}", f"no model group `{target}`"))
            continue
        for m in out.models:
            if m["name"] == target and str(alias) not in m.setdefault("aliases", []):
                m["aliases"].append(str(alias))


def _unsupported(model: str, params: dict) -> str | None:
    """Why Accord cannot serve this LiteLLM entry (it is skipped and reported, not fatal), or None."""
    if "*" in model:
        return "wildcard models are not supported; list each model"
    vendor, _ = split_model(model)
    if vendor is not None or catalog.lookup(model) is not None:
        return None
    prefix = model.partition("/")[0] if "/" in model else ""
    if prefix:
        return f"provider `{prefix}` is not supported by Accord yet"
    if params.get("api_base") or params.get("base_url"):
        return None
    return f"cannot tell which provider serves `{model}`; write it as provider/model"


def _num(v: Any) -> Any:
    """A number written as a string made a number; a `${VAR}` reference kept; other text None."""
    if isinstance(v, str):
        if v.startswith("${") and v.endswith("}"):
            return v
        try:
            return float(v) if "." in v else int(v)
        except ValueError:
            return None
    return v


def _fallbacks(value: Any, path: tuple, problem: Problem) -> dict[str, list[str]] | None:
    """LiteLLM writes fallbacks as a list of one-key mappings: [{gpt-4o: [deepseek-chat]}]."""
    out: dict[str, list[str]] = {}
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else None
    if items is None:
        problem(path, "write fallbacks as a list: - {model-a: [model-b, model-c]}")
        return None
    for item in items:
        if not isinstance(item, dict):
            problem(path, "each fallback is a mapping {model: [fallback, ...]}")
            return None
        for k, v in item.items():
            out[str(k)] = [str(x) for x in (v if isinstance(v, list) else [v])]
    return out
