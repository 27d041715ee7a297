"""Load and validate accord.yaml (or a LiteLLM config.yaml, as it is) into one `Config`.

Every error names the file, the line, the key and what to write instead. The config is always read from the
file by the process that serves (each worker reads it itself), never handed over from a parent's memory.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic import Field as PField

from . import catalog, envfile, yamlsource
from .catalog import ModelInfo
from .errors import ConfigError
from .providers.vendors import VENDORS, Vendor, base_env, known_prefixes, vendor_for_prefix
from .redaction import basic_token, credential_secrets, mask, redact, split_credentials

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# ---------------------------------------------------------------------------------------------- the schema
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelEntry(_Strict):
    """One deployment. Entries sharing a `name` form a group the router balances over."""

    name: str = PField(min_length=1)
    model: str = PField(min_length=1)  # provider/model-id, e.g. deepseek/deepseek-reasoner
    api_base: str | None = None
    api_key: str | None = None
    aliases: list[str] = []
    extra_body: dict[str, Any] = {}
    params: dict[str, Any] = {}  # default request parameters (temperature, max_tokens, ...)
    headers: dict[str, str] = {}
    capabilities: dict[str, Any] = {}  # overrides of the catalog entry
    rpm: int | None = PField(default=None, ge=1)
    tpm: int | None = PField(default=None, ge=1)
    weight: float = PField(default=1.0, gt=0)
    order: int | None = None
    timeout: float | None = PField(default=None, gt=0)
    stream_timeout: float | None = PField(default=None, gt=0)
    max_retries: int | None = PField(default=None, ge=0)
    api_version: str | None = None
    id: str | None = None


class Settings(_Strict):
    master_key: str | None = None
    host: str = "127.0.0.1"
    port: int = PField(default=4000, ge=0, le=65535)
    workers: int = PField(default=1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    max_body_mb: float = PField(default=32, gt=0)
    request_timeout: float = PField(default=600, gt=0)  # total, per upstream attempt
    connect_timeout: float = PField(default=10, gt=0)
    first_token_timeout: float = PField(default=300, gt=0)  # request sent -> first streamed chunk
    stream_idle_timeout: float = PField(default=120, gt=0)  # longest silence between streamed chunks
    max_response_mb: float = PField(default=64, gt=0)  # a larger upstream body is refused, not buffered
    num_retries: int = PField(default=2, ge=0, le=20)
    retry_backoff: float = PField(default=0.5, ge=0)  # seconds; doubles each retry, with jitter
    retry_backoff_max: float = PField(default=8, ge=0)
    retry_after_max: float = PField(default=30, ge=0)  # honour a provider's Retry-After up to this
    routing_strategy: Literal[
        "simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing", "cost-based-routing"
    ] = "simple-shuffle"
    allowed_fails: int = PField(default=3, ge=1)
    cooldown_time: float = PField(default=30, ge=0)
    fallbacks: dict[str, list[str]] = {}
    context_window_fallbacks: dict[str, list[str]] = {}
    default_fallbacks: list[str] = []
    drop_params: bool = True
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: str | None = None
    ui_username: str | None = None  # the dashboard's login (env UI_USERNAME); default "admin"
    ui_password: str | None = None  # plain or an argon2 hash ($argon2id$...) (env UI_PASSWORD)
    ui_session_secret: str | None = None  # default: derived from master_key, else a per-data-dir secret file
    ui_session_hours: float = PField(default=12, gt=0)
    # reverse proxies (IPs or CIDR ranges) whose X-Forwarded-For names the real client (the sign-in throttle);
    # from anyone else the header is ignored, as anyone can write it
    trusted_proxies: list[str] = []
    # names besides loopback that requests may be addressed to (Host header): "accord.example.com",
    # "*.example.com" (any subdomain), "192.168.1.5"; any port. Others get 421 (DNS rebinding).
    allowed_hosts: list[str] = []
    # how long POST /v1/responses answers are kept for `previous_response_id` (OpenAI keeps them 30 days)
    responses_retention_days: float = PField(default=30, gt=0)
    # Prometheus metrics at GET /metrics (master key); off: nothing recorded, prometheus_client never imported
    metrics: bool = True
    # also serve /metrics without auth on 127.0.0.1:<metrics_port>, for a Prometheus on the same host
    metrics_port: int | None = PField(default=None, ge=1, le=65535)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"`{entry}` is not an IP address or CIDR range; write e.g. 127.0.0.1 or "
                                 "10.0.0.0/8") from None
        return [e.strip() for e in value]


class ConsensusSettings(_Strict):
    panel: list[str] = []  # default panel; entries may be "model" or "model:stance"
    chair: str | None = None
    mode: Literal["synthesize", "vote", "review", "debate", "select"] = "synthesize"
    embedding_model: str | None = None  # groups free-text answers by meaning; unset: by their words
    timeout: float = PField(default=600, gt=0)
    per_model_timeout: float = PField(default=300, gt=0)
    concurrency: int = PField(default=0, ge=0)  # 0: all at once
    max_tokens: int | None = PField(default=None, ge=1)  # per answer
    token_budget: int | None = PField(default=None, ge=1)  # completion tokens per run
    cost_budget: float | None = PField(default=None, gt=0)  # US dollars per run
    rounds: int = PField(default=1, ge=1, le=5)  # debate rounds after the first answers


class PanelSettings(_Strict):
    """A named panel, served as a model on the gateway (`model: council`) and usable as a fallback."""

    models: list[str] = PField(min_length=1)  # "model" or "model:stance" (for | against | neutral)
    mode: Literal["synthesize", "vote", "review", "debate", "select"] = "synthesize"
    chair: str | None = None  # unset: chosen per run (another family than the panel's majority)
    rounds: int | None = PField(default=None, ge=1, le=5)
    answer_format: str | None = None  # vote: number | choice | yesno | json:<field>
    max_tokens: int | None = PField(default=None, ge=1)  # per answer; the request's max_tokens wins
    timeout: float | None = PField(default=None, gt=0)  # unset: consensus.timeout
    per_model_timeout: float | None = PField(default=None, gt=0)


class MCPSettings(_Strict):
    endpoint: str | None = None  # a remote OpenAI-compatible base URL instead of the in-process router
    endpoint_key: str | None = None
    disabled_tools: list[str] = []
    default_model: str = "auto"
    output_tokens: int = PField(default=8_000, ge=500)  # per tool result; Claude Code warns above 10,000
    file_tokens: int = PField(default=50_000, ge=0)
    allowed_roots: list[str] = []
    http: bool = True  # serve MCP over streamable HTTP at /mcp on the gateway
    heartbeat: float = PField(default=5.0, gt=0)  # seconds between progress notifications while a tool works


class AgentSettings(_Strict):
    """A local coding-agent CLI (claude -p, codex exec, gemini -p) sitting on a panel by its name: run headless,
    never through a shell, so users spend the subscriptions they already have."""

    command: str = PField(min_length=1)  # a program on PATH, or its path
    args: list[str] = []  # "{prompt}" in an argument is replaced by the prompt; none has it: the prompt is stdin
    answer: str = "text"  # text (all of stdout) | json:<field>[.<field>...] (e.g. json:result for claude's JSON)
    timeout: float = PField(default=300, gt=0)  # seconds; the agent is killed after it
    cwd: str | None = None  # where it runs (its repository); unset: where Accord runs

    @field_validator("answer")
    @classmethod
    def _answer(cls, value: str) -> str:
        if value != "text" and not (value.startswith("json:") and value[5:].strip(".")):
            raise ValueError(f"answer `{value}`: use text (all of stdout) or json:<field> (e.g. json:result)")
        return value


class AccordFile(_Strict):
    models: list[ModelEntry] = []
    settings: Settings = Settings()
    consensus: ConsensusSettings = ConsensusSettings()
    panels: dict[str, PanelSettings] = {}
    agents: dict[str, AgentSettings] = {}
    mcp: MCPSettings = MCPSettings()


# ----------------------------------------------------------------------------------------------- the result
@dataclass
class Deployment:
    """One upstream a model name can be served by."""

    id: str
    name: str
    vendor: Vendor
    model: str  # the upstream's model id
    api_base: str
    api_key: str | None = field(repr=False)
    info: ModelInfo
    aliases: tuple[str, ...] = ()
    extra_body: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    rpm: int | None = None
    tpm: int | None = None
    weight: float = 1.0
    order: int | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    max_retries: int | None = None
    api_version: str | None = None  # Azure's api-version query parameter
    # `user:password@` given inside api_base, as an HTTP Basic Authorization value. Kept out of api_base so the
    # URL can be shown and logged as it is; providers.base.with_url_credentials sends it.
    url_auth: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        clean, user, password = split_credentials(self.api_base)
        if clean != self.api_base:
            self.api_base = clean
            self.url_auth = "Basic " + basic_token(user or "", password or "")

    @property
    def adapter(self) -> str:
        return self.vendor.adapter

    def secrets(self) -> list[str]:
        """Every value of this deployment that must never be shown: its key, every header value, the
        credentials that were in its api_base (and their Basic token)."""
        out = [self.api_key, *(str(v) for v in self.headers.values())]
        if self.url_auth:
            out.extend(credential_secrets(self.url_auth))
        return [v for v in out if v]


@dataclass
class Config:
    path: Path | None
    settings: Settings
    deployments: list[Deployment]
    consensus: ConsensusSettings = field(default_factory=ConsensusSettings)
    mcp: MCPSettings = field(default_factory=MCPSettings)
    source: str = "accord"  # accord | litellm | zero-config
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    env_file: Path | None = None
    master_key_env: str | None = None  # the variable master_key is read from; None: a literal, or no key
    panels: dict[str, PanelSettings] = field(default_factory=dict)
    agents: dict[str, AgentSettings] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """Which config an instance serves, shown on /health/readiness so `accord doctor` and `accord serve`
        can tell this config's Accord from another one on the port: a hash of the file's path, not its
        contents (they hold secrets, and an edit not yet reloaded is still the same instance)."""
        import hashlib

        where = str(self.path.resolve()) if self.path else "zero-config"
        return hashlib.sha256(where.encode()).hexdigest()[:16]

    def redacted(self) -> dict:
        """The effective config as data, every secret replaced (for `config show` and the UI)."""
        s = self.settings.model_dump()
        return {
            "source": self.source,
            "file": str(self.path) if self.path else None,
            "settings": redact(s),
            "models": [
                {
                    "name": d.name, "id": d.id, "model": f"{d.vendor.name}/{d.model}", "api_base": d.api_base,
                    "api_key": mask(d.api_key), "aliases": list(d.aliases),
                    **({"credentials_in_api_base": mask("")} if d.url_auth else {}),
                    **({"headers": {k: mask(str(v)) for k, v in d.headers.items()}} if d.headers else {}),
                    **({"extra_body": redact(d.extra_body)} if d.extra_body else {}),
                    **({"params": redact(d.params)} if d.params else {}),
                    **({"rpm": d.rpm} if d.rpm else {}), **({"tpm": d.tpm} if d.tpm else {}),
                }
                for d in self.deployments
            ],
            "consensus": self.consensus.model_dump(),
            "panels": {n: p.model_dump(exclude_none=True) for n, p in self.panels.items()},
            "agents": {n: a.model_dump(exclude_none=True) for n, a in self.agents.items()},
            "mcp": redact(self.mcp.model_dump()),
            "ignored": self.ignored,
        }


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
        from .litellm_config import convert

        cfg = convert(data, src)
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
        raise _pydantic_error(e, src, AccordFile) from None
    deployments = [
        deployment_from(
            e.name, e.model, src=src, path=("models", i), api_base=e.api_base, api_key=e.api_key,
            aliases=e.aliases, extra_body=e.extra_body, params=e.params, headers=e.headers,
            capabilities=e.capabilities, rpm=e.rpm, tpm=e.tpm, weight=e.weight, order=e.order,
            timeout=e.timeout, stream_timeout=e.stream_timeout, max_retries=e.max_retries, dep_id=e.id,
            api_version=e.api_version,
        )
        for i, e in enumerate(parsed.models)
    ]
    cfg = Config(None, parsed.settings, deployments, parsed.consensus, parsed.mcp, source="accord",
                 panels=parsed.panels, agents=parsed.agents)
    finish(cfg, src)
    return cfg


def _pydantic_error(e: ValidationError, src: yamlsource.Source, root: type[BaseModel]) -> ConfigError:
    errs = e.errors()
    # a misspelt key explains the "missing" one next to it: report the typo first
    err = next((x for x in errs if x["type"] == "extra_forbidden"), errs[0])
    loc = tuple(err["loc"])
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        parent, bad = loc[:-1], loc[-1]
        choices = _fields_at(root, parent)
        close = difflib.get_close_matches(str(bad), choices, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"known keys here: {', '.join(sorted(choices))}"
        return src.error(loc, f"unknown key `{bad}`; {hint}")
    if kind == "missing":
        return src.error(loc[:-1], f"`{loc[-1]}` is required here; add `{loc[-1]}: ...`")
    if kind == "literal_error":
        return src.error(loc, f"{msg}")
    return src.error(loc, f"{msg[0].lower()}{msg[1:]} (got {_shown(err.get('input'))})")


def _shown(value: Any) -> str:
    """A wrong value, quoted back, unless it could be a key put in the wrong place (or a ${VAR} holding one):
    error messages end up in terminals, logs and bug reports."""
    if isinstance(value, str) and len(value) >= 12 and not any(c.isspace() for c in value):
        return f"a string of {len(value)} characters, not shown as it may be a secret"
    return repr(value)


def _fields_at(model: type[BaseModel], path: tuple) -> list[str]:
    for p in path:
        if isinstance(p, int):
            continue
        f = model.model_fields.get(str(p))
        ann = getattr(f, "annotation", None) if f else None
        args = getattr(ann, "__args__", ()) or (ann,)
        nxt = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nxt is None:
            return []
        model = nxt
    return list(model.model_fields)


# --------------------------------------------------------------------------------------- building deployments
def split_model(model: str) -> tuple[Vendor | None, str]:
    """`deepseek/deepseek-chat` -> (deepseek, deepseek-chat); `openrouter/x/y` -> (openrouter, x/y)."""
    prefix, sep, rest = model.partition("/")
    if sep:
        vendor = vendor_for_prefix(prefix)
        if vendor is not None:
            return vendor, rest
    return None, model


def deployment_from(
    name: str, model: str, *, src: yamlsource.Source, path: tuple, api_base: str | None = None,
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


def finish(cfg: Config, src: yamlsource.Source | None = None) -> None:
    """Give every deployment an id, check names, aliases and the bind address."""
    seen: dict[str, int] = {}
    for d in cfg.deployments:
        n = seen[d.name] = seen.get(d.name, -1) + 1
        if not d.id:
            d.id = d.name if n == 0 else f"{d.name}#{n}"
        if d.api_key is None and d.vendor.key_env and not d.url_auth:
            cfg.warnings.append(f"model {d.name}: no API key; set {d.vendor.key_env} or give api_key")
    names = {d.name for d in cfg.deployments}
    for d in cfg.deployments:
        for a in d.aliases:
            if a in names and a != d.name:
                where = (src.file if src else "config")
                raise ConfigError(f"alias `{a}` of model `{d.name}` is also a model name; pick another alias",
                                  file=where)
    cfg.warnings.extend(stray_api_bases(cfg.deployments))
    check_panels(cfg, src)
    s = cfg.settings
    if not s.master_key and os.environ.get("ACCORD_MASTER_KEY"):
        s.master_key = os.environ["ACCORD_MASTER_KEY"]
        cfg.master_key_env = "ACCORD_MASTER_KEY"
    s.ui_username = s.ui_username or os.environ.get("UI_USERNAME") or None
    s.ui_password = s.ui_password or os.environ.get("UI_PASSWORD") or None
    for i, entry in enumerate(s.allowed_hosts):
        if not _host_entry_ok(entry):
            raise ConfigError(
                f"allowed_hosts entry `{entry[:100]}` is not a host name; write a name or address without scheme, "
                "port or path, e.g. accord.example.com, *.example.com or 192.168.1.5 (any port matches)",
                file=src.file if src else None, line=src.line(("settings", "allowed_hosts", i)) if src else None,
                key="settings.allowed_hosts",
            )
    if not s.master_key and s.host not in LOOPBACK:
        raise ConfigError(
            f"host {s.host} would expose Accord without a master key; set settings.master_key "
            "(or ACCORD_MASTER_KEY) or keep host: 127.0.0.1",
            file=src.file if src else None, line=src.line(("settings", "host")) if src else None,
            key="settings.host",
        )


PANEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,17}$")  # it tags usage rows: route `panel:<name>`


def check_panels(cfg: Config, src: yamlsource.Source | None = None) -> None:
    """Each panel's name is free (no model or alias has it) and every member and chair is a served model."""
    served = {n.lower() for d in cfg.deployments for n in (d.name, *d.aliases)}

    def bad(path: tuple, msg: str) -> ConfigError:
        return src.error(path, msg) if src else ConfigError(msg, key=yamlsource.dotted(path))

    for name, p in cfg.panels.items():
        if not PANEL_NAME.match(name):
            raise bad(("panels", name), f"panel name `{name[:40]}`: use 1-18 letters, digits, `.`, `_` or `-` "
                                        "(it names the model clients ask for and tags usage rows)")
        if name.lower() in served:
            raise bad(("panels", name), f"panel `{name}` has the name of a model or alias; rename the panel")
        for i, spec in enumerate(p.models):
            model, sep, stance = spec.rpartition(":")
            model = model if sep and stance in ("for", "against", "neutral") else spec
            if model.lower() not in served:
                close = difflib.get_close_matches(model, sorted({d.name for d in cfg.deployments}), n=1)
                hint = f"; did you mean `{close[0]}`?" if close else "; members must be models listed under models:"
                raise bad(("panels", name, "models", i), f"panel `{name}`: model `{model}` is not served{hint}")
        if p.chair and p.chair.lower() not in served:
            raise bad(("panels", name, "chair"), f"panel `{name}`: chair `{p.chair}` is not a served model")
    for name in cfg.agents:
        if name.lower() in served or name in cfg.panels:
            raise bad(("agents", name), f"agent `{name}` has the name of a model, alias or panel; rename the agent")


_HOST_LABELS = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$")


def _host_entry_ok(entry: str) -> bool:
    e = entry.strip().lower()
    if e.startswith("[") and e.endswith("]"):
        e = e[1:-1]
    try:
        ipaddress.ip_address(e)
        return True
    except ValueError:
        return bool(_HOST_LABELS.match(e)) and len(e) <= 253


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
