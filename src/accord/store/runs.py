"""Which process runs a thread, and finding the runs whose process died, so none stays `running` forever.

A run records its owner (host, pid, and a random id for this process) and a lease: the time by which it has
ended for sure (its own timeout plus a margin; the engine stops every model call at the run's deadline). Each
process that opens the store marks `interrupted` every `running` thread that
- was started on this host by a process that is gone: its pid is not alive, or the pid is ours but the
  instance id is not (an earlier process whose pid this one reuses); or
- has a lease that ran out, whichever host owns it (its owner would have finished it by then).
Several instances sharing one PostgreSQL never mark each other's live runs: another host's run is left alone
until its lease ends, and a live pid on this host counts as alive (a reused pid only delays the mark until
the lease ends). A run marked by mistake (its final write merely late) is put right by its own finish, which
writes the final status whatever the stored one is.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Thread

log = logging.getLogger("accord.store")
HOST = socket.gethostname()[:60]
INSTANCE = os.urandom(4).hex()
LEASE_GRACE = 60.0  # seconds past a run's timeout before another host may call it interrupted
UNOWNED_AGE = timedelta(days=1)  # runs stored before owners were recorded


def owner() -> str:
    return f"{HOST}:{os.getpid()}:{INSTANCE}"


def lease(timeout: float | None) -> datetime | None:
    return None if timeout is None else datetime.now(timezone.utc) + timedelta(seconds=timeout + LEASE_GRACE)


def _gone(who: str) -> bool:
    """Whether the process `who` (host:pid:instance) is known to be dead; another host's is never known."""
    parts = who.rsplit(":", 2)
    if len(parts) != 3:
        return False
    host, pid_text, instance = parts
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return instance != INSTANCE
    if os.name == "nt":
        return False  # no cheap liveness check: the lease decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


async def reap(s: AsyncSession) -> int:
    """Mark the runs left `running` by dead processes `interrupted` (see the module docstring)."""
    now = datetime.now(timezone.utc)
    rows = (await s.execute(select(Thread.id, Thread.owner, Thread.lease_until, Thread.updated_at)
                            .where(Thread.status == "running"))).all()
    dead = []
    for tid, who, until, updated in rows:
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=timezone.utc)
        if updated is not None and updated.tzinfo is None:
            updated = updated.replace(tzinfo=timezone.utc)
        if (who and _gone(who)) or (until is not None and until < now) or (
                not who and updated is not None and now - updated > UNOWNED_AGE):
            dead.append(tid)
    if dead:
        await s.execute(update(Thread).where(Thread.id.in_(dead), Thread.status == "running")
                        .values(status="interrupted", updated_at=now))
        log.warning("threads: %d run(s) left running by a stopped process marked interrupted", len(dead))
    return len(dead)

