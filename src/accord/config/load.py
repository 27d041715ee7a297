"""Find, read, resolve (${VAR}, os.environ/VAR, the env file) and validate a config into one `Config`.

Every error names the file, the line, the key and what to write instead. The config is always read from the
file by the process that serves (each worker reads it itself), never handed over from a parent's memory.
A LiteLLM config.yaml is read as it is, through the one translation in `litellm.py`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .. import catalog
from ..errors import ConfigError
from ..providers.vendors import VENDORS
from . import envfile, yamlsource
from .checks import finish
from .deployments import default_base, deployment_from
from .litellm import NOT_USED, translate
from .loaded import Config, Deployment
from .schema import AccordFile, Settings, schema_error


# ---------------------------------------------------------------------------------------------- finding it
def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "accord"


def find(explicit: str | os.PathLike | None = None) -> Path | None:
    """`--config`, then $ACCORD_CONFIG, then ./accord.yaml, then $XDG_CONFIG_HOME/accord/accord.yaml."""
    for candidate in (explicit, os.environ.get("ACCORD_CONFIG")):
        if candidate:
            p = Path(candidate).expanduser()
            if not p.is_file():
                what = "--config" if candidate is explicit else "$ACCORD_CONFIG"
                raise ConfigError(f"no config file here (given by {what}); create it with `accord init` "
                                  "or point to an existing file", file=str(p))
            return p
    for p in (Path("accord.yaml"), config_dir() / "accord.yaml"):
        if p.is_file():
            return p
    return None


def load(path: str | os.PathLike | None = None, *, env_file: str | os.PathLike | None = None) -> Config:
    """Find, read, resolve and validate the config. Raises ConfigError, never anything else."""
    found = find(path)
    envp = Path(env_file).expanduser() if env_file else (found.parent if found else config_dir()) / "env"
    if env_file and not envp.is_file():
        raise ConfigError("no env file here (given by --env-file)", file=str(envp))
    envfile.load(envp)
    if found is None:
        cfg = zero_config()
        cfg.env_file = envp if envp.is_file() else None
        return cfg
    try:
        text = found.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the config file ({e.__class__.__name__})", file=str(found)) from None
    cfg = parse(text, str(found))
    cfg.path, cfg.env_file = found, (envp if envp.is_file() else None)
    return cfg


def parse(text: str, file: str = "accord.yaml") -> Config:
    src = yamlsource.load(text, file)
    if src.data is None:
        src.data = {}
    if not isinstance(src.data, dict):
        raise src.error((), "the file must be a mapping of sections (models:, settings:, ...), not a list or value")
    if "environment_variables" in src.data:  # LiteLLM sets these before resolving anything
        env = src.data["environment_variables"] or {}
        if not isinstance(env, dict):
            raise src.error(("environment_variables",), "must be a mapping NAME: value")
        for k, v in env.items():
            os.environ.setdefault(str(k), "" if v is None else str(v))
    data = _resolve_env(src.data, (), src)
    if "model_list" in data or "litellm_settings" in data or "general_settings" in data:
        cfg = _litellm(data, src)
    else:
        cfg = _accord(data, src)
    raw = [(src.data.get(sec) or {}).get("master_key") for sec in ("settings", "general_settings")
           if isinstance(src.data.get(sec), dict)]
    ref = next((_env_name(v) for v in raw if v is not None), None)
    if ref or any(v is not None for v in raw):
        cfg.master_key_env = ref
    return cfg


# ---------------------------------------------------------------------------------------- env references
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _resolve_env(obj: Any, path: tuple, src: yamlsource.Source) -> Any:
    if isinstance(obj, dict):
        return {k: _resolve_env(v, (*path, k), src) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve_env(v, (*path, i), src) for i, v in enumerate(obj)]
    if not isinstance(obj, str):
        return obj
    if obj.startswith("os.environ/"):
        name = obj[len("os.environ/"):].strip()
        if name not in os.environ:
            raise _missing_env(name, path, src)
        return os.environ[name]

    def sub(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise _missing_env(name, path, src)

    return _ENV_RE.sub(sub, obj) if "${" in obj else obj


def _env_name(value: Any) -> str | None:
    """NAME when a raw config value is only a reference to it: `${NAME}`, `${NAME:-x}`, `os.environ/NAME`."""
    if not isinstance(value, str):
        return None
    if value.startswith("os.environ/"):
        return value[len("os.environ/"):].strip() or None
    m = _ENV_RE.fullmatch(value.strip())
    return m.group(1) if m else None


def _missing_env(name: str, path: tuple, src: yamlsource.Source) -> ConfigError:
    return src.error(path, f"environment variable {name} is not set; add `{name}=...` to the env file beside "
                           f"the config, export it in your shell, or write `${{{name}:-default}}` for a default")


# ---------------------------------------------------------------------------------------- Accord's schema
def _accord(data: dict, src: yamlsource.Source) -> Config:
    try:
        parsed = AccordFile.model_validate(data)
    except ValidationError as e:
        raise schema_error(e, src, AccordFile) from None
    deployments = [
        deployment_from(
            e.name, e.model, src=src, path=("models", i), api_base=e.api_base, api_key=e.api_key,
            aliases=e.aliases, extra_body=e.extra_body, params=e.params, headers=e.headers,
            capabilities=e.capabilities, rpm=e.rpm, tpm=e.tpm, weight=e.weight, order=e.order,
            timeout=e.timeout, stream_timeout=e.stream_timeout, max_retries=e.max_retries, dep_id=e.id,
            api_version=e.api_version, anthropic_base=e.anthropic_base,
        )
        for i, e in enumerate(parsed.models)
    ]
    cfg = Config(None, parsed.settings, deployments, parsed.consensus, parsed.mcp, source="accord",
                 panels=parsed.panels, agents=parsed.agents)
    finish(cfg, src)
    return cfg




# ------------------------------------------------------------------------------------------ LiteLLM's format
def _litellm(data: dict, src: yamlsource.Source) -> Config:
    """A LiteLLM config.yaml served as it is: the one translation, then the same building as Accord's."""
    def problem(path: tuple, message: str) -> None:
        raise src.error(path, message)

    t = translate(data, problem)
    try:
        settings = Settings.model_validate(t.settings)
    except ValidationError as e:
        raise schema_error(e, src, Settings) from None
    deployments = [
        deployment_from(m["name"], m["model"], src=src, path=path, api_base=m.get("api_base"),
                        api_key=m.get("api_key"), aliases=m.get("aliases", ()), capabilities=m.get("capabilities"),
                        dep_id=m.get("id"), extra_body=m.get("extra_body", {}), params=m.get("params", {}),
                        headers=m.get("headers", {}), **{k: m.get(k) for k in _LITELLM_NUMBERS})
        for m, path in zip(t.models, t.sources, strict=True)
    ]
    ignored = [u.key if u.why == NOT_USED else str(u) for u in t.unmapped]
    cfg = Config(None, settings, deployments, source="litellm", ignored=ignored)
    finish(cfg, src)
    return cfg


_LITELLM_NUMBERS = ("rpm", "tpm", "weight", "order", "timeout", "stream_timeout", "max_retries", "api_version")

# ---------------------------------------------------------------------------------------------- zero config
def zero_config() -> Config:
    """No file: serve every catalog model of each provider whose standard key is in the environment."""
    deployments: list[Deployment] = []
    for vendor in VENDORS.values():
        if not vendor.zero_config or not vendor.key_env or not os.environ.get(vendor.key_env):
            continue
        base = default_base(vendor)
        for info in catalog.for_vendor(vendor.name):
            deployments.append(Deployment(
                id=info.id, name=info.id, vendor=vendor, model=info.id, api_base=(base or "").rstrip("/"),
                api_key=os.environ[vendor.key_env], info=info, aliases=info.aliases,
                anthropic_base=vendor.anthropic_base if base == vendor.api_base else None,
            ))
    if os.environ.get("OLLAMA_HOST"):
        deployments.extend(_ollama_models(os.environ["OLLAMA_HOST"]))
    settings = Settings(master_key=os.environ.get("ACCORD_MASTER_KEY") or None)
    cfg = Config(None, settings, deployments, source="zero-config")
    # aliases from the catalog may collide across vendors' rows: keep the first
    taken: set[str] = {d.name for d in deployments}
    for d in deployments:
        keep = tuple(a for a in d.aliases if a not in taken)
        taken.update(keep)
        d.aliases = keep
    finish(cfg)
    return cfg


def _ollama_models(host: str) -> list[Deployment]:
    """Ask the local Ollama which models it has (quickly; a down Ollama only leaves them out)."""
    import json
    import urllib.request

    root = host if host.startswith("http") else f"http://{host}"
    root = root.rstrip("/").removesuffix("/v1")
    try:
        with urllib.request.urlopen(f"{root}/api/tags", timeout=1.5) as r:
            names = [m["name"] for m in json.load(r).get("models", [])]
    except Exception:
        return []
    vendor = VENDORS["ollama"]
    return [
        Deployment(id=n, name=n, vendor=vendor, model=n, api_base=f"{root}/v1", api_key=None,
                   info=catalog.info_for(n, "ollama"))
        for n in names
    ]

