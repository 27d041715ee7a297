"""`accord import`: the setup Accord replaces — a LiteLLM `config.yaml` and its `.env`, PAL's custom models and
.env, Claude Code's MCP config holding PAL's entry — converted into one accord.yaml.

Every input is recognised by its content. Whatever cannot be mapped is reported by name with the reason;
secrets go to the env file, accord.yaml only references them, and every variable it references is either
written to that env file or named in the report.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeGuard

from ..config.litellm import SECTIONS, translate
from ..config.yamlsource import dotted
from ..providers.vendors import VENDORS
from . import env_vars, pal
from .claude_config import all_servers
from .imported import Result

_ENV_LINE = re.compile(r"^(export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=")
_NO_KEY = {"", "none", "null", "empty", "fake", "dummy", "na", "n/a", "-", "x", "sk-no-key-required"}


class ImportProblem(Exception):
    """An input Accord cannot use at all (one line, for the CLI)."""


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
        from ..config.envfile import parse

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
    if isinstance(data, dict) and any(k in data for k in SECTIONS):
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
    env = env_ if isinstance(env_ := entry.get("env"), dict) else {}
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


def _is_ref(value: Any) -> TypeGuard[str]:
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
    """The runtime's own translation (config.litellm), then what only writing a file needs: literal secrets
    moved to the env file, provider URLs as defaults of their variables, prices rounded, the LiteLLM database."""
    data = env_refs(raw)
    t = translate(data, lambda path, why: out.skipped.append(f"{dotted(path)}: {why}"))
    env = data.get("environment_variables")
    for k, v in (env if isinstance(env, dict) else {}).items():
        out.env[str(k)] = "" if v is None else str(v)
    if env and isinstance(env, dict):
        out.notes.append(f"environment_variables ({', '.join(map(str, env))}) moved to the env file")
    for m, source in zip(t.models, t.sources, strict=True):
        out.models.append(_model(m, f"model_list[{source[1]}] ({m['name']})", out))
    _settings(t.settings, t.origins, data, out)
    for u in t.unmapped:
        if u.key == "general_settings.database_url" and out.litellm_database:
            continue  # mapped by _settings
        why = env_vars.DATABASE if u.key == "general_settings.database_url" else u.why
        out.skipped.append(f"{u.key}: {why}")


def _model(m: dict, where: str, out: Result) -> dict:
    """A translated entry as written to accord.yaml: its key a reference to the env file."""
    entry = dict(m)
    model, base = m["model"], m.get("api_base")
    vendor = VENDORS.get(model.split("/", 1)[0]) if "/" in model else None
    if _is_ref(base) and vendor and vendor.api_base and ":-" not in base:
        entry["api_base"] = base[:-1] + f":-{vendor.api_base}}}"  # unset variable: the provider's own URL
    if "api_key" in m:
        key = m["api_key"]
        own = re.sub(r"\W", "_", m["name"]).upper() + "_API_KEY"  # a custom endpoint's key is its own
        var = vendor.key_env if vendor and vendor.key_env and not base else own
        if key is None or str(key).strip().lower() in _NO_KEY:
            entry["api_key"] = "none"  # a placeholder, not a secret: stays inline
        else:
            entry["api_key"] = _secret(out, key, var, where)
    if "headers" in m:
        entry["headers"] = {str(k): str(v) for k, v in m["headers"].items()}
    caps = m.get("capabilities")
    if caps:
        entry["capabilities"] = {k: round(v, 6) if k.endswith("_price") else v for k, v in caps.items()}
    return entry


def _settings(translated: dict, origins: dict[str, str], data: dict, out: Result) -> None:
    """Translated settings kept where they validate (a `${VAR}` is checked when it is loaded)."""
    from pydantic import ValidationError

    from ..config import Settings

    settings = out.section("settings")
    gs = data.get("general_settings")
    if out.litellm_database and isinstance(gs, dict) and "database_url" in gs:
        settings["database_url"] = _secret(out, gs["database_url"], "DATABASE_URL", "general_settings.database_url")
    for target, value in translated.items():
        origin = origins[target]
        if target == "master_key":
            value = _secret(out, value, "ACCORD_MASTER_KEY", origin)
        try:
            Settings.model_validate({target: _number(value)})
        except ValidationError as e:
            if not _is_ref(value):
                msg = e.errors()[0]["msg"]
                out.skipped.append(f"{origin}: {msg[0].lower()}{msg[1:]} (got {value!r})")
                continue
        settings[target] = _number(value)
