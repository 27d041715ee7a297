"""The consensus-quality benchmark: `python bench/quality.py [--quick] [--json PATH] [--write]`.

Runs the real engine (accord.consensus) over simulated panelists (panelsim.py) and scores what it makes of
their answers against the truth: extraction by answer shape, vote accuracy next to a perfect plurality vote on
the same answers and the Condorcet bound, AUROC of agreement, debate (first-answer vote, final-answer vote,
herding) and select against the vote, and Kendall's tau of the anonymous peer review."""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from accord.consensus import rank
from accord.consensus.extract import canonical
from accord.consensus.runner import Engine
from accord.consensus.types import Member, Request
from accord.consensus.vote import majority_bound, plurality

from .panelsim import JUDGE, SHAPES, Behaviour, SimModels, World
from .stats import auroc, kendall_tau, wilson

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
TARGET_EXTRACTION = 0.995
TARGET_AUROC = 0.8


def value(v: int) -> str:
    return canonical(v)  # type: ignore[arg-type]


async def numeric_setting(n: int, p: float, questions: int, seed: int, how: Behaviour) -> dict:
    """Vote, debate and select over the same questions and the same first answers."""
    world = World(f"{seed}:{n}:{p}", p, n, how)
    engine = Engine(SimModels(world))
    panel = [Member(f"m{i + 1}") for i in range(n)]
    shapes: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # shape -> [read right, seen]
    rows = []
    for k in range(questions):
        q = world.question(k)
        truth = value(q.truth)
        text = f"{q.qid}: what is {q.a} - {q.b}?"

        def score(rnd: int, read: dict[str, str | None], qid: str = q.qid) -> None:
            for i in range(n):
                said = world.said[(qid, rnd, i)]
                s = shapes[said.shape]
                s[0] += read.get(f"m{i + 1}") == value(said.value)  # type: ignore[arg-type]
                s[1] += 1

        v = await engine.run(Request(text, panel, mode="vote", answer_format="number", seed=k))
        score(1, v.vote["answers"])
        meant = {f"m{i + 1}": value(world.said[(q.qid, 1, i)].value) for i in range(n)}  # type: ignore[arg-type]
        perfect = plurality(meant)
        d = await engine.run(Request(text, panel, mode="debate", answer_format="number", rounds=2, seed=k))
        for rnd in (2, 3):
            score(rnd, {lab: pos[rnd - 1] for lab, pos in d.debate["positions"].items()})
        final = d.debate["final_vote"]
        s = await engine.run(Request(text, panel, mode="select", chair=JUDGE, seed=k))
        picked = s.selected["label"] if s.selected else None
        rows.append({
            "vote": v.vote["winner"] == truth, "perfect": perfect.winner == truth, "agreement": v.agreement or 0.0,
            "debate_first": d.vote["winner"] == truth, "debate_final": final["winner"] == truth,
            "first_share": d.debate["first_vote"]["share"], "final_share": final["share"],
            "unanimous_wrong_first": len(perfect.counts) == 1 and perfect.winner != truth,
            "unanimous_wrong_final": len(final["counts"]) == 1 and final["winner"] != truth,
            "changes": len(d.debate["changes"]), "herding_flagged": bool(d.debate["herding"]),
            "select": picked is not None and meant[picked] == truth,
        })
    m = len(rows)
    vote_right = sum(r["vote"] for r in rows)
    lo, hi = wilson(vote_right, m)
    return {
        "n": n, "p": p, "questions": m,
        "vote": vote_right / m, "vote_ci": [round(lo, 3), round(hi, 3)],
        "perfect_plurality": sum(r["perfect"] for r in rows) / m,
        "vote_equals_perfect": all(r["vote"] == r["perfect"] for r in rows),
        "same_as_perfect": sum(r["vote"] == r["perfect"] for r in rows),
        "condorcet": majority_bound(p, n),
        "auroc": auroc([r["agreement"] for r in rows], [r["vote"] for r in rows]),
        "debate_first": sum(r["debate_first"] for r in rows) / m,
        "debate_final": sum(r["debate_final"] for r in rows) / m,
        "agreement_first": sum(r["first_share"] for r in rows) / m,
        "agreement_final": sum(r["final_share"] for r in rows) / m,
        "unanimous_wrong_first": sum(r["unanimous_wrong_first"] for r in rows),
        "unanimous_wrong_final": sum(r["unanimous_wrong_final"] for r in rows),
        "herding_flagged": sum(r["herding_flagged"] for r in rows),
        "select": sum(r["select"] for r in rows) / m,
        "shapes": {k: list(x) for k, x in shapes.items()},
    }


async def review_setting(n: int, questions: int, seed: int, how: Behaviour) -> dict:
    """Kendall's tau of the engine's peer ranking (shuffled labels, Borda) against the true order, next to
    the same judges shown the answers in seat order (position bias uncorrected)."""
    world = World(f"{seed}:review:{n}", 0.0, n, how)
    engine = Engine(SimModels(world))
    panel = [Member(f"m{i + 1}") for i in range(n)]
    taus, fixed, best = [], [], 0
    for k in range(questions):
        qid = world.review_question(k)
        truth = world.qualities[qid]
        r = await engine.run(Request(f"{qid}: write an essay", panel, mode="review", chair=JUDGE, seed=k))
        score = {row["model"]: row["score"] for row in r.ranking or ()}
        got = [score.get(f"m{i + 1}", 0.0) for i in range(n)]
        taus.append(kendall_tau(got, truth))
        best += max(range(n), key=lambda i: truth[i]) in [int(m[1:]) - 1 for m in rank.leaders(r.ranking or [])]
        # the same judges, answers always shown in seat order: position bias is not averaged out
        rankings = {}
        for reviewer in range(n):
            rng = world.rng("fixed", qid, reviewer)
            others = [i for i in range(n) if i != reviewer]
            s = {i: truth[i] + rng.gauss(0, how.review_noise) + (how.position_bias if j == 0 else 0.0)
                 for j, i in enumerate(others)}
            rankings[f"m{reviewer + 1}"] = [f"m{i + 1}" for i in sorted(others, key=lambda i: -s[i])]
        rows = {row["model"]: row["score"] for row in rank.aggregate(rankings, [f"m{i + 1}" for i in range(n)])}
        fixed.append(kendall_tau([rows[f"m{i + 1}"] for i in range(n)], truth))
    return {"n": n, "questions": questions, "tau": sum(taus) / len(taus), "tau_seat_order": sum(fixed) / len(fixed),
            "top_is_best": best / questions}


async def measure(quick: bool, seed: int) -> dict:
    how = Behaviour()
    ps = (0.6, 0.8) if quick else (0.6, 0.7, 0.8)
    questions = 40 if quick else 240
    t0 = time.monotonic()
    settings = [await numeric_setting(n, p, questions, seed, how) for n in (3, 5) for p in ps]
    reviews = [await review_setting(n, 20 if quick else 120, seed, how) for n in (3, 5)]
    shapes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in settings:
        for k, (ok, seen) in s["shapes"].items():
            shapes[k][0] += ok
            shapes[k][1] += seen
    extraction = {k: {"right": shapes[k][0], "seen": shapes[k][1], "accuracy": shapes[k][0] / shapes[k][1]}
                  for k in SHAPES if shapes[k][1]}
    aurocs = [s["auroc"] for s in settings if s["auroc"] is not None]
    targets = {
        "extraction": {"target": f">= {TARGET_EXTRACTION:.1%} on every shape",
                       "met": len(extraction) == len(SHAPES) and all(
                           x["accuracy"] >= TARGET_EXTRACTION for x in extraction.values())},
        "vote_equals_perfect_plurality": {"target": "on every question of every setting",
                                          "met": all(s["vote_equals_perfect"] for s in settings)},
        "agreement_auroc": {"target": f">= {TARGET_AUROC} with correlated errors, every setting",
                            "met": bool(aurocs) and min(aurocs) >= TARGET_AUROC,
                            "min": min(aurocs) if aurocs else None},
    }
    return {"mode": "quick" if quick else "full", "seed": seed, "behaviour": how.__dict__,
            "seconds": round(time.monotonic() - t0, 1), "python": platform.python_version(),
            "command": "python bench/quality.py" + (" --quick" if quick else ""),
            "settings": settings, "review": reviews, "extraction": extraction, "targets": targets}


# ----------------------------------------------------------------------------------------------- tables
def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def tables(res: dict) -> str:
    out = [f"Command: `{res['command']}` (seed {res['seed']}, {res['settings'][0]['questions']} questions per "
           f"setting; {res['seconds']} s). Behaviour: {json.dumps(res['behaviour'])}.", ""]
    out += ["Vote, debate and select on the same first answers (accuracy; agreement is the vote's share):", "",
            "| panel | p | vote | perfect plurality | Condorcet bound | vote 95% CI (Wilson) | AUROC of agreement "
            "| debate, vote on first answers | debate, vote on final answers | agreement first → final "
            "| unanimous & wrong first → final | select |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in res["settings"]:
        a = "–" if s["auroc"] is None else f"{s['auroc']:.2f}"
        out.append(f"| {s['n']} | {s['p']} | {pct(s['vote'])} | {pct(s['perfect_plurality'])} | "
                   f"{pct(s['condorcet'])} | {pct(s['vote_ci'][0])}–{pct(s['vote_ci'][1])} | {a} | "
                   f"{pct(s['debate_first'])} | {pct(s['debate_final'])} | "
                   f"{s['agreement_first']:.2f} → {s['agreement_final']:.2f} | "
                   f"{s['unanimous_wrong_first']} → {s['unanimous_wrong_final']} | {pct(s['select'])} |")
    out += ["", "Extraction by answer shape (votes and debate revisions, all settings):", "",
            "| shape | read right | answers | accuracy |", "|---|---|---|---|"]
    for k, x in res["extraction"].items():
        out.append(f"| {k} | {x['right']} | {x['seen']} | {pct(x['accuracy'])} |")
    out += ["", "Anonymous peer review (Borda over shuffled labels) against the true order:", "",
            "| panel | Kendall tau | same judges, seat order (no shuffle) | top place is the best answer |",
            "|---|---|---|---|"]
    for r in res["review"]:
        out.append(f"| {r['n']} | {r['tau']:.2f} | {r['tau_seat_order']:.2f} | {pct(r['top_is_best'])} |")
    out += ["", targets_table(res)]
    return "\n".join(out)


def targets_table(res: dict) -> str:
    t = res["targets"]
    worst = min(x["accuracy"] for x in res["extraction"].values())
    rows = [
        ("extraction", t["extraction"]["target"], f"lowest shape {pct(worst)}", t["extraction"]["met"]),
        ("vote = perfect plurality", t["vote_equals_perfect_plurality"]["target"],
         f"same winner on {sum(s['same_as_perfect'] for s in res['settings'])} of "
         f"{sum(s['questions'] for s in res['settings'])} questions", t["vote_equals_perfect_plurality"]["met"]),
        ("agreement AUROC", t["agreement_auroc"]["target"],
         f"lowest {t['agreement_auroc']['min']:.3f}" if t["agreement_auroc"]["min"] is not None else "–",
         t["agreement_auroc"]["met"]),
    ]
    return "\n".join(["| target | wanted | measured | met |", "|---|---|---|---|",
                      *(f"| {a} | {b} | {c} | {'**yes**' if m else 'no'} |" for a, b, c, m in rows)])


def summary(res: dict) -> str:
    """The README's short table: one row per setting, then the targets."""
    rows = ["| panel, p | vote | perfect plurality | Condorcet bound | AUROC of agreement | debate: vote on first / "
            "final answers | debate: unanimous & wrong, first → final | select |",
            "|---|---|---|---|---|---|---|---|"]
    for s in res["settings"]:
        a = "–" if s["auroc"] is None else f"{s['auroc']:.2f}"
        rows.append(f"| {s['n']}, {s['p']} | {pct(s['vote'])} | {pct(s['perfect_plurality'])} | "
                    f"{pct(s['condorcet'])} | {a} | {pct(s['debate_first'])} / {pct(s['debate_final'])} | "
                    f"{s['unanimous_wrong_first']} → {s['unanimous_wrong_final']} | {pct(s['select'])} |")
    return "\n".join([f"Command: `{res['command']}`; details in [bench/README.md](bench/README.md).", "", *rows,
                      "", targets_table(res)])


def write(path: Path, text: str) -> None:
    """Replace what stands between the `quality:start` and `quality:end` markers of a README."""
    doc = path.read_text()
    new, n = re.subn(r"(<!-- quality:start -->\n).*?(<!-- quality:end -->)", lambda m: m[1] + text + "\n" + m[2],
                     doc, flags=re.S)
    if not n:
        raise SystemExit(f"{path}: no <!-- quality:start --> / <!-- quality:end --> markers to write between")
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer settings and questions (seconds): the smoke test")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--json", type=Path, help="also write every figure to this file")
    ap.add_argument("--write", action="store_true", help="write the tables into bench/README.md and README.md")
    args = ap.parse_args(argv)
    res = asyncio.run(measure(args.quick, args.seed))
    print(tables(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    if args.write:
        write(BENCH / "README.md", tables(res))
        write(ROOT / "README.md", summary(res))
    return 0 if all(t["met"] for t in res["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
