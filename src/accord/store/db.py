"""The engine, sessions, and migrations applied at start.

SQLite (WAL, one file under the data directory) unless `settings.database_url` names another database.
Start-up reads the Alembic version row and loads Alembic only when the schema is behind, so an up-to-date
start costs one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from . import runs
from .migrations import HEAD
from .paths import database_url, sqlite_file

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ..config import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("accord.store")


def private_dir(path: Path) -> Path:
    """Make Accord's data folder readable by its owner only (0700) when creating it. A folder that already
    exists is left as it is: it may be shared, and what Accord keeps in it is 0600 anyway."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs is 0700 too
            path.mkdir(mode=0o700)
            path.chmod(0o700)  # whatever the umask
    return path


def private_sqlite(path: Path) -> None:
    """The database file exists, mode 0600, before SQLite opens it: SQLite makes its -wal and -shm files with
    the database file's mode, so they are 0600 too. Files made by older versions (0644) are tightened.
    Best effort: where the folder or file cannot be made, SQLite says why when it opens (and start() retries)."""
    with contextlib.suppress(OSError):
        private_dir(path.parent)
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
    for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(OSError):
            if f.stat().st_mode & 0o077:
                f.chmod(0o600)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        if (file := sqlite_file(url)) is not None:
            private_sqlite(file)
        self.engine: AsyncEngine = create_async_engine(url)
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.session: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)
        self._started = False
        self._lock: asyncio.Lock | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Database:
        return cls(database_url(settings))

    async def start(self) -> Database:
        """Bring the schema up to date (once per process, however many callers arrive at once)."""
        if self._started:
            return self
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            for attempt in range(6):
                if self._started:
                    break
                try:
                    async with _migration_lock(self.url), self.engine.begin() as conn:
                        await conn.run_sync(_upgrade_if_behind)
                    self._started = True
                    await self._reap()
                except Exception:
                    # another process (a worker, another instance) may be migrating the same database right
                    # now (PostgreSQL rolls its attempt back): wait for it, then find the schema up to date
                    if attempt == 5:
                        raise
                    await asyncio.sleep(0.1 * (attempt + 1))
        return self

    async def _reap(self) -> None:
        """Runs left `running` by a process that died are `interrupted` (runs.py says how it is decided)."""
        try:
            async with self.session.begin() as s:
                await runs.reap(s)
        except Exception as e:  # never a reason not to start
            log.warning("threads: could not look for interrupted runs (%s)", e.__class__.__name__)

    async def close(self) -> None:
        await self.engine.dispose()


@contextlib.asynccontextmanager
async def _migration_lock(url: str) -> AsyncIterator[None]:
    """One migrator at a time for a SQLite file (its DDL is not transactional, so a race would leave half a
    schema): an exclusive lock on `<db>.lock`, across processes and Database objects alike."""
    path = url.split(":///", 1)[1] if url.startswith("sqlite") and ":///" in url else None
    try:
        import fcntl
    except ImportError:  # Windows: one process per file is the supported setup there
        path = None
    if not path or path.endswith(":memory:"):
        yield
        return
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def current_revision(conn: Connection) -> str | None:
    from sqlalchemy import inspect

    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def quiet_alembic() -> None:
    """Alembic says a dozen INFO lines per start (plugins, DDL mode, each step); Accord says one line per
    migration itself (migrations/env.py), so Alembic speaks only of problems."""
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)


PG_MIGRATION_LOCK = 0x616363_6F7264  # "accord": the advisory lock key every instance migrates under


def _upgrade_if_behind(conn: Connection) -> None:
    if current_revision(conn) == HEAD:
        return
    if conn.dialect.name == "postgresql":
        # instances starting together on a new database migrate one at a time (held until this transaction
        # ends); the ones that waited find the schema up to date
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        if current_revision(conn) == HEAD:
            return
    quiet_alembic()
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
