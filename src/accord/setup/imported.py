"""What `accord import` makes of the setup it reads: accord.yaml, the env file, and what it skipped and why.
Filled by importer.py and by the readers it hands parts to (pal.py, env_vars.py), so it sits below them all."""

from __future__ import annotations

from dataclasses import dataclass, field


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
