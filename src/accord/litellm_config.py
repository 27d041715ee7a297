"""Read a LiteLLM proxy `config.yaml` as it is.

What Accord uses is mapped onto its own settings; every key it does not use yet is listed by name in
`Config.ignored`, reported once at start, never a crash.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from . import catalog
from .config import (
    Config,
    ConsensusSettings,
    MCPSettings,
    Settings,
    _pydantic_error,
    deployment_from,
    finish,
    split_model,
)
from .yamlsource import Source

# litellm_params keys with a meaning of their own; anything else is a request parameter passed upstream
_DEPLOYMENT_KEYS = {"model", "api_key", "api_base", "base_url", "extra_body", "rpm", "tpm", "timeout",
                    "stream_timeout", "max_retries", "weight", "order", "extra_headers", "headers"}
# litellm_params keys that only steer LiteLLM itself: accepted, not sent upstream
_LITELLM_ONLY = {"custom_llm_provider", "drop_params", "input_cost_per_token", "output_cost_per_token",
                 "input_cost_per_second", "output_cost_per_second", "mock_response", "use_in_pass_through",
                 "merge_reasoning_content_in_choices", "model_info", "tags", "region_name", "api_version",
                 "organization", "litellm_credential_name"}
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
_SECTIONS = ("model_list", "litellm_settings", "router_settings", "general_settings", "environment_variables")


def convert(data: dict, src: Source) -> Config:
    ignored: list[str] = [k for k in data if k not in _SECTIONS]
    settings: dict[str, Any] = {}
    for section in ("litellm_settings", "router_settings", "general_settings"):
        block = data.get(section) or {}
        if not isinstance(block, dict):
            raise src.error((section,), "must be a mapping of settings")
        for key, value in block.items():
            target = _SETTINGS_MAP.get((section, key))
            if target is None:
                ignored.append(f"{section}.{key}")
            elif target == "model_group_alias":
                continue
            elif target in ("fallbacks", "context_window_fallbacks"):
                settings[target] = _fallbacks(value, src, (section, key))
            else:
                settings[target] = value
    rs = data.get("router_settings") or {}
    if rs.get("redis_host"):
        auth = f":{rs['redis_password']}@" if rs.get("redis_password") else ""
        settings["redis_url"] = f"redis://{auth}{rs['redis_host']}:{rs.get('redis_port') or 6379}"
        ignored = [i for i in ignored if not i.startswith("router_settings.redis_")]
    try:
        parsed = Settings.model_validate(settings)
    except ValidationError as e:
        raise _pydantic_error(e, src, Settings) from None

    model_list = data.get("model_list") or []
    if not isinstance(model_list, list):
        raise src.error(("model_list",), "must be a list of entries (- model_name: ...)")
    deployments = []
    for i, entry in enumerate(model_list):
        path = ("model_list", i)
        if not isinstance(entry, dict):
            raise src.error(path, "each entry needs model_name and litellm_params")
        name = entry.get("model_name")
        params = entry.get("litellm_params")
        if not name or not isinstance(name, str):
            raise src.error(path, "`model_name` is required: the name clients send")
        if not isinstance(params, dict) or not params.get("model"):
            raise src.error((*path, "litellm_params"), "`litellm_params.model` is required, e.g. deepseek/deepseek-chat")
        info = entry.get("model_info") or {}
        for k in entry:
            if k not in ("model_name", "litellm_params", "model_info"):
                ignored.append(f"model_list[{i}].{k}")
        caps = {_MODEL_INFO[k]: v for k, v in info.items() if k in _MODEL_INFO}
        for k, v in ((k, v) for k, v in info.items() if k not in _MODEL_INFO):
            if k == "input_cost_per_token":
                caps["input_price"] = float(v) * 1_000_000
            elif k == "output_cost_per_token":
                caps["output_price"] = float(v) * 1_000_000
        for k in ("input_cost_per_token", "output_cost_per_token"):
            if k in params:
                caps[k.split("_")[0] + "_price"] = float(params[k]) * 1_000_000
        model = str(params["model"])
        skip = _unsupported(model, params)
        if skip:
            ignored.append(f"model_list[{i}] ({name}): {skip}")
            continue
        passthrough = {k: v for k, v in params.items() if k not in _DEPLOYMENT_KEYS and k not in _LITELLM_ONLY}
        dep = deployment_from(
            name, model, src=src, path=(*path, "litellm_params"),
            api_base=params.get("api_base") or params.get("base_url"), api_key=params.get("api_key"),
            capabilities=caps, dep_id=str(info["id"]) if info.get("id") else None,
            extra_body=params.get("extra_body") or {}, params=passthrough,
            headers=params.get("extra_headers") or params.get("headers") or {},
            rpm=_num(params.get("rpm")), tpm=_num(params.get("tpm")), weight=_num(params.get("weight")),
            order=_num(params.get("order")), timeout=_num(params.get("timeout")),
            stream_timeout=_num(params.get("stream_timeout")), max_retries=_num(params.get("max_retries")),
            api_version=str(params["api_version"]) if params.get("api_version") else None,
        )
        deployments.append(dep)
    groups = {d.name for d in deployments}
    for alias, target in (rs.get("model_group_alias") or {}).items():
        target = target.get("model") if isinstance(target, dict) else target
        owner = next((d for d in deployments if d.name == target), None)
        if owner is None or alias in groups:
            ignored.append(f"router_settings.model_group_alias.{alias} (no model group `{target}`)")
            continue
        for d in deployments:
            if d.name == target:
                d.aliases = (*d.aliases, str(alias))
    cfg = Config(None, parsed, deployments, ConsensusSettings(), MCPSettings(), source="litellm", ignored=ignored)
    finish(cfg, src)
    return cfg


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
    if isinstance(v, str):
        try:
            return float(v) if "." in v else int(v)
        except ValueError:
            return None
    return v


def _fallbacks(value: Any, src: Source, path: tuple) -> dict[str, list[str]]:
    """LiteLLM writes fallbacks as a list of one-key mappings: [{gpt-4o: [deepseek-chat]}]."""
    out: dict[str, list[str]] = {}
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else None
    if items is None:
        raise src.error(path, "write fallbacks as a list: - {model-a: [model-b, model-c]}")
    for item in items:
        if not isinstance(item, dict):
            raise src.error(path, "each fallback is a mapping {model: [fallback, ...]}")
        for k, v in item.items():
            out[str(k)] = [str(x) for x in (v if isinstance(v, list) else [v])]
    return out
