"""`accord import`: the setup Accord replaces — a LiteLLM `config.yaml` and its `.env`, PAL's custom models and
.env, Claude Code's MCP config holding PAL's entry — converted into one accord.yaml.

Every input is recognised by its content. Whatever cannot be mapped is reported by name with the reason;
secrets go to the env file, accord.yaml only references them, and every variable it references is either
written to that env file or named in the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..litellm_config import _LITELLM_ONLY, _MODEL_INFO, _SETTINGS_MAP, _unsupported
from ..providers.vendors import VENDORS
from . import env_vars, pal
from .claude_config import all_servers

_ENV_LINE = re.compile(r"^(export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=")
_SECTIONS = ("model_list", "litellm_settings", "router_settings", "general_settings", "environment_variables")
_NO_KEY = {"", "none", "null", "empty", "fake", "dummy", "na", "n/a", "-", "x", "sk-no-key-required"}
_SAME_NAME = ("rpm", "tpm", "timeout", "stream_timeout", "max_retries", "weight", "order", "api_version")


class ImportProblem(Exception):
    """An input Accord cannot use at all (one line, for the CLI)."""


@dataclass
class Result:
    data: dict = field(default_factory=dict)  # accord.yaml
    env: dict[str, str] = field(default_factory=dict)  # for the env file
    skipped: list[str] = field(default_factory=list)  # "what: why"
    notes: list[str] = field(default_factory=list)
    kinds: list[tuple[str, str]] = field(default_factory=list)  # (file, kind)
    litellm_database: bool = False  # --use-litellm-database: Accord's tables into LiteLLM's PostgreSQL

    @property
    def models(self) -> list[dict]:
        return self.data.setdefault("models", [])

    def section(self, name: str) -> dict:
        return self.data.setdefault(name, {})


# --------------------------------------------------------------------------------------------- recognising
def detect(name: str, text: str) -> tuple[str, Any]:
    """(kind, parsed): kind is litellm | pal-models | claude-mcp | pal-env | litellm-env | env."""
    raw = text.lstrip("\ufeff")
    body = raw.strip()
    if not body:
        raise ImportProblem(f"{name}: the file is empty")
    if body[0] in "{[":
        import json

        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ImportProblem(f"{name}:{e.lineno}: not valid JSON ({e.msg})") from None
        if isinstance(data, dict) and isinstance(data.get("models"), list):
            return "pal-models", data["models"]
        if isinstance(data, dict) and ("mcpServers" in data or isinstance(data.get("projects"), dict)):
            return "claude-mcp", _pal_entry(name, data)
        raise ImportProblem(f'{name}: JSON, but not a PAL custom models file ({{"models": [...]}}) nor Claude '
                            'Code\'s MCP config ({"mcpServers": {...}})')
    lines = [ln.strip() for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if lines and all(_ENV_LINE.match(ln) for ln in lines):
        from ..envfile import parse

        try:
            values = parse(body, name)
        except Exception as e:
            raise ImportProblem(str(e)) from None
        return _env_kind(values), values
    import yaml

    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ImportProblem(f"{name}{where}: not valid YAML ({getattr(e, 'problem', None) or 'parse error'})") from None
    if isinstance(data, dict) and any(k in data for k in _SECTIONS):
        return "litellm", data
    if isinstance(data, dict) and any(k in data for k in ("models", "settings", "consensus", "mcp")):
        raise ImportProblem(f"{name}: already an Accord config; nothing to import (`accord config check` it)")
    raise ImportProblem(f"{name}: not a LiteLLM config.yaml, a PAL custom_models.json or a PAL .env file")


_PAL_KEYS = ("CUSTOM_API_URL", "CUSTOM_API_KEY", "CUSTOM_MODEL_NAME", "CUSTOM_MODELS_CONFIG_PATH", "DEFAULT_MODEL",
             "DISABLED_TOOLS", "CONVERSATION_TIMEOUT_HOURS", "MAX_CONVERSATION_TURNS")


def _env_kind(values: dict[str, str]) -> str:
    if any(k in values for k in _PAL_KEYS):
        return "pal-env"
    if any(k.startswith("LITELLM_") or k in ("UI_USERNAME", "UI_PASSWORD", "DATABASE_URL") for k in values):
        return "litellm-env"
    return "env"


def _pal_entry(name: str, data: dict) -> dict:
    """PAL's entry in a Claude Code file: the user-scope one first, then this folder's project, then any."""
    found = [(keys, n, e) for keys, n, e in all_servers(data) if pal.is_server(n, e)]
    if not found:
        names = sorted({n for _, n, _ in all_servers(data)})
        raise ImportProblem(f"{name}: Claude Code's MCP config, but no PAL server in it (servers: "
                            f"{', '.join(names) or 'none'}); give the file whose mcpServers hold PAL's entry")
    here = ("projects", str(Path.cwd()), "mcpServers")
    found.sort(key=lambda f: 0 if len(f[0]) == 1 else 1 if f[0] == here else 2)
    keys, server, entry = found[0]
    env = entry.get("env") if isinstance(entry.get("env"), dict) else {}
    return {"server": server, "where": _where(keys, server),
            "env": {str(k): "" if v is None else str(v) for k, v in env.items()},
            "others": [_where(k, n) for k, n, _ in found[1:]]}


def _where(keys: tuple[str, ...], server: str) -> str:
    return f"projects[{keys[1]}].mcpServers.{server}" if len(keys) > 1 else f"mcpServers.{server}"


def _follow(parsed: list[tuple[str, str, Any]], out: Result) -> list[tuple[str, str, Any]]:
    """The custom models file PAL's CUSTOM_MODELS_CONFIG_PATH names (`~` expanded; relative to the file that
    names it), read when it was not given too."""
    given = {Path(n).expanduser().resolve() for n, _, _ in parsed}
    extra: list[tuple[str, str, Any]] = []
    for name, kind, data in parsed:
        env = data.get("env", {}) if kind == "claude-mcp" else data if kind.endswith("env") else {}
        value = (env.get("CUSTOM_MODELS_CONFIG_PATH") or "").strip()
        if not value:
            continue
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = Path(name).expanduser().absolute().parent / path
        if path.resolve() in given:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            out.skipped.append(f"CUSTOM_MODELS_CONFIG_PATH ({value}): no such file here, so PAL's model "
                               "capabilities are not imported (the built-in catalog's are used); import the "
                               "file by hand if it lives elsewhere")
            continue
        except (OSError, UnicodeDecodeError) as e:
            raise ImportProblem(f"{path} (CUSTOM_MODELS_CONFIG_PATH in {name}): cannot read it "
                                f"({getattr(e, 'strerror', None) or e.__class__.__name__})") from None
        kind2, data2 = detect(str(path), text)
        if kind2 != "pal-models":
            raise ImportProblem(f"{path} (CUSTOM_MODELS_CONFIG_PATH in {name}): not a PAL custom models file")
        given.add(path.resolve())
        extra.append((str(path), kind2, data2))
        out.notes.append(f"read {path}: CUSTOM_MODELS_CONFIG_PATH in {Path(name).name} names it")
    return extra


def convert(files: list[tuple[str, str]], *, litellm_database: bool = False) -> Result:
    """Convert the given (name, text) inputs. Raises ImportProblem for an input it cannot read."""
    parsed = [(name, *detect(name, text)) for name, text in files]
    out = Result(litellm_database=litellm_database)
    parsed += _follow(parsed, out)
    kinds = [k for _, k, _ in parsed]
    if kinds.count("litellm") > 1:
        raise ImportProblem("give one LiteLLM config (several would be merged ambiguously)")
    out.kinds = [(n, k) for n, k, _ in parsed]
    litellm = next((d for _, k, d in parsed if k == "litellm"), None)
    if litellm is not None:
        from_litellm(litellm, out)
    env: dict[str, str] = {}
    # Claude Code's env block last: it is the process environment PAL ran with, which beats PAL's .env
    for _, kind, data in sorted(parsed, key=lambda p: p[1] == "claude-mcp"):
        if kind.endswith("env"):
            env.update(data)
        elif kind == "claude-mcp":
            env.update(data["env"])
            out.notes.append(f"PAL's settings read from the `env` of {data['where']}"
                             + (f" (also found, not read: {', '.join(data['others'])})" if data["others"] else ""))
    custom, rest = pal.apply_env(env, out, have_litellm=litellm is not None)
    for _, kind, data in parsed:
        if kind == "pal-models":
            pal.apply_models(data, out, custom, have_litellm=litellm is not None)
    if custom.model_name and not any(_matches(custom.model_name, m) for m in out.models):
        pal.add_custom(custom.model_name, {}, [], out, custom, have_litellm=litellm is not None)
    pal.default_model(custom, out)
    env_vars.apply(rest, out, litellm_database=litellm_database)
    _check(out)
    return out


def _matches(name: str, entry: dict) -> bool:
    return pal.match_names(name, []) & pal.entry_names(entry) != set()


def _check(out: Result) -> None:
    from pydantic import ValidationError

    from ..config import AccordFile

    for key in [k for k, v in out.data.items() if v in ({}, [])]:
        if key != "models":
            del out.data[key]
    try:
        AccordFile.model_validate(out.data)
    except ValidationError as e:  # a mapping bug, not the user's input
        raise ImportProblem(f"the converted config does not validate: {e.errors()[0]['msg']} at "
                            f"{'.'.join(map(str, e.errors()[0]['loc']))}") from None


# ------------------------------------------------------------------------------------------------- LiteLLM
def env_refs(obj: Any) -> Any:
    """LiteLLM's `os.environ/NAME` everywhere becomes `${NAME}`."""
    if isinstance(obj, dict):
        return {k: env_refs(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [env_refs(v) for v in obj]
    if isinstance(obj, str) and obj.startswith("os.environ/"):
        return "${" + obj[len("os.environ/"):].strip() + "}"
    return obj


def _is_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


def _secret(out: Result, value: Any, var: str, what: str) -> str:
    """A literal secret goes to the env file; the config gets a reference to it."""
    if _is_ref(value):
        return value
    base, n = var, 1
    while var in out.env and out.env[var] != str(value):
        n += 1
        var = f"{base}_{n}"
    out.env[var] = str(value)
    out.notes.append(f"{what}: the key written inline moved to the env file as {var}")
    return f"${{{var}}}"


def _number(v: Any) -> Any:
    if isinstance(v, str) and re.fullmatch(r"\d+(\.\d+)?", v.strip()):
        return float(v) if "." in v else int(v)
    return v


def from_litellm(raw: dict, out: Result) -> None:
    data = env_refs(raw)
    for k in data:
        if k not in _SECTIONS:
            out.skipped.append(f"{k}: not a LiteLLM section Accord knows")
    for k, v in (data.get("environment_variables") or {}).items():
        out.env[str(k)] = "" if v is None else str(v)
    if data.get("environment_variables"):
        out.notes.append(f"environment_variables ({', '.join(map(str, data['environment_variables']))}) "
                         "moved to the env file")
    for i, item in enumerate(data.get("model_list") or []):
        entry = _model(i, item, out)
        if entry:
            out.models.append(entry)
    _settings(data, out)


def _model(i: int, item: Any, out: Result) -> dict | None:
    if not isinstance(item, dict) or not item.get("model_name") or not isinstance(item.get("litellm_params"), dict):
        out.skipped.append(f"model_list[{i}]: needs model_name and litellm_params.model")
        return None
    name, params = str(item["model_name"]), dict(item["litellm_params"])
    where = f"model_list[{i}] ({name})"
    model = str(params.pop("model", "") or "")
    why = _unsupported(model, {**params, "model": model}) if model else "no litellm_params.model"
    if why:
        out.skipped.append(f"{where}: {why}")
        return None
    entry: dict = {"name": name, "model": model}
    base = params.pop("api_base", None) or params.pop("base_url", None)
    if base:
        vendor = VENDORS.get(model.split("/", 1)[0]) if "/" in model else None
        if _is_ref(base) and vendor and vendor.api_base and ":-" not in base:
            base = base[:-1] + f":-{vendor.api_base}}}"  # unset variable: the provider's own URL
        entry["api_base"] = base
    if "api_key" in params:
        key = params.pop("api_key")
        vendor = VENDORS.get(model.split("/", 1)[0]) if "/" in model else None
        own = re.sub(r"\W", "_", name).upper() + "_API_KEY"  # a custom endpoint's key is its own
        var = vendor.key_env if vendor and vendor.key_env and not base else own
        if key is None or str(key).strip().lower() in _NO_KEY:
            entry["api_key"] = "none"  # a placeholder, not a secret: stays inline
        else:
            entry["api_key"] = _secret(out, key, var, where)
    for k in _SAME_NAME:
        if k in params:
            entry[k] = _number(params.pop(k)) if k != "api_version" else str(params.pop(k))
    if params.get("extra_body"):
        entry["extra_body"] = params.pop("extra_body")
    headers = params.pop("extra_headers", None) or params.pop("headers", None)
    if headers:
        entry["headers"] = {str(k): str(v) for k, v in headers.items()}
    caps: dict = {}
    for k in ("input_cost_per_token", "output_cost_per_token"):
        if k in params:
            caps[k.split("_")[0] + "_price"] = round(float(params.pop(k)) * 1_000_000, 6)
    passthrough = {}
    for k, v in params.items():
        if k in _LITELLM_ONLY or k in ("drop_params", "extra_body", "base_url"):
            out.skipped.append(f"{where}.litellm_params.{k}: steers LiteLLM itself; Accord has no use for it")
        else:
            passthrough[k] = v
    if passthrough:
        entry["params"] = passthrough
    for k, v in (item.get("model_info") or {}).items():
        if k == "id":
            entry["id"] = str(v)
        elif k in _MODEL_INFO:
            caps[_MODEL_INFO[k]] = v
        elif k in ("input_cost_per_token", "output_cost_per_token"):
            caps[k.split("_")[0] + "_price"] = round(float(v) * 1_000_000, 6)
        else:
            out.skipped.append(f"{where}.model_info.{k}: no matching Accord capability")
    if caps:
        entry["capabilities"] = caps
    for k in item:
        if k not in ("model_name", "litellm_params", "model_info"):
            out.skipped.append(f"{where}.{k}: not a model_list field Accord knows")
    return entry


def _settings(data: dict, out: Result) -> None:
    from pydantic import ValidationError

    from ..config import Settings

    settings = out.section("settings")
    rs = data.get("router_settings") or {}
    for section in ("litellm_settings", "router_settings", "general_settings"):
        block = data.get(section) or {}
        if not isinstance(block, dict):
            out.skipped.append(f"{section}: not a mapping")
            continue
        for key, value in block.items():
            target = _SETTINGS_MAP.get((section, key))
            if section == "router_settings" and key.startswith("redis_"):
                continue
            if target == "model_group_alias":
                _group_aliases(value, out)
                continue
            if key == "database_url" and section == "general_settings" and out.litellm_database:
                settings["database_url"] = _secret(out, value, "DATABASE_URL", f"{section}.database_url")
                continue
            if target is None:
                why = env_vars.DATABASE if key == "database_url" else "not used by Accord"
                out.skipped.append(f"{section}.{key}: {why}")
                continue
            if target in ("fallbacks", "context_window_fallbacks"):
                value = _fallbacks(value)
            elif target == "master_key":
                value = _secret(out, value, "ACCORD_MASTER_KEY", f"{section}.master_key")
            try:
                Settings.model_validate({target: _number(value)})
            except ValidationError as e:
                if not _is_ref(value):
                    msg = e.errors()[0]["msg"]
                    out.skipped.append(f"{section}.{key}: {msg[0].lower()}{msg[1:]} (got {value!r})")
                    continue
            settings[target] = _number(value)
    if rs.get("redis_host"):
        pw = rs.get("redis_password")
        auth = f":{pw}@" if pw else ""
        settings["redis_url"] = f"redis://{auth}{rs['redis_host']}:{rs.get('redis_port') or 6379}"


def _fallbacks(value: Any) -> dict[str, list[str]]:
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    out: dict[str, list[str]] = {}
    for item in items:
        if isinstance(item, dict):
            for k, v in item.items():
                out[str(k)] = [str(x) for x in (v if isinstance(v, list) else [v])]
    return out


def _group_aliases(value: Any, out: Result) -> None:
    names = {m["name"] for m in out.models}
    for alias, target in (value or {}).items():
        target = target.get("model") if isinstance(target, dict) else target
        if target not in names or alias in names:
            out.skipped.append(f"router_settings.model_group_alias.{alias}: no model group `{target}`")
            continue
        for m in out.models:
            if m["name"] == target and alias not in m.setdefault("aliases", []):
                m["aliases"].append(str(alias))
