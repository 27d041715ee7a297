"""Accord's own config format, as pydantic models, and the error that names the file, line and key of a value
they refuse (with the key it most likely meant)."""

from __future__ import annotations

import difflib
import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic import Field as PField

from ..errors import ConfigError
from .yamlsource import Source


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
    anthropic_base: str | None = None  # where it serves Anthropic's Messages API (passthrough for /v1/messages)
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


# ------------------------------------------------------------------------------------------ its errors
def schema_error(e: ValidationError, src: Source, root: type[BaseModel]) -> ConfigError:
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

