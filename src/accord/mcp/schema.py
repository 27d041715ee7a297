"""Tool schemas as small as they can be: every schema sits in the client's context on every turn."""

from __future__ import annotations

from typing import Any

DROP = {"title", "additionalProperties"}


def compact(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop titles and null defaults, turn `anyOf [X, null]` into X, inline $defs."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
        any_of = node.get("anyOf")
        if any_of is not None:
            rest = [x for x in any_of if x != {"type": "null"}]
            if len(rest) == 1:
                merged = {**rest[0], **{k: v for k, v in node.items() if k != "anyOf"}}
                return walk(merged)
        out = {}
        for k, v in node.items():
            if k in DROP or k == "$defs" or (k == "default" and v is None):
                continue
            out[k] = {p: walk(s) for p, s in v.items()} if k == "properties" else walk(v)
        return out

    return walk(schema)
