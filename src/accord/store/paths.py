"""Where Accord's data lives: its folder and the database URL and file. Apart from db.py, which brings
SQLAlchemy: the file checks of the MCP tools and the CLI's set-up need the paths, not the engine, and the gateway
imports them at start-up (start to healthy: bench/README.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings


def data_dir(settings: Settings | None = None) -> Path:
    if settings is not None and settings.data_dir:
        return Path(settings.data_dir).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "accord"


def database_url(settings: Settings | None = None) -> str:
    """`settings.database_url` as an async URL, or the default SQLite file."""
    url = settings.database_url if settings is not None else None
    if url:
        for sync, asyn in (("postgresql://", "postgresql+asyncpg://"), ("postgres://", "postgresql+asyncpg://"),
                           ("sqlite://", "sqlite+aiosqlite://")):
            if url.startswith(sync):
                return asyn + url[len(sync):]
        return url
    path = data_dir(settings) / "accord.db"
    return f"sqlite+aiosqlite:///{path}"


def sqlite_file(url: str) -> Path | None:
    """The SQLite database file a URL names, or None (another database, or in memory)."""
    if url.startswith("sqlite") and ":///" in url and not url.endswith(":memory:"):
        return Path(url.split(":///", 1)[1])
    return None
