"""Per-request routing fields, OpenRouter's names: `models` (fallbacks of this request, tried in order) and
`route: {sort: price | latency | throughput}` (how to choose among a model's deployments).

They are Accord's, never a provider's: taken out of the body before it goes upstream. Within this namespace
(`models`, `route`, `provider`) a field Accord does not act on is refused, naming it -- a request asking for
routing it would silently not get is worse than an error. Every other unknown body field is passed through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BadRequest
from ..router import SORTS, Plan, check_model_name

if TYPE_CHECKING:
    from ..router import Router

NAMESPACE = ("models", "route", "provider")
MAX_MODELS = 16


def take(body: dict) -> tuple[dict, Plan | None]:
    """The body without the routing fields, and the plan they ask for (None: none given)."""
    if not any(k in body for k in NAMESPACE):
        return body, None
    if "provider" in body:
        fields = sorted(body["provider"]) if isinstance(body["provider"], dict) else []
        named = ", ".join(f"`provider.{f}`" for f in fields) or "`provider`"
        raise BadRequest(f"{named}: OpenRouter's provider routing is not supported here; use `route` "
                         '({"sort": "price" | "latency" | "throughput"}) or `models` (fallbacks, in order)',
                         param="provider", code="unsupported_routing_field")
    fallbacks = _models(body.get("models"))
    sort = _sort(body.get("route"))
    rest = {k: v for k, v in body.items() if k not in NAMESPACE}
    if "model" not in rest and fallbacks:  # OpenRouter lets `models` alone name the first choice
        rest["model"], fallbacks = fallbacks[0], fallbacks[1:]
    return rest, Plan(tuple(fallbacks), sort)


def check_served(router: Router, plan: Plan | None) -> None:
    """Every model a request names as its own fallback must be served (a virtual key's allow-list is checked
    with its other limits, auth.enforce)."""
    for name in plan.fallbacks if plan else ():
        router.canonical(name)


def _models(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not value or not all(isinstance(m, str) and m for m in value):
        raise BadRequest('`models` must be a non-empty list of model names, tried in order, e.g. '
                         '["deepseek-chat", "qwen-plus"]', param="models")
    if len(value) > MAX_MODELS:
        raise BadRequest(f"`models` lists {len(value)} models; at most {MAX_MODELS}", param="models")
    return [check_model_name(m, "models") for m in value]


def _sort(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest('`route` must be an object, e.g. {"sort": "price"}', param="route")
    unknown = sorted(k for k in value if k != "sort")
    if unknown:
        raise BadRequest(f"unknown routing field{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(f'`route.{k}`' for k in unknown)}; `route` takes only `sort` "
                         f"({' | '.join(SORTS)})", param="route", code="unsupported_routing_field")
    sort = value.get("sort")
    if sort is not None and sort not in SORTS:
        raise BadRequest(f"`route.sort` must be one of {', '.join(SORTS)}, not {sort!r}", param="route.sort")
    return sort
