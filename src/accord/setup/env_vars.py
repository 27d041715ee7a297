"""The replaced setup's variables that are not PAL's own settings — LiteLLM's `.env` (`export NAME="value"`
lines), the keys in PAL's `.env` and in the `env` of its Claude Code entry: which Accord reads (they go to the
env file beside accord.yaml), and the true reason for each one it leaves.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..providers.vendors import VENDORS, base_env

if TYPE_CHECKING:
    from .imported import Result

DATABASE = ("LiteLLM's PostgreSQL database holds LiteLLM's own tables (its keys, spend logs, UI users); Accord "
            "does not read them and keeps its own store apart (SQLite by default; the dashboard needs no database "
            "server), so make Accord's keys anew with `accord keys`. To keep Accord's tables in that PostgreSQL "
            "database as well (beside LiteLLM's, under names of their own), import again with "
            "--use-litellm-database")
LEFT = {
    "LITELLM_SALT_KEY": "encrypts the provider keys LiteLLM keeps in its database; Accord reads provider keys "
                        "from its env file and never reads LiteLLM's database",
    "STORE_MODEL_IN_DB": "lets LiteLLM's UI keep models in its database; Accord serves the models in accord.yaml",
    "LITELLM_LOG": "LiteLLM's own log level; Accord's is settings.log_level",
    "PATH": "the program search path (PAL's launcher needed it to find uvx); `accord claude install` and "
            "`accord service install` run accord by its full path",
    "PAL_MCP_FORCE_ENV_OVERRIDE": "decides between PAL's .env and Claude Code's env; Accord has one env file",
}
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def referenced(data: Any) -> set[str]:
    """The variables a converted config reads (`${NAME}` and `${NAME:-default}`)."""
    return set(_REF.findall(str(data)))


def apply(env: dict[str, str], out: Result, *, litellm_database: bool) -> None:
    refs = referenced(out.data)
    vendor_bases = {base_env(v) for v in VENDORS.values()}
    settings = out.section("settings")
    ui_login = []
    for key, value in env.items():
        value = value.strip()
        if not value:
            out.skipped.append(f"{key}: empty")
        elif key == "LITELLM_MASTER_KEY":
            if settings.setdefault("master_key", "${LITELLM_MASTER_KEY}") != "${LITELLM_MASTER_KEY}":
                out.skipped.append(f"{key}: general_settings.master_key is set, and wins over it (in LiteLLM too)")
                continue
            out.env[key] = value
            out.notes.append("LITELLM_MASTER_KEY is Accord's master key (settings.master_key reads it from the env "
                             "file): clients keep the key they send")
        elif key in ("UI_USERNAME", "UI_PASSWORD"):
            out.env[key] = value
            ui_login.append(key)
        elif key == "DATABASE_URL":
            if litellm_database:
                out.env[key] = value
                settings.setdefault("database_url", "${DATABASE_URL}")
                out.notes.append("DATABASE_URL: Accord's tables go into LiteLLM's PostgreSQL database, beside "
                                 "LiteLLM's (settings.database_url); LiteLLM's own tables are not read")
            elif any(s.startswith("general_settings.database_url:") for s in out.skipped):
                out.skipped.append("DATABASE_URL: LiteLLM's database (see general_settings.database_url)")
            else:
                out.skipped.append(f"DATABASE_URL: {DATABASE}")
        elif key in refs or key.endswith("_API_KEY") or key in vendor_bases:
            out.env[key] = value
            out.notes.append(f"{key} moved to the env file" + (" (the config reads it)" if key in refs else ""))
        elif key in LEFT:
            out.skipped.append(f"{key}: {LEFT[key]}")
        else:
            out.skipped.append(f"{key}: not a PAL or LiteLLM setting Accord uses")
    if ui_login:
        out.notes.append(f"{' and '.join(ui_login)} moved to the env file: the dashboard's login reads them, as "
                         "LiteLLM's UI did")
