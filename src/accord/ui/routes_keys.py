"""Keys: create (the key is shown once, on the page that answers the form), list and revoke. The form is read
by store.key_fields, as the API and `accord keys` read theirs."""

from __future__ import annotations

from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import AccordError
from ..store.key_fields import key_fields
from . import auth
from .pages import render


async def _keys(request: Request):
    store = request.app.state.store
    await store.wait()
    return store.keys


async def _page(request: Request, *, status: int = 200, new_key: str | None = None, error: str | None = None,
                form: dict | None = None) -> Response:
    show_all = request.query_params.get("all") == "1"
    keys = await (await _keys(request)).list(include_revoked=show_all)
    now = datetime.now(timezone.utc)
    listed = [{**k.public(), "state": "revoked" if k.revoked_at else
               "expired" if k.expires_at and k.expires_at <= now else "active"} for k in keys]
    models = [n for n in request.app.state.router.names()]
    return render(request, "keys.html", status=status, page="keys", keys=listed, models=models, new_key=new_key,
                  error=error, form=form or {}, show_all=show_all)


@auth.guarded
async def page(request: Request) -> Response:
    return await _page(request)


@auth.guarded
async def create(request: Request) -> Response:
    form = await request.form()
    fields = {"name": str(form.get("name") or "").strip(), "models": [str(m) for m in form.getlist("models")],
              "max_budget": form.get("max_budget") or "", "rpm_limit": form.get("rpm_limit") or "",
              "tpm_limit": form.get("tpm_limit") or "", "duration": form.get("duration") or "",
              "budget_duration": form.get("budget_duration") or "", "max_price": form.get("max_price") or ""}
    try:
        kw = key_fields({"key_alias": fields["name"], "models": fields["models"], "max_budget": fields["max_budget"],
                         "rpm_limit": fields["rpm_limit"], "tpm_limit": fields["tpm_limit"],
                         "max_price": fields["max_price"], "budget_duration": fields["budget_duration"],
                         "duration": fields["duration"]})
    except AccordError as e:
        return await _page(request, status=400, error=e.message, form=fields)
    key, _info = await (await _keys(request)).create(**kw)
    request.app.state.store.forget()
    return await _page(request, status=201, new_key=key)


@auth.guarded
async def revoke(request: Request) -> Response:
    form = await request.form()
    await (await _keys(request)).revoke(str(form.get("id") or ""))
    request.app.state.store.forget()
    return RedirectResponse(auth.prefix(request) + "/keys", 303)
