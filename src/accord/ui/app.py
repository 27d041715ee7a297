"""The dashboard's routes and the sign-in pages. Each page's handlers live in routes_<page>.py, its templates
and `render` in pages.py."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from . import auth, routes_keys, routes_logs, routes_models, routes_overview, routes_playground
from .pages import HERE, render

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


# ------------------------------------------------------------------------------------------ sign-in
def _safe_next(request: Request, target: str | None) -> str:
    base = auth.prefix(request)
    if target and target.startswith(base + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return base + "/"


def _login_page(request: Request, error: str | None = None, status: int = 200, next_: str | None = None) -> Response:
    creds = request.scope["accord.ui"].auth.refresh(request.app.state)
    if not creds.configured:
        return render(request, "setup.html", status=503)
    token = request.cookies.get(auth.PRE_COOKIE) or secrets.token_urlsafe(24)
    resp = render(request, "login.html", status=status, error=error, csrf=token,
                  next=next_ or request.query_params.get("next", ""), master_only=creds.hash is None)
    resp.set_cookie(auth.PRE_COOKIE, token, max_age=3600, path=auth.prefix(request) + "/", httponly=True,
                    samesite="lax", secure=auth.is_https(request))
    return resp


async def login(request: Request) -> Response:
    ui = request.scope["accord.ui"]
    if request.method == "GET":
        if await ui.auth.session(request) is not None:
            return RedirectResponse(_safe_next(request, request.query_params.get("next")), 303)
        return _login_page(request)
    fields, is_json = await auth.login_fields(request)
    creds = ui.auth.refresh(request.app.state)

    def refuse(msg: str, status: int, **headers: str) -> Response:
        if is_json:
            return JSONResponse({"error": msg}, status, headers=headers or None)
        resp = _login_page(request, msg, status, fields.get("next"))
        resp.headers.update(headers)
        return resp

    if not creds.configured:
        return refuse("no UI password or master key is set; see the sign-in page", 503)
    who = auth.client(request)
    wait = ui.auth.throttle.wait(who)
    if wait > 0:
        return refuse(f"Too many failed sign-ins. Try again in {wait:.0f} s.", 429, **{"Retry-After": f"{wait:.0f}"})
    if not is_json and not auth.same(fields.get(auth.CSRF_FIELD), request.cookies.get(auth.PRE_COOKIE)):
        return refuse("The form expired (missing CSRF token). Please try again.", 403)
    if not await auth.verify(creds, fields["username"], fields["password"]):
        lock = ui.auth.throttle.fail(who)
        msg = "Wrong username or password."
        if lock:
            msg += f" Too many failed sign-ins. Try again in {lock:.0f} s."
        return refuse(msg, 429 if lock else 401, **({"Retry-After": f"{lock:.0f}"} if lock else {}))
    ui.auth.throttle.ok(who)
    user = fields["username"] or creds.username
    resp: Response = JSONResponse({"ok": True, "user": user}) if is_json else \
        RedirectResponse(_safe_next(request, fields.get("next")), 303)
    ui.auth.start(request, resp, user)
    return resp


@auth.guarded
async def logout(request: Request) -> Response:
    await request.scope["accord.ui"].auth.end(request, request.state.session)
    resp = RedirectResponse(auth.prefix(request) + "/login", 303)
    resp.delete_cookie(auth.COOKIE, path=auth.prefix(request) + "/")
    return resp


@auth.guarded
async def settings(request: Request) -> Response:
    cfg = request.app.state.cfg
    text = orjson.dumps(cfg.redacted(), option=orjson.OPT_INDENT_2).decode()
    return render(request, "settings.html", page="settings", config=text, warnings=cfg.warnings)


# ------------------------------------------------------------------------------------------ the app
class UI:
    """The dashboard's own state (the sign-in throttle) and its routes, with security headers on every reply."""

    def __init__(self) -> None:
        self.auth = auth.Auth()
        self.router = Router(routes=[
            Route("/", routes_overview.overview, methods=["GET"]),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/models", routes_models.page, methods=["GET"]),
            Route("/api/models/test", routes_models.test, methods=["POST"]),
            Route("/keys", routes_keys.page, methods=["GET"]),
            Route("/keys/create", routes_keys.create, methods=["POST"]),
            Route("/keys/revoke", routes_keys.revoke, methods=["POST"]),
            Route("/logs", routes_logs.page, methods=["GET"]),
            Route("/playground", routes_playground.page, methods=["GET"]),
            Route("/api/consensus", routes_playground.run, methods=["POST"]),
            Route("/threads", routes_playground.threads, methods=["GET"]),
            Route("/threads/{thread_id}", routes_playground.thread, methods=["GET"]),
            Route("/settings", settings, methods=["GET"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        scope["accord.ui"] = self
        extra = [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
                 (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
                if not scope["path"].startswith(scope.get("root_path", "") + "/static/"):
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        await self.router(scope, receive, send_with_headers)


def build() -> UI:
    return UI()
