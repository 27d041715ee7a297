"""The gateway's side of auth: admin routes, and what a virtual key may do on a model route (its allow-list,
budget, price cap and rpm/tpm limits).

Who is calling (master key, virtual key, nobody) is accord.auth, shared with /mcp; its names are re-exported
here for the gateway's routes. Model routes take either key; admin routes take only the master key, and are off
without one: an open loopback server must not hand out keys, rewrite its config or read files for whoever can
reach it (another local user, a page in a browser).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from .. import auth as shared
from .. import budgets
from ..auth import caller, check, presented_key
from ..costs import cap_message, worst_case
from ..errors import BadRequest, PermissionDenied, RateLimited
from ..store.ledger import OverBudget

if TYPE_CHECKING:
    from ..router import Allow, Plan
    from ..store.keys import KeyInfo
    from ..store.ledger import Reservation

__all__ = ["ADMIN_OFF", "admin", "allowed", "budget_release", "caller", "check", "enforce", "presented_key",
           "price_cap"]

ADMIN_OFF = "the admin API (/key/*, /spend/*, /usage/*, /config/reload) is off without a master key; to turn it on, "


def admin(request: Request, off: str = ADMIN_OFF) -> None:
    """Admin routes: the master key only; without one configured, refused with how to turn them on."""
    shared.admin(request, off)


def allowed(request: Request, key: KeyInfo | None) -> Allow | None:
    """The models a caller may use, as the router's `allow` (None: every model)."""
    if key is None or key.models is None:
        return None
    return request.app.state.router.allow_only(key.models)


async def enforce(request: Request, key: KeyInfo, model: str, body: dict, allow: Allow | None,
                  plan: Plan | None = None, *, amount: float | None = None, rate: bool = True) -> Reservation | None:
    """A virtual key's model allow-list, budget and rpm/tpm limits, each refused with what and until when.

    With a budget, the request's worst-case cost is reserved here; the caller releases the reservation when the
    request is over (`budget_release`), however it ends. `amount`: a worst case the caller worked out (a panel,
    or a model that may fall back to one), held to the key's max_price too; `allow` None skips the model check
    (a panel checks its members itself); `rate` False skips rpm/tpm (counted already)."""
    label = key.name or key.prefix
    router = request.app.state.router
    if allow is not None:  # the model asked for, and each the request names as its own fallback (`models`)
        for name, param in ((model, "model"), *((m, "models") for m in (plan.fallbacks if plan else ()))):
            found = router.lookup(name)
            if found is None or not allow(found):  # unknown or not allowed: one answer, naming only its own
                raise PermissionDenied(f"key `{label}` may not use model `{name}`; it may use: "
                                       f"{', '.join(key.models or ())}", param=param, code="model_not_allowed")
    res = None
    worst = price_cap(request, key, model, body, allow, plan) if router.lookup(model) is not None else None
    if amount is not None:
        if key.max_price is not None and amount > key.max_price:
            raise BadRequest(cap_message(f"key `{label}`'s", key.max_price, amount, body), param="max_tokens",
                             code="max_price_exceeded")
        worst = max(amount, worst or 0.0)
    if key.max_budget is not None:
        amount = worst if worst is not None else worst_case(router, model, body, allow, plan)
        now = budgets.now()
        try:
            res = await request.app.state.store.ledger.reserve(key.account(now), amount, key.max_budget)
        except OverBudget as e:
            held = f" (and ${e.reserved:.4f} is held by its requests in flight)" if e.reserved > 0 else ""
            span = key.period(now)
            when = f" this {key.budget_duration} period (it resets at {span[1].isoformat(timespec='seconds')})" \
                if span else ""
            raise RateLimited(f"key `{label}` has spent ${e.spent:.4f} of its ${key.max_budget:g} budget{when}{held}; "
                              "raise max_budget (POST /key/update or `accord keys update`) to go on",
                              code="budget_exceeded", type="budget_exceeded",
                              retry_after=(span[1] - now).total_seconds() if span else None) from None
    if rate and (key.rpm_limit is not None or key.tpm_limit is not None):
        over = await request.app.state.limits.hit(key.id, key.rpm_limit, key.tpm_limit)
        if over is not None:
            await budget_release(request, res)
            which, wait = over
            limit = key.rpm_limit if which == "rpm" else key.tpm_limit
            what = "requests" if which == "rpm" else "tokens"
            raise RateLimited(f"key `{label}` reached its {which} limit of {limit} {what} per minute; "
                              f"it resets in {wait:.0f} s", retry_after=wait, code=f"{which}_limit_exceeded")
    return res


def price_cap(request: Request, key: KeyInfo | None, model: str, body: dict, allow: Allow | None,
              plan: Plan | None = None) -> float | None:
    """Refuse, before any upstream call, a request whose worst case is over the key's or the model's max_price.
    Returns the worst case when it had to be worked out (None: no cap applies)."""
    router = request.app.state.router
    found = router.lookup(model)
    model_cap = router.groups[found][0].info.max_price if found is not None else None
    key_cap = key.max_price if key is not None else None
    if model_cap is None and key_cap is None:
        return None
    worst = worst_case(router, model, body, allow, plan)
    for cap, who in ((key_cap, f"key `{key.name or key.prefix}`'s" if key else ""), (model_cap, f"model `{found}`'s")):
        if cap is not None and worst > cap:
            raise BadRequest(cap_message(who, cap, worst, body), param="max_tokens", code="max_price_exceeded")
    return worst


async def budget_release(request: Request, res: Reservation | None) -> None:
    """The request is over (its cost recorded, or it failed): its reservation no longer holds the budget."""
    if res is not None:  # most requests hold none (the master key, a key without a budget)
        await request.app.state.store.ledger.release(res)
