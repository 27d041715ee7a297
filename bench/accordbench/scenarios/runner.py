"""`python bench/run.py --scenarios [1,2,...] [--quick]`: the seven agent-shaped scenarios of issue 21, every
target in one run, one JSON file and one markdown file (and the README sections, for a full run)."""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import targets, wrk
from . import frontier, latency, streams
from .common import (
    Gateway,
    Load,
    Sizes,
    gateway,
    raise_fd_limit,
    start_gateway,
    stop_gateway,
    upstream_models,
)

ALL = (1, 2, 3, 4, 5, 6, 7)
PEERS = ("litellm", "portkey")


def _peers(a: argparse.Namespace, work: Path) -> tuple[list[str], dict[str, str]]:
    """The targets to run, and why any asked for is left out. A full run installs missing peers (each into
    bench/, never globally); a quick run uses them only when already installed."""
    wanted = [t for t in a.targets.split(",") if t]
    skipped: dict[str, str] = {}
    for peer in PEERS:
        if peer not in wanted:
            continue
        try:
            if peer == "litellm":
                if not (targets.litellm_bin().exists() or a.quick):
                    targets.ensure_litellm(work / "litellm-install.log")
                if not targets.litellm_bin().exists():
                    raise RuntimeError(f"not installed ({targets.LITELLM_VENV}; a full run installs it)")
            else:
                if not (targets.portkey_installed() or a.quick):
                    targets.ensure_portkey(work / "portkey-install.log")
                if not targets.portkey_installed():
                    raise RuntimeError(f"not installed ({targets.PORTKEY_DIR}; a full run installs it)")
        except (RuntimeError, OSError) as e:
            skipped[peer] = str(e)[:300]
    return [t for t in wanted if t not in skipped], skipped


def _each(names: list[str], fn: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        try:
            out[name] = fn(name)
        except Exception as e:  # a target that will not start or falls over: reported, the run goes on
            out[name] = {"error": f"{type(e).__name__}: {e}"[:400]}
    return out


def run(a: argparse.Namespace) -> dict[str, Any]:
    from ..main import machine

    targets.clean_env()
    z = Sizes.quick() if a.quick else Sizes()
    which = ALL if a.scenarios in ("all", "") else tuple(int(x) for x in a.scenarios.split(","))
    fds = raise_fd_limit()
    work = Path(tempfile.mkdtemp(prefix="accord-bench-scenarios-"))
    names, skipped = _peers(a, work)
    use_wrk = wrk.available() and not a.quick and a.loadgen != "python"
    res: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if a.quick else "full", "machine": machine(), "command": " ".join(["python bench/run.py",
                                                                                              *a.argv]),
        "settings": {"sizes": z.__dict__, "targets": names, "skipped": skipped, "fd_limit": fds,
                     "loadgen": "wrk (scenario 7), python (the rest)" if use_wrk else "python",
                     "litellm_version": targets.LITELLM_VERSION if "litellm" in names else None,
                     "portkey_version": targets.PORTKEY_VERSION if "portkey" in names else None},
        "scenarios": {}, "logs": str(work),
    }
    models = upstream_models(z)
    fake = targets.fake_upstream(work, 20, 10.0)
    sc = res["scenarios"]
    with fake:
        fake.start()
        url = fake.url
        shared = [n for n in (1, 2, 3, 6) if n in which]
        if shared:
            gws: list[Gateway] = []
            for name in names:
                try:
                    gws.append(start_gateway(name, work, url, fake, models))
                except (RuntimeError, OSError) as e:
                    for n in shared:
                        sc.setdefault(str(n), {}).setdefault("not_started", {})[name] = str(e)[:400]
            try:
                for n in shared:
                    load = Load()
                    print(f"bench: scenario {n}", flush=True)
                    if n == 1:
                        r = latency.contexts(gws, z.contexts, z.latency_s)
                    elif n == 2:
                        r = streams.tool_calls(gws, z.tool_chunks, z.tool_pace_ms, z.stream_runs, fake.port)
                    elif n == 3:
                        r = streams.head_of_line(gws, z.hol_tokens, z.hol_streams, z.big_event_mb, z.hol_s)
                    else:
                        r = latency.failover(gws, z.latency_s)
                    sc[str(n)] = {**sc.get(str(n), {}), "results": r, "load": load.done()}
            finally:
                for gw in gws:
                    stop_gateway(gw)
        if 4 in which:
            load = Load()
            print("bench: scenario 4", flush=True)

            # an upstream of its own: the shared one still holds what scenario 3's 20 MB events made it allocate,
            # and gave it back while direct's streams were open (its RSS per stream came out negative)
            fake4 = targets.fake_upstream(work / "s4", 20, 10.0)

            def s4(name: str) -> dict[str, Any]:
                with gateway(name, work, fake4.url, fake4, models, tag=f"{name}-s4") as gw:
                    return streams.open_streams(gw, z.open_streams, z.open_chunks, z.open_pace_ms,
                                                open_deadline=30.0 if a.quick else 120.0)

            (work / "s4").mkdir(exist_ok=True)
            with fake4:
                fake4.start()
                sc["4"] = {"results": _each(names, s4), "load": load.done()}
        if 5 in which:
            load = Load()
            print("bench: scenario 5", flush=True)
            direct = Gateway("direct", fake.port, upstream_names=True, models=models, server=fake)
            r = latency.key_flood(work, url, fake, models, direct, z.keys, z.latency_s)
            for peer in names:
                if peer in PEERS:
                    r[peer] = {"unsupported": {
                        "litellm": "not measured: LiteLLM's virtual keys need a PostgreSQL database and its "
                                   "Prisma client generated against it, which this harness does not set up",
                        "portkey": "the open-source gateway has no virtual keys (they are a Portkey Cloud feature)",
                    }[peer]}
            sc["5"] = {"results": r, "load": load.done()}
        if 7 in which:
            load = Load()
            print("bench: scenario 7", flush=True)

            def s7(name: str) -> dict[str, Any]:
                out: dict[str, Any] = {}
                workers = (1,) if name in ("direct", "portkey") else z.frontier_workers
                for w in workers:
                    try:
                        with gateway(name, work, url, fake, models, workers=w, tag=f"{name}-s7-w{w}") as gw:
                            out[str(w)] = frontier.ladder(gw, z.frontier_c, z.frontier_s, use_wrk,
                                                             z.frontier_warm_s)
                    except Exception as e:  # reported, the ladder goes on
                        out[str(w)] = {"error": f"{type(e).__name__}: {e}"[:400]}
                    f = out[str(w)].get("frontier", {})
                    print(f"bench: s7 {name:8} {w} worker(s): {f}", flush=True)
                return out

            sc["7"] = {"results": _each(names, s7), "load": load.done()}
    for entry in sc.values():  # each table says when and by what command it was measured (see main._scenarios)
        entry.update(date=res["date"], command=res["command"])
    if a.quick:
        shutil.rmtree(work, ignore_errors=True)
    return res
