"""The database goes away mid-traffic, or stops taking writes, and comes back.

Requests keep being served the whole time (master key and a virtual key already seen), usage rows wait in
memory and are all written once the database is back, within a stated bound (RECOVERY_S).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter

import httpx
import pytest

from conftest import MASTER_KEY, basic_config

RECOVERY_S = 5.0  # rows buffered during an outage are in the database this long after it is back
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
                time.sleep(0.005)

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
    deadline = time.monotonic() + 30
    while not gw.app.state.store.ready.is_set():
        assert time.monotonic() < deadline, "store did not open"
        time.sleep(0.05)
    r = httpx.post(f"{gw.url}/key/generate", json={"key_alias": "faults"},
                   headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert r.status_code == 200, r.text
    return gw, r.json()["key"]


def _until(cond, timeout: float, why=lambda: "") -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not reached within {timeout} s {why()}")
        time.sleep(0.05)
    return time.monotonic() - t0


def _check(traffic: Traffic, count, gw, recovered_in: float) -> None:
    print(f"\nFIGURE db_fault: {traffic.total} requests all {set(traffic.statuses)}, {count()} usage rows, "
          f"buffered rows written {recovered_in:.2f} s after the database was back")
    assert traffic.statuses == Counter({200: traffic.total}), (traffic.statuses, traffic.failures)
    assert traffic.total > 50
    assert count() == traffic.total  # every request recorded, none twice
    assert recovered_in <= RECOVERY_S
    assert gw.app.state.store.usage.buffer == []


def test_postgres_stopped_mid_traffic_then_back(gateway_factory, upstream, postgres_server, caplog):
    pg = postgres_server
    pg.reset()
    gw, vkey = _gateway(gateway_factory, upstream, pg.url)

    def count() -> int:
        return int(pg.sql("SELECT count(*) FROM usage"))

    with Traffic(gw.url, vkey) as t:
        time.sleep(0.6)
        pg.halt()
        try:
            time.sleep(2.5)  # several flush intervals and key-cache lifetimes with no database
            during = t.total
            assert gw.app.state.store.usage.buffer, "rows should be waiting in memory"
        finally:
            pg.resume()
        sent_by_now = t.total
        recovered = _until(lambda: count() >= sent_by_now, RECOVERY_S + 5)
    _until(lambda: count() == t.total, RECOVERY_S, lambda: (count(), t.statuses, t.failures))
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
        time.sleep(0.6)
        read_only(True)
        try:
            _until(lambda: bool(gw.app.state.store.usage.failing_since), 5)
            time.sleep(1.5)
        finally:
            read_only(False)
        sent_by_now = t.total
        recovered = _until(lambda: count() >= sent_by_now, RECOVERY_S + 5)
    _until(lambda: count() == t.total, RECOVERY_S, lambda: (count(), t.statuses, t.failures))
    _check(t, count, gw, recovered)


def test_sqlite_locked_mid_traffic_then_released(gateway_factory, upstream, tmp_path):
    db = tmp_path / "accord.db"
    gw, vkey = _gateway(gateway_factory, upstream, f"sqlite:///{db}")

    def count() -> int:
        with sqlite3.connect(db, timeout=10) as c:
            return int(c.execute("SELECT count(*) FROM usage").fetchone()[0])

    with Traffic(gw.url, vkey) as t:
        time.sleep(0.6)
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # another process writing for a long time: nobody else may write
        try:
            _until(lambda: bool(gw.app.state.store.usage.failing_since), 15)  # after SQLite's busy_timeout
            assert gw.app.state.store.usage.buffer
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        sent_by_now = t.total
        recovered = _until(lambda: count() >= sent_by_now, RECOVERY_S + 5)
    _until(lambda: count() == t.total, RECOVERY_S, lambda: (count(), t.statuses, t.failures))
    _check(t, count, gw, recovered)


@pytest.fixture(autouse=True)
def _info_logs(caplog):
    caplog.set_level("WARNING", logger="accord")
