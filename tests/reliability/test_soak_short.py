"""The short version of the soak run (tests/reliability/soak.py; the ten-minute figures are in
docs/reliability.md): mixed traffic with mid-stream disconnects; no failed request, RSS growth under 10% after
warm-up, no growth in file descriptors, sockets or asyncio tasks."""

from __future__ import annotations

import soak


def test_mixed_traffic_leaks_nothing(tmp_path):
    # 4 s of traffic still sends every kind of request many times over (each asserted below): a leak of a file
    # descriptor, socket or task per request shows as growth far past SLACK; quiet 1.5 s is over three times the
    # slow model's 0.4 s, the longest a request cut by its client can keep the server busy
    figures = soak.run(seconds=4, warmup=3, sample_every=2, quiet=1.5, workdir=tmp_path)
    assert figures["failed"] == [], figures
    done = figures["requests"]
    for kind in ("chat", "chat_vkey", "stream", "stream_cut", "slow_cut", "embed", "admin", "keys", "consensus"):
        assert done.get(kind, 0) > 0, (kind, done)
    assert figures["final"]["tasks"] <= figures["baseline"]["tasks"] + soak.SLACK["tasks"]
