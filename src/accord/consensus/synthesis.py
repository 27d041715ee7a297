"""Read the chair's structured reply, and measure agreement from it. Pure.

The agreement score is not the chair's self-reported confidence: it is the share of the panelists who
answered whose answer the chair attributes to the recommendation (`supporters`), so it is checkable
against the answers themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .extract import _json_blobs


@dataclass
class Synthesis:
    recommendation: str = ""
    agreement: list[str] = field(default_factory=list)
    disagreements: list[dict] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)
    supporters: list[str] = field(default_factory=list)
    score: float | None = None
    parsed: bool = False


def parse(text: str, labels: list[str]) -> Synthesis:
    data = None
    for blob in reversed(_json_blobs(text or "")):
        try:
            obj = json.loads(blob)
        except ValueError:
            continue
        if isinstance(obj, dict) and ("recommendation" in obj or "supporters" in obj):
            data = obj
            break
    if data is None:
        return Synthesis(recommendation=(text or "").strip())
    known = {lab.lower(): lab for lab in labels}
    supporters = []
    for s in _strings(data.get("supporters")):
        lab = known.get(s.strip().strip("[]").lower())
        if lab and lab not in supporters:
            supporters.append(lab)
    dis = []
    for d in data.get("disagreements") or ():
        if isinstance(d, dict):
            pos = d.get("positions")
            pos = pos if isinstance(pos, dict) else {}
            dis.append({"point": str(d.get("point", "")), "positions": {str(k): str(v) for k, v in pos.items()}})
    return Synthesis(
        recommendation=str(data.get("recommendation") or "").strip(),
        agreement=_strings(data.get("agreement")), disagreements=dis, risks=_strings(data.get("risks")),
        supporters=supporters, score=round(len(supporters) / len(labels), 3) if labels else None, parsed=True,
    )


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return []


def render(s: Synthesis) -> str:
    """The synthesis as markdown, for people and for the client model."""
    if not s.parsed:
        return s.recommendation
    out = [f"## Recommendation\n{s.recommendation}"]
    if s.agreement:
        out.append("## Agreement\n" + "\n".join(f"- {p}" for p in s.agreement))
    if s.disagreements:
        lines = []
        for d in s.disagreements:
            lines.append(f"- {d['point']}")
            lines += [f"  - {who}: {view}" for who, view in d["positions"].items()]
        out.append("## Disagreement\n" + "\n".join(lines))
    if s.risks:
        out.append("## Risks\n" + "\n".join(f"- {r}" for r in s.risks))
    return "\n\n".join(out)
