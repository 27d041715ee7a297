"""`select` mode: the chair picks the best single answer and says why, instead of writing a new one. Picking
beat deliberation in DeliberationBench (arXiv 2601.08835: 82.5% against 13.8%), at the cost of one call.
The answers are shown under shuffled letters, without their authors, so the chair cannot favour a seat."""

from __future__ import annotations

import json
import random
import re
from typing import TYPE_CHECKING

from . import prompts, rank
from .extract import _json_blobs
from .strategy import first_answers
from .types import Answer, Result

if TYPE_CHECKING:
    from .strategy import Engine, Run

_CHOICE = re.compile(r"(?im)^\W*(?:choice|best|selected?)\W*\s*(?:answer|response)?\s*([A-Z])\b")


def parse_choice(text: str, letters: list[str]) -> tuple[str | None, str]:
    """(letter, reason) from the chair's reply: its JSON object, else a `CHOICE: X` line; None if unreadable."""
    for blob in reversed(_json_blobs(text or "")):
        try:
            obj = json.loads(blob)
        except ValueError:
            continue
        if isinstance(obj, dict) and "choice" in obj:
            letter = re.sub(r"(?i)^(?:response|answer)\s+", "", str(obj["choice"]).strip()).strip("[]() ").upper()
            return (letter if letter in letters else None), str(obj.get("reason") or "").strip()
    m = _CHOICE.search(text or "")
    if m and m.group(1).upper() in letters:
        return m.group(1).upper(), ""
    return None, ""


async def select(engine: Engine, run: Run) -> Result:
    req = run.req
    result = Result(req.question, "select", "", await first_answers(engine, run))
    labels = engine.labels(req.panel)
    ok = {labels[i]: a for i, a in enumerate(result.answers) if a.ok}
    if not ok:
        result.notes.append("no panelist answered, so there is nothing to select from")
        return result
    shown = rank.present("", list(ok), random.Random(req.seed)).labels  # letter -> label, shuffled
    body = "\n\n".join(f"Response {letter}:\n{ok[lab].content}" for letter, lab in shown.items())
    name = engine.pick_chair(req, result.answers)
    msgs = [*req.history, {"role": "user", "content": prompts.SELECT.format(question=req.question,
                                                                             responses=body)}]
    if req.context:
        msgs[-1]["content"] += f"\n\nCONTEXT THE PANEL WAS GIVEN:\n{req.context}"
    result.chair = a = await engine.ask(run, name, msgs, label=f"chair {name}", event="chair")
    if not a.ok:
        result.notes.append(f"the chair ({name}) failed: {a.error}")
        return result  # aggregate.finish shows the answer from the largest cluster instead
    letter, reason = parse_choice(a.content, list(shown))
    if letter is None:
        result.notes.append(f"the chair ({name}) named no answer that was shown; its reply: {a.content[:300]}")
        return result
    label = shown[letter]
    show(result, label, ok[label], reason or "(the chair gave no reason)", by=f"chair {name}")
    return result


def show(result: Result, label: str, answer: Answer, reason: str, by: str) -> None:
    """Make `label`'s answer the result, saying whose it is and why it was chosen."""
    result.selected = {"label": label, "model": answer.model, "reason": reason, "by": by}
    result.recommendation = answer.content
    result.synthesis = f"**Selected: the answer of {label}** ({by}: {reason})\n\n{answer.content}"
