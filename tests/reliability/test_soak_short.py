"""The short version of the soak run (tests/reliability/soak.py; the ten-minute figures are in
docs/reliability.md): mixed traffic with mid-stream disconnects; no failed request, RSS growth under 10% after
warm-up, no growth in file descriptors, sockets or asyncio tasks."""

from __future__ import annotations

import soak


def test_mixed_traffic_leaks_nothing(tmp_path):
    figures = soak.run(seconds=8, warmup=3, sample_every=4, workdir=tmp_path)
    assert figures["failed"] == [], figures
    done = figures["requests"]
    for kind in ("chat", "chat_vkey", "stream", "stream_cut", "slow_cut", "embed", "admin", "keys", "consensus"):
        assert done.get(kind, 0) > 0, (kind, done)
    assert figures["final"]["tasks"] <= figures["baseline"]["tasks"] + soak.SLACK["tasks"]
