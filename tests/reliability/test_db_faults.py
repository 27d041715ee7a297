"""The database goes away mid-traffic, or stops taking writes, and comes back.

Requests keep being served the whole time (master key and a virtual key already seen), usage rows wait in
memory and are all written once the database is back. (How soon is printed as a FIGURE, not asserted: timing
claims live in bench/.)
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter

import httpx
import pytest

from conftest import MASTER_KEY, basic_config
from waiting import wait_for

MSG = [{"role": "user", "content": "hi"}]


class Traffic:
    """Chat requests in a loop from a thread, half with the master key, half with a virtual key."""

    def __init__(self, url: str, vkey: str) -> None:
        self.url, self.vkey = url, vkey
        self.statuses: Counter = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as c:
            i = 0
            while not self._stop.is_set():
                key = MASTER_KEY if i % 2 else self.vkey
                i += 1
                r = c.post(f"{self.url}/v1/chat/completions", json={"model": "gpt-test", "messages": MSG},
                           headers={"Authorization": f"Bearer {key}"})
                self.statuses[r.status_code] += 1
                if r.status_code != 200 and len(self.failures) < 5:
                    self.failures.append(r.text[:300])
                time.sleep(0.005)  # wait-ok: pacing, so the traffic thread does not starve the server

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.thread.join(30)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def _gateway(gateway_factory, upstream, url: str):
    gw = gateway_factory(basic_config(upstream.url).replace("settings:\n", f'settings:\n  database_url: "{url}"\n'))
    wait_for(gw.app.state.store.ready.is_set, "the store to open")
    r = httpx.post(f"{gw.url}/key/generate", json={"key_alias": "faults"},
                   headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert r.status_code == 200, r.text
    return gw, r.json()["key"]


def _timed(cond, what: str) -> float:
    """Wait for `cond`; how long it took, for the FIGURE line only."""
    t0 = time.monotonic()
    wait_for(cond, what)
    return time.monotonic() - t0


def _served(traffic: Traffic, more: int) -> None:
    """Wait until the traffic has had `more` answers from now."""
    mark = traffic.total
    wait_for(lambda: traffic.total >= mark + more, f"{more} more requests served")


def _check(traffic: Traffic, count, gw, recovered_in: float) -> None:
    print(f"\nFIGURE db_fault: {traffic.total} requests all {set(traffic.statuses)}, {count()} usage rows, "
          f"buffered rows written {recovered_in:.2f} s after the database was back")
    assert traffic.statuses == Counter({200: traffic.total}), (traffic.statuses, traffic.failures)
    assert traffic.total > 50
    assert count() == traffic.total  # every request recorded, none twice
    assert gw.app.state.store.usage.buffer == []


def test_postgres_stopped_mid_traffic_then_back(gateway_factory, upstream, postgres_server, caplog):
    pg = postgres_server
    pg.reset()
    gw, vkey = _gateway(gateway_factory, upstream, pg.url)

    def count() -> int:
        return int(pg.sql("SELECT count(*) FROM usage"))

    store = gw.app.state.store
    with Traffic(gw.url, vkey) as t:
        _served(t, 20)
        pg.halt()
        halted = time.monotonic()  # the event loop's clock (asyncio's default is time.monotonic)
        try:
            # the writer has failed, and so has the key refresh: the cached virtual key keeps its last state
            wait_for(lambda: store.usage.failing_since, "the usage writer to notice the outage")
            wait_for(lambda: (store.refresh_failing_since or 0) > halted, "the key refresh to notice the outage")
            _served(t, 20)
            during = t.total
            assert store.usage.buffer, "rows should be waiting in memory"
        finally:
            pg.resume()
        sent_by_now = t.total
        recovered = _timed(lambda: count() >= sent_by_now, "the buffered rows to be written")
    wait_for(lambda: count() == t.total, "every request's row in the database")
    assert during > 20
    _check(t, count, gw, recovered)
    assert "cannot write to the database" in caplog.text and "database is back" in caplog.text


def test_postgres_read_only_mid_traffic_then_writable(gateway_factory, upstream, postgres_server):
    pg = postgres_server
    pg.reset()
    gw, vkey = _gateway(gateway_factory, upstream, pg.url)

    def count() -> int:
        return int(pg.sql("SELECT count(*) FROM usage"))

    def read_only(on: bool) -> None:
        stmt = "ALTER SYSTEM SET default_transaction_read_only = on" if on else \
            "ALTER SYSTEM RESET default_transaction_read_only"
        pg.sql(stmt, db="postgres")
        pg.sql("SELECT pg_reload_conf()", db="postgres")

    with Traffic(gw.url, vkey) as t:
        _served(t, 20)
        read_only(True)
        try:
            wait_for(lambda: gw.app.state.store.usage.failing_since, "the usage writer to be refused")
            wait_for(lambda: len(gw.app.state.store.usage.buffer) >= 20, "rows waiting in memory")
        finally:
            read_only(False)
        sent_by_now = t.total
        recovered = _timed(lambda: count() >= sent_by_now, "the buffered rows to be written")
    wait_for(lambda: count() == t.total, "every request's row in the database")
    _check(t, count, gw, recovered)


def test_sqlite_locked_mid_traffic_then_released(gateway_factory, upstream, tmp_path):
    db = tmp_path / "accord.db"
    gw, vkey = _gateway(gateway_factory, upstream, f"sqlite:///{db}")

    def count() -> int:
        with sqlite3.connect(db, timeout=10) as c:
            return int(c.execute("SELECT count(*) FROM usage").fetchone()[0])

    with Traffic(gw.url, vkey) as t:
        _served(t, 20)
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # another process writing for a long time: nobody else may write
        try:
            wait_for(lambda: gw.app.state.store.usage.failing_since, "the writer to give up (SQLite's busy_timeout)")
            assert gw.app.state.store.usage.buffer
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        sent_by_now = t.total
        recovered = _timed(lambda: count() >= sent_by_now, "the buffered rows to be written")
    wait_for(lambda: count() == t.total, "every request's row in the database")
    _check(t, count, gw, recovered)


@pytest.fixture(autouse=True)
def _info_logs(caplog):
    caplog.set_level("WARNING", logger="accord")
