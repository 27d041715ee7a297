"""A review as SARIF 2.1.0, the format GitHub code scanning (and most CI dashboards) load: one rule per
severity, one result per merged finding, each with a location (a finding about the change as a whole sits
on the first file reviewed, line 1, so code scanning still shows it)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from .. import __version__
from .findings import SEVERITIES
from .review_code import Review

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}


def _uri(path: str, repo: str | None) -> str:
    if repo and os.path.isabs(path):
        rel = os.path.relpath(path, repo)
        if not rel.startswith(".."):
            return rel.replace(os.sep, "/")
    return ("file://" + path) if os.path.isabs(path) else path


def sarif(r: Review) -> dict[str, Any]:
    rules = [{"id": f"accord/{s}", "name": f"Review{s.title()}Finding",
              "shortDescription": {"text": f"A {s} finding of Accord's multi-model review"},
              "defaultConfiguration": {"level": LEVEL[s]}} for s in SEVERITIES]
    results = []
    for f in r.findings:
        path = f.file or (r.files[0] if r.files else "")
        if not path:
            continue
        region: dict[str, int] = {"startLine": f.start or 1}
        if f.end and f.start and f.end > f.start:
            region["endLine"] = f.end
        text = f.title + (f" — {f.why}" if f.why else "") + (f" Fix: {f.fix}" if f.fix else "") + \
            f" (found by {len(f.models)}: {', '.join(f.models)})" + ("" if f.file else " [about the whole change]")
        key = hashlib.sha256(f"{f.file}|{f.title.lower()}".encode()).hexdigest()[:32]
        results.append({
            "ruleId": f"accord/{f.severity}", "ruleIndex": SEVERITIES.index(f.severity), "level": LEVEL[f.severity],
            "message": {"text": text},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(path, r.repo)}, "region": region}}],
            "partialFingerprints": {"accordFinding/v1": key},
            "properties": {"severity": f.severity, "foundBy": f.models},
        })
    return {"version": "2.1.0", "$schema": SCHEMA, "runs": [{
        "tool": {"driver": {"name": "Accord review", "version": __version__,
                            "rules": rules}},
        "results": results,
        "properties": {"verdict": r.verdict, "policy": r.policy, "unreviewed": r.unreviewed},
    }]}
