"""Markdown for the scenarios: one table per scenario, each with the command that reproduces it and the
machine's load while it ran; and a one-table summary for the project README."""

from __future__ import annotations

from typing import Any

NA = "–"
NAMES = {"direct": "direct", "accord": "Accord", "litellm": "LiteLLM", "portkey": "Portkey"}
TITLES = {
    "1": "Large contexts: latency added at 1k / 10k / 100k tokens",
    "2": "Streamed tool calls: TTFT added, argument deltas held back",
    "3": "Head-of-line blocking: small requests' p99 beside long streams and one huge SSE event",
    "4": "Many open streams on one worker",
    "5": "Key flood: virtual keys in rotation",
    "6": "Failover: the first deployment answers 500, the second serves",
    "7": "Throughput frontier: requests/s at a p99 ceiling",
}


def _t(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def _ms(v: float | None, digits: int = 2) -> str:
    return NA if v is None else f"{v:.{digits}f} ms"


def _yes(ok: bool | None) -> str:
    return NA if ok is None else ("**yes**" if ok else "no")


def _fail(r: dict[str, Any] | None) -> str | None:
    """Why a target has no figure here, in a few words (None when it has one)."""
    if r is None:
        return "not run"
    if "unsupported" in r:
        return f"cannot: {r['unsupported']}"
    if "error" in r:
        return f"failed: {r['error'][:160]}"
    return None


def _lat(r: dict[str, Any] | None, base: float | None) -> str:
    why = _fail(r)
    if why:
        return why
    assert r is not None
    if not r["n"]:
        return f"failed ({r['errors']} errors)"
    s = f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms"
    if base is not None:
        s += f" (+{r['p50_ms'] - base:.2f})"
    if r["errors"]:
        s += f", {r['errors']} errors"
    return s


def _names(res: dict[str, Any], results: dict[str, Any]) -> list[str]:
    return [n for n in ("direct", "accord", "litellm", "portkey") if n in results]


def _head(res: dict[str, Any], n: str) -> str:
    sc = res["scenarios"][n]
    ld = sc.get("load", {})
    when = sc.get("date", res["date"])
    busy = ld.get("other_cpu_share")
    load = (f"{ld['seconds']:.0f} s; load average {ld['loadavg_start']:.1f} → {ld['loadavg_end']:.1f}; processes "
            f"outside the run used {busy:.0%} of the machine's CPU time" if ld else "load not recorded")
    quick = " --quick" if res["mode"] == "quick" else ""
    return (f"### {n}. {TITLES[n]}\n\nReproduce: `python bench/run.py --scenarios {n}{quick}` (measured {when} by `{sc.get('command', res['command'])}`;"
            f" {load}).")


def s1(res: dict[str, Any]) -> str:
    r = res["scenarios"]["1"]["results"]["sizes"]
    names = _names(res, next(iter(r.values())))
    rows = [["context", "body", *[f"{NAMES[n]} p50 / p99" + ("" if n == "direct" else " (added p50)") for n in names],
             "target", "met"]]
    for tokens, row in r.items():
        base = row.get("direct", {}).get("p50_ms")
        body = next((v["body_kb"] for v in row.values() if "body_kb" in v), None)
        acc = row.get("accord", {})
        met = None
        if int(tokens) >= 100_000 and base is not None and "p50_ms" in acc:
            met = acc["p50_ms"] - base <= 1.0
        rows.append([f"{int(tokens):,} tokens", f"{body:,.0f} KB" if body else NA,
                     *[_lat(row.get(n), None if n == "direct" else base) for n in names],
                     "added p50 ≤ 1 ms" if int(tokens) >= 100_000 else "", _yes(met)])
    return _t(rows) + "\n\nOne request at a time on a keep-alive connection, the user message that many tokens long."


def s2(res: dict[str, Any]) -> str:
    r = res["scenarios"]["2"]["results"]
    z = res["settings"]["sizes"]
    parts = []
    for route, label in (("openai", "OpenAI in, OpenAI upstream (`/v1/chat/completions`)"),
                         ("anthropic_in", "Anthropic in (`/v1/messages`), OpenAI upstream")):
        rows = [["", "TTFT p50 / p99", "TTFT added p50", "delta added p50 / max", "deltas held back (lockstep)",
                 "late by the clock", "arguments intact", "met (0 held back)"]]
        for n in _names(res, r[route]):
            f = r[route][n]
            why = _fail(f) if ("unsupported" in f or ("error" in f and not f.get("runs"))) else None
            if why:
                rows.append([NAMES[n], why, *[NA] * 7])
                continue
            held = f.get("held_back_lockstep")
            lock = NA if held is None else f"{held} of {f['lockstep_runs'] * z['tool_chunks']}" + (
                f" ({f['lockstep_failed']} streams failed)" if f.get("lockstep_failed") else "")
            ok = None if n == "direct" or held is None else held == 0 and not f.get("lockstep_failed")
            if f.get("error") and not f.get("runs"):
                rows.append([NAMES[n], f"failed: {f['error'][:160]}", NA, NA, lock, NA, NA, _yes(ok)])
                continue
            rows.append([NAMES[n], f"{f['ttft_p50_ms']:.2f} / {f['ttft_p99_ms']:.2f} ms",
                         _ms(f.get("ttft_added_p50_ms")),
                         f"{_ms(f.get('chunk_added_p50_ms'))} / {_ms(f.get('chunk_added_max_ms'))}", lock,
                         NA if f.get("held_back") is None else str(f["held_back"]),
                         f"{f.get('arguments_intact', 0)} of {z['stream_runs']}", _yes(ok)])
        parts.append(f"{label}:\n\n{_t(rows)}")
    return ("\n\n".join(parts) + f"\n\nThe fake streams one tool call whose arguments come in {z['tool_chunks']} "
            f"deltas {z['tool_pace_ms']:g} ms apart; {z['stream_runs']} streams per target on one connection. Each "
            "delta's median arrival is compared with direct's (Anthropic in: with direct's OpenAI stream). **Held back "
            "(lockstep)**, counted without a clock: the upstream sends each delta only once the client has received "
            "the one before (it tells the fake), so a delta a gateway buffers is never seen and the fake gives up on "
            "it after 3 s. *Late by the clock*: behind direct by more than the TTFT delay + max(2 ms, 0.3 × pace), "
            "or bunched with the one before (noisy on a busy machine). "
            "\"Arguments intact\": the deltas a client reassembles parse to the arguments sent.")


def s3(res: dict[str, Any]) -> str:
    r = res["scenarios"]["3"]["results"]
    z = res["settings"]["sizes"]
    rows = [["", "small p50 / p99 alone", f"p99 with {z['hol_streams']} × {z['hol_tokens'] // 1000}k-token streams",
             "background streams done / failed", f"p99 with a {z['big_event_mb']:g} MB event in flight",
             "big-event streams done / failed", "met (≤ 2× alone)"]]
    for n in _names(res, r):
        f = r[n]
        why = _fail(f)
        if why:
            rows.append([NAMES[n], why, NA, NA, NA, NA, NA])
            continue
        alone = f["alone"]["p99_ms"]

        def x(phase: str, f: dict[str, Any] = f, alone: float = alone) -> str:
            p = f[phase]
            if not p["n"]:
                return "no answers"
            return f"{p['p99_ms']:.2f} ms ({p['p99_ms'] / alone:.1f}×)" if alone else f"{p['p99_ms']:.2f} ms"

        ls, be = f["long_streams"], f["big_event"]
        met = None
        if n != "direct" and alone and ls["n"] and be["n"]:
            met = max(ls["p99_ms"], be["p99_ms"]) <= 2 * alone and ls["stream_errors"] == 0 == be["stream_errors"]
        rows.append([NAMES[n], f"{f['alone']['p50_ms']:.2f} / {alone:.2f} ms", x("long_streams"),
                     f"{ls['streams_done']} / {ls['stream_errors']}", x("big_event"),
                     f"{be['streams_done']} / {be['stream_errors']}", _yes(met)])
    return _t(rows) + ("\n\nSmall chat requests one at a time, measured alone, then while the background streams "
                       "run (from a separate process, each sent again when it ends: 50 chunks 10 ms apart for the "
                       "long-context ones; one SSE event of the stated size for the other).")


def s4(res: dict[str, Any]) -> str:
    r = res["scenarios"]["4"]["results"]
    z = res["settings"]["sizes"]
    rows = [["", "streams", "open at once (max)", "not opened", "errors", "truncated", "RSS per open stream",
             "time to open all", "met (0 errors, 0 truncated, ≤ 40 KB)"]]
    for n in _names(res, r):
        f = r[n]
        why = _fail(f)
        if why:
            rows.append([NAMES[n], why, *[NA] * 7])
            continue
        kb = f["kb_per_stream"]
        bad = f["errors"] + f["not_opened"] + f["truncated"]
        rows.append([NAMES[n], f"{f['streams']:,}", f"{f['max_open']:,}", str(f["not_opened"]), str(f["errors"]),
                     str(f["truncated"]), NA if kb is None else ("< 1 KB" if kb < 1 else f"{kb:.1f} KB"), f"{f['open_s']:.1f} s",
                     NA if n == "direct" else _yes(bad == 0 and kb is not None and kb <= 40)])
    wrongs = [f"{NAMES[n]}: " + "; ".join(f"{k} (×{v})" for k, v in list(r[n].get("what_went_wrong", {}).items())[:3])
              for n in _names(res, r) if r[n].get("what_went_wrong")]
    notes = ("\n\nWhat went wrong: " + " — ".join(wrongs) + ".") if wrongs else ""
    return _t(rows) + notes + (f"\n\nEach stream: {z['open_chunks']} chunks {z['open_pace_ms']:g} ms apart; opened 256 at "
                       "a time, all held until they end; RSS (server and its workers) sampled once all are open, "
                       f"less RSS before, divided by the streams open then. fd limit raised to {res['settings']['fd_limit']:,}."
                       + _fd_ceiling(res["settings"]["fd_limit"], z["open_streams"]))


def _fd_ceiling(fds: int, streams: int) -> str:
    """A proxy holds two sockets per stream (client and upstream); under a hard limit too low for that, some
    streams can only open as others end, whatever the proxy does (direct needs one each)."""
    if fds >= 2 * streams + 100:
        return ""
    return (f" That is too few for a proxy to hold all {streams:,} at once (two sockets each, besides its own "
            "descriptors; the hard limit could not be raised here): a proxy's last few streams open only as the first "
            "end, so its \"open at once\" stays short of direct's and its \"time to open all\" includes that wait.")


def s5(res: dict[str, Any]) -> str:
    r = res["scenarios"]["5"]["results"]
    base = r["direct"]["p50_ms"]
    rows = [["", "keys made (POST /key/generate)", "first use p50 / p99 (added p50)",
             "after first use p50 / p99 (added p50)", "met (after ≤ +0.5 ms, first ≤ 5 ms)"]]
    rows.append(["direct (no key)", NA, NA, _lat(r["direct"], None), NA])
    for n in ("accord-sqlite", "accord-postgresql", "litellm", "portkey"):
        if n not in r:
            continue
        f = r[n]
        why = _fail(f)
        label = {"accord-sqlite": "Accord, SQLite", "accord-postgresql": "Accord, PostgreSQL"}.get(n, NAMES.get(n, n))
        if why:
            rows.append([label, why, NA, NA, NA])
            continue
        first, after = f["first_use"], f["after_first_use"]
        met = after["p50_ms"] - base <= 0.5 and first["p50_ms"] <= 5 if first["n"] and after["n"] else None
        rows.append([label, f"{r['keys']:,} in {f['create_keys_s']:.1f} s", _lat(first, base), _lat(after, base),
                     _yes(met)])
    return _t(rows) + ("\n\nEvery key used once in rotation, one request at a time (first use), then again in the "
                       "same order (after first use).")


def s6(res: dict[str, Any]) -> str:
    r = res["scenarios"]["6"]["results"]
    base = r.get("direct", {}).get("p50_ms")
    rows = [["", "p50 / p99 (added p50)", "met (added ≤ 2 ms)"]]
    for n in _names(res, r):
        f = r[n]
        met = None
        if n != "direct" and base is not None and not _fail(f) and f["n"]:
            met = f["p50_ms"] - base <= 2.0 and not f["errors"]
        rows.append([NAMES[n], _lat(f, None if n == "direct" else base), _yes(met)])
    return _t(rows) + ("\n\nModel `fo`: two deployments, the first answers 500, the second serves; cool-downs off, so "
                       "every request meets the failing one first (LiteLLM: `order` 1/2, `disable_cooldowns`; "
                       "Portkey: a fallback config). Direct: one request to the serving upstream.")


def s7(res: dict[str, Any]) -> str:
    r = res["scenarios"]["7"]["results"]
    rows = [["", "workers", "req/s at p99 ≤ 10 ms (c)", "req/s at p99 ≤ 50 ms (c)", "ladder: c → req/s · p99"]]
    for n in _names(res, r):
        f = r[n]
        why = _fail(f)
        if why:
            rows.append([NAMES[n], NA, why, NA, NA])
            continue
        for w, lad in f.items():
            if _fail(lad):
                rows.append([NAMES[n], w, _fail(lad) or NA, NA, NA])
                continue
            fr = lad["frontier"]
            cell = [NA if fr.get(k) is None else f"{fr[k]['rps']:,.0f} ({fr[k]['c']})" for k in ("10", "50")]
            ladder = ", ".join(f"{x['c']} → {x['rps']:,.0f} · {x['p99_ms']:.1f}" + (f" ({x['errors']} err)"
                                                                                      if x["errors"] else "")
                               for x in lad["runs"])
            rows.append([NAMES[n], w, *cell, ladder])
    return _t(rows) + ("\n\nConcurrency doubled until p99 passes 50 ms; a ceiling's figure is the best requests/s of "
                       "a run under it with no errors. Direct is the fake upstream (one process); Portkey has no "
                       "worker setting (one Node process).")


RENDER = {"1": s1, "2": s2, "3": s3, "4": s4, "5": s5, "6": s6, "7": s7}


def markdown(res: dict[str, Any]) -> str:
    m, s = res["machine"], res["settings"]
    peers = [f"LiteLLM {s['litellm_version']}" if s.get("litellm_version") else None,
             f"Portkey gateway {s['portkey_version']} (Node)" if s.get("portkey_version") else None]
    head = (f"Run {res['date']} ({res['mode']}): {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}"
            f"{' + uvloop' if m.get('uvloop') else ''}; targets {', '.join(NAMES[t] for t in s['targets'])}"
            f"{' (' + ', '.join(p for p in peers if p) + ')' if any(peers) else ''}; load generator {s['loadgen']}. "
            f"Command: `{res['command']}`. Latencies are p50 / p99; \"added\" is against direct in the same run.")
    for peer, why in s.get("skipped", {}).items():
        head += f"\n\n{NAMES[peer]} left out: {why}"
    parts = [head]
    for n in sorted(res["scenarios"], key=int):
        sc = res["scenarios"][n]
        if "results" not in sc:
            continue
        body = RENDER[n](res)
        if sc.get("note"):  # a remark written by hand into the JSON about how that table's run went
            body += f"\n\n*Note on this run:* {sc['note']}."
        if sc.get("not_started"):
            body += "\n\n" + "; ".join(f"{NAMES[k]} did not start: {v[:200]}" for k, v in sc["not_started"].items())
        parts.append(f"{_head(res, n)}\n\n{body}")
    return "\n\n".join(parts) + "\n"
