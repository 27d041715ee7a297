"""What every mode's result gets once its strategy has run: who chaired and why, the answers grouped by
meaning (agreement measured on them), a fallback answer when the chair failed, and an honest status with its
reasons ("2 of 3 models answered", "no peer review (too few answers)", "chair failed — ..."), in the text and
as data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import cluster
from .choose import family
from .select import show
from .types import Answer, Result

if TYPE_CHECKING:
    from .strategy import Engine, Run

CLUSTERED = ("synthesize", "review", "select")  # free-text modes; vote (and debate with a format) read their own


async def finish(engine: Engine, run: Run, result: Result) -> None:
    labels = engine.labels(run.req.panel)
    ok = [(labels[i], a) for i, a in enumerate(result.answers) if a.ok]
    if result.chair is not None:
        name, why = engine.chair_choice(run.req, result.answers)
        if name != result.chair.model:
            why = "chosen by the mode"
        result.chair_choice = {"model": result.chair.model, "family": family(engine.models.info(result.chair.model)),
                               "reason": why}
    free_debate = result.mode == "debate" and result.vote is None  # grouped by its first, independent answers
    if (result.mode in CLUSTERED or free_debate) and ok:
        result.clusters = await groups(engine, run, result, ok)
        result.chair_agreement, result.agreement = result.agreement, result.clusters["agreement"]
    fallback(engine, run, result, ok)
    settle(result, ok)


async def groups(engine: Engine, run: Run, result: Result, ok: list[tuple[str, Answer]]) -> dict:
    """Embeddings when `consensus.embedding_model` is set (a metered call through the model caller), else the
    lexical method; an embedding failure falls back to lexical, with a note."""
    texts = {lab: a.content for lab, a in ok}
    name = run.req.embedding_model
    if name and not hasattr(engine.models, "embed"):
        result.notes.append(f"the model endpoint cannot embed, so {name} was not used; answers were grouped by "
                            "their words")
    elif name and len(ok) > 1:
        try:
            data, _call = await engine.models.embed(name, {"input": list(texts.values())})  # type: ignore[attr-defined]
            rows = sorted(data.get("data") or (), key=lambda d: d.get("index", 0))
            vectors = {lab: row["embedding"] for lab, row in zip(texts, rows, strict=True)}
        except Exception as e:  # clustering is a report, never a reason to lose the run
            result.notes.append(f"the embedding model {name} failed ({getattr(e, 'message', e)}); answers were "
                                "grouped by their words instead")
        else:
            used = int((data.get("usage") or {}).get("prompt_tokens") or 0)
            cost = engine.models.info(name).cost(used, 0)
            run.cost_spent += cost
            out = cluster.summary(cluster.by_vectors(vectors), f"embeddings ({name})")
            out["usage"] = {"model": name, "prompt_tokens": used, "cost": round(cost, 6)}
            return out
    return cluster.summary(cluster.lexical(texts), "lexical")


def fallback(engine: Engine, run: Run, result: Result, ok: list[tuple[str, Answer]]) -> None:
    """When the chair failed (or named no answer, in select mode), show one panel answer instead: the best
    ranked by the peer review when there is one, else one from the largest group of like answers."""
    if result.vote is not None or not ok or result.selected is not None:
        return
    failed = result.chair is not None and not result.chair.ok
    unread = result.mode == "select" and result.chair is not None and result.chair.ok
    if not (failed or unread):
        return
    by_label = dict(ok)
    what = "chair failed" if failed else "the chair named no answer"
    if result.ranking:
        best = next(r["model"] for r in result.ranking if r["model"] in by_label)
        show(result, best, by_label[best], "ranked best by the anonymous peer review", by="peer ranking")
        result.reasons.append({"code": "chair_failed", "text": f"{what} — showing the best-ranked answer"})
        return
    groups_ = (result.clusters or cluster.summary(cluster.lexical({lab: a.content for lab, a in ok}), "lexical"))
    top = groups_["groups"][0]["members"]
    show(result, top[0], by_label[top[0]],
         f"from the largest group of like answers ({len(top)} of {len(ok)})", by="answer clusters")
    result.reasons.append({"code": "chair_failed", "text": f"{what} — showing the answer from the largest cluster"})


def settle(result: Result, ok: list[tuple[str, Answer]]) -> None:
    """done | partial (some panelists did not answer) | degraded (a stage fell back) | failed (nobody answered)."""
    n = len(result.answers)
    if len(ok) < n:
        result.reasons.insert(0, {"code": "panel_partial", "text": f"{len(ok)} of {n} models answered"})
    if result.mode == "review" and ok and result.ranking is None:
        why = "too few answers" if len(ok) < 3 else "no readable ranking"
        result.reasons.append({"code": "no_review", "text": f"no peer review ({why})"})
    if result.chair is not None and not result.chair.ok and not any(r["code"] == "chair_failed"
                                                                    for r in result.reasons):
        result.reasons.append({"code": "chair_failed", "text": "chair failed — showing the panel's answers"})
    if not ok:
        result.status = "failed"
        result.reasons.insert(0, {"code": "no_answers", "text": f"none of {n} models answered"})
    elif any(r["code"] != "panel_partial" for r in result.reasons):
        result.status = "degraded"
    else:
        result.status = "partial" if result.reasons else "done"


def label(result: Result) -> str:
    """The status reasons as one line for people."""
    return " · ".join(r["text"] for r in result.reasons)
