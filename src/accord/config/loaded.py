"""What loading a config gives: `Config` and the `Deployment`s the router serves."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import ModelInfo
from ..providers.vendors import Vendor
from ..redaction import basic_token, credential_secrets, mask, redact, split_credentials
from .schema import AgentSettings, ConsensusSettings, MCPSettings, PanelSettings, Settings


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
    # its Anthropic Messages endpoint, if it has one besides api_base (DeepSeek, Kimi, Qwen): /v1/messages
    # requests are passed through there as they are; None: they are translated to chat completions
    anthropic_base: str | None = None
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
                    **({"anthropic_base": split_credentials(d.anthropic_base)[0]} if d.anthropic_base else {}),
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

