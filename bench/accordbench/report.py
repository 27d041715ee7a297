"""The markdown tables: the issue's targets first, then the detail behind them."""

from __future__ import annotations

from typing import Any

NA = "–"


def _get(d: dict[str, Any] | None, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _num(v: float | None, fmt: str, unit: str = "") -> str:
    return NA if v is None else f"{v:{fmt}}{unit}"


def _yes(ok: bool | None) -> str:
    return NA if ok is None else ("**yes**" if ok else "no")


def _rps(t: dict | None, c: int) -> float | None:
    return _get(t, "load", str(c), "rps")


def _p50(t: dict | None, c: int) -> float | None:
    return _get(t, "load", str(c), "p50_ms")


def target_rows(res: dict[str, Any]) -> list[list[str]]:
    tg = res["targets"]
    d, a, lt = tg.get("direct"), tg.get("accord"), tg.get("litellm")
    rows: list[list[str]] = []

    def row(label: str, fn, fmt: str, unit: str, target: str, met: bool | None) -> None:
        rows.append([label, _num(fn(d), fmt, unit), _num(fn(a), fmt, unit), _num(fn(lt), fmt, unit), target,
                     _yes(met)])

    def le(v: float | None, limit: float) -> bool | None:
        return None if v is None else v <= limit

    sth = lambda t: _get(t, "start_to_healthy_s")  # noqa: E731
    row("start to healthy", sth, ".2f", " s", "≤ 1.0 s", le(sth(a), 1.0))
    idle = lambda t: _get(t, "rss_idle_mb")  # noqa: E731
    row("RSS idle", idle, ".0f", " MB", "≤ 80 MB", le(idle(a), 80))
    g = _get(a, "gateway_only")
    if g and "start_to_healthy_s" in g:
        rows[-2][2] += f" (no /mcp: {g['start_to_healthy_s']:.2f} s)"
        rows[-1][2] += f" (no /mcp: {g['rss_idle_mb']:.0f} MB)"
    row("RSS after load", lambda t: _get(t, "rss_after_load_mb"), ".0f", " MB", "", None)

    def added(t: dict | None) -> float | None:
        if t is None or _p50(t, 1) is None or _p50(d, 1) is None:
            return None
        return _p50(t, 1) - _p50(d, 1)  # type: ignore[operator]

    row("latency added, c=1 p50", added, ".2f", " ms", "≤ 0.5 ms", le(added(a), 0.5))

    def added99(t: dict | None) -> float | None:
        p, base = _get(t, "load", "1", "p99_ms"), _get(d, "load", "1", "p99_ms")
        return None if p is None or base is None else p - base

    row("latency added, c=1 p99", added99, ".2f", " ms", "", None)
    cs = sorted(int(c) for c in _get(a, "load") or {})
    c_hi = 64 if 64 in cs else (max(cs) if cs else 64)
    ra, rd, rl = _rps(a, c_hi), _rps(d, c_hi), _rps(lt, c_hi)
    met = None
    if ra is not None and rd:
        met = ra >= 0.5 * rd and (rl is None or ra >= 10 * rl)
    ratio = []
    if ra is not None and rd:
        ratio.append(f"{ra / rd:.0%} of direct")
    if ra is not None and rl:
        ratio.append(f"{ra / rl:.1f}× LiteLLM")
    rows.append([f"req/s c={c_hi}, {res['settings']['workers']} worker", _num(rd, ",.0f"), _num(ra, ",.0f")
                 + (f" ({', '.join(ratio)})" if ratio else ""), _num(rl, ",.0f"), "≥ 10× LiteLLM, ≥ 50% of direct",
                 _yes(met)])
    ttft_add = lambda t: _get(t, "stream", "ttft_added_p50_ms")  # noqa: E731
    row("streaming TTFT added p50", ttft_add, ".2f", " ms", "≤ 1 ms", le(ttft_add(a), 1.0))
    held = lambda t: _get(t, "stream", "held_back")  # noqa: E731
    pace = res["settings"]["pace_ms"]
    rows.append([f"chunks held back (of {res['settings']['chunks']}, {pace:g} ms apart)", NA,
                 _num(held(a), "d"), _num(held(lt), "d"), "0", _yes(None if held(a) is None else held(a) == 0)])
    c = res.get("consensus") or {}
    if c.get("status") == "ok":
        val = f"{c['net_s']:.2f} s (CLI wall {c['wall_s']:.2f} s; sum {c['sum_s']:.1f} s)"
        if "first_run_overhead_s" in c:
            val += f"; first run on a new store +{c['first_run_overhead_s'] * 1000:.0f} ms"
        met_c = c.get("met")
    else:
        val, met_c = c.get("status", "not run"), None
    delays = c.get("panel_delays_s") or [1, 5]
    label = f"consensus, 5 models ({delays[0]:g}..{delays[-1]:g} s) + chair ({c.get('chair_delay_s', 1):g} s)"
    rows.append([label, NA, val, NA,
                 f"≤ {c.get('bound_s', 6.05):.2f} s", _yes(met_c)])
    st = res.get("startup", {})
    ah, lh = _get(st, "accord --help", "median_s"), _get(st, "litellm --help", "median_s")
    rows.append(["`--help`", NA, _num(ah, ".3f", " s"), _num(lh, ".2f", " s"), "≤ 0.3 s", _yes(le(ah, 0.3))])
    ai, li = _get(st, "import accord.gateway", "median_s"), _get(st, "import litellm", "median_s")
    rows.append(["`import accord.gateway` / `import litellm`", NA, _num(ai, ".3f", " s"), _num(li, ".2f", " s"),
                 "", NA])
    return rows


def load_rows(res: dict[str, Any]) -> list[list[str]]:
    tg = res["targets"]
    names = [n for n in ("direct", "accord", "litellm") if n in tg]
    cs = sorted({int(c) for n in names for c in tg[n].get("load", {})})
    rows = []
    for c in cs:
        row = [str(c)]
        for n in names:
            r = _get(tg[n], "load", str(c))
            if r is None:
                row.append(NA)
                continue
            err = sum(r["errors"].values()) if r.get("errors") else 0
            row.append(f"{r['rps']:,.0f} req/s · {r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms"
                       + (f" · {err} errors" if err else ""))
        rows.append(row)
    return [["c", *names], *rows]


def stream_rows(res: dict[str, Any]) -> list[list[str]]:
    tg = res["targets"]
    rows = [["", "TTFT p50 / p99", "TTFT added", "chunk added p50 / max", "gap p50", "held back"]]
    for n in ("direct", "accord", "litellm"):
        s = _get(tg, n, "stream")
        if not s:
            continue
        rows.append([n, f"{s['ttft_p50_ms']:.2f} / {s['ttft_p99_ms']:.2f} ms", _num(s["ttft_added_p50_ms"], ".2f", " ms"),
                     f"{_num(s['chunk_added_p50_ms'], '.2f')} / {_num(s['chunk_added_max_ms'], '.2f')} ms",
                     f"{s['gap_p50_ms']:.2f} ms", _num(s["held_back"], "d")])
    return rows


def messages_rows(res: dict[str, Any]) -> list[list[str]]:
    """`POST /v1/messages` per target: latency at c = 1 and the streamed answer, each beside direct's."""
    tg = res["targets"]
    rows = [["", "latency c=1 p50 / p99", "latency added p50", "TTFT p50 / p99", "TTFT added p50",
             "chunk added p50 / max", "held back"]]
    base = _get(tg, "direct", "messages", "load_c1", "p50_ms")
    for n in ("direct", "accord", "litellm"):
        m = _get(tg, n, "messages")
        if not m:
            continue
        r, s = m["load_c1"], m["stream"]
        err = sum(r["errors"].values()) if r.get("errors") else 0
        lat = f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms" + (f" ({err} errors)" if err else "")
        if not r["ok"]:
            lat = f"failed ({err} errors)"
        added = r["p50_ms"] - base if base is not None and n != "direct" and r["ok"] else None
        ttft = (f"{s['ttft_p50_ms']:.2f} / {s['ttft_p99_ms']:.2f} ms" if s["runs"]
                else f"failed ({s['failures']} of {s['failures']} runs)")
        rows.append([n, lat, _num(added, ".2f", " ms"), ttft, _num(s["ttft_added_p50_ms"], ".2f", " ms"),
                     f"{_num(s['chunk_added_p50_ms'], '.2f')} / {_num(s['chunk_added_max_ms'], '.2f')} ms",
                     _num(s["held_back"], "d")])
    return rows


def table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def markdown(res: dict[str, Any]) -> str:
    m, s = res["machine"], res["settings"]
    lt = f"LiteLLM {s['litellm_version']}" if s.get("litellm_version") else "LiteLLM"
    head = (f"Run {res['date']} ({res['mode']}): {m['cpus']} CPUs ({m['cpu']}), {m['memory_gb']} GB, "
            f"Python {m['python']}{' + uvloop' if m.get('uvloop') else ''}, {m['os']}; load generator {s['loadgen']}, {s['duration_s']:g} s per run, "
            f"{s['workers']} worker per server. Command: `{res['command']}`.")
    busy = m.get("other_load") or 0.0
    if busy > 0.05:
        head += (f"\n\n**Warning: other processes used {busy:.0%} of the machine's CPU time during this run; "
                 "its figures are noisy. Re-run on a quiet machine.**")
    else:
        head += f" Other processes used {busy:.0%} of the CPU time during the run."
    parts = [head, "", table([["", "direct", "Accord", lt, "target", "met"], *target_rows(res)]), "",
             "Load (requests/s · latency p50 / p99):", "", table(load_rows(res)), "",
             f"Streaming ({s['chunks']} chunks, {s['pace_ms']:g} ms apart, {s['stream_runs']} runs each):", "",
             table(stream_rows(res)), ""]
    if len(messages_rows(res)) > 1:
        parts += [f"Anthropic Messages, `POST /v1/messages` passed through to an Anthropic-shaped upstream "
                  f"(latency: Python load generator, {s['duration_s']:g} s at c = 1; streamed: {s['chunks']} "
                  f"chunks, {s['pace_ms']:g} ms apart, {s['stream_runs']} runs each):", "",
                  table(messages_rows(res)), ""]
    st = res.get("startup")
    if st:
        parts += ["Start-up (median of runs):", "",
                  table([["command", "median", "min"],
                         *[[f"`{k}`", f"{v['median_s']:.3f} s", f"{v['min_s']:.3f} s"] for k, v in st.items()]]), ""]
    return "\n".join(parts)
