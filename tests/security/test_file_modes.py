"""What Accord writes to disk is its owner's alone: the SQLite data folder is made 0700, and the database and
the -wal and -shm files SQLite makes beside it later are 0600, whatever the umask; files left 0644 by an older
version are tightened at start."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import httpx

from conftest import MASTER_KEY
from waiting import wait_for


def _mode(p: Path) -> str:
    return oct(stat.S_IMODE(p.stat().st_mode))


def _config(upstream_url: str, data: Path) -> str:
    return f"""settings:
  master_key: {MASTER_KEY}
  data_dir: {data}
models:
  - {{name: m, model: openai/gpt-4o-mini, api_base: {upstream_url}/v1, api_key: sk-upstream-1234}}
"""


def _write_something(url: str) -> None:
    r = httpx.post(f"{url}/key/generate", json={"key_alias": "modes"},
                   headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=60)
    assert r.status_code == 200, r.text


def test_a_new_data_folder_is_0700_and_the_database_files_0600(upstream, gateway_factory, tmp_path):
    old = os.umask(0o022)  # the usual umask, which would make them 0755 and 0644
    try:
        data = tmp_path / "fresh" / "accord"
        g = gateway_factory(_config(upstream.url, data))
        _write_something(g.url)
        db = data / "accord.db"
        wait_for(lambda: Path(f"{db}-wal").exists() and Path(f"{db}-shm").exists(), "SQLite's -wal and -shm files")
    finally:
        os.umask(old)
    assert _mode(data) == "0o700"
    assert {p.name: _mode(p) for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"))} == {
        "accord.db": "0o600", "accord.db-wal": "0o600", "accord.db-shm": "0o600"}


def test_database_files_an_older_version_left_readable_are_tightened(upstream, gateway_factory, tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    db = data / "accord.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.chmod(0o644)
    g = gateway_factory(_config(upstream.url, data))
    _write_something(g.url)
    con.close()
    modes = {p.name: _mode(p) for p in data.iterdir() if p.name.startswith("accord.db")}
    assert modes and all(m == "0o600" for m in modes.values()), modes
