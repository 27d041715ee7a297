"""The short version of the load run (tests/reliability/load.py; the long run's figures are in
docs/reliability.md): concurrent streaming clients through a real `accord serve` on the fast fake upstream,
then concurrent MCP `consensus` calls over streamable HTTP. Zero errors, zero truncated streams, a usage row
for every request."""

from __future__ import annotations

import load


def test_streaming_clients_and_mcp_consensus_under_load(tmp_path):
    figures = load.run(clients=100, seconds=3, mcp_calls=20, workdir=tmp_path)  # 100 clients, each many streams
    stream = figures["stream"]
    assert figures["failed"] == [], figures
    assert stream["errors"] == 0 and stream["truncated"] == 0 and stream["streams_ok"] >= 100
    assert figures["usage"]["rows"] == figures["usage"]["requests"] == stream["streams_ok"]
    assert figures["mcp"]["ok"] == 20
