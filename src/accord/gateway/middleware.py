"""Per-request context as plain ASGI (no per-request objects beyond what Starlette makes anyway): a request id
(the client's `x-request-id`, or a new one) in the log context and the response headers, one access-log
line per request, and the checks every route needs before any of it runs, made in the one pass over the
headers that finds the request id:

- a header block over 64 KB is refused (431), for servers that do not bound it themselves;
- a `Host` that is neither loopback nor in `settings.allowed_hosts` is refused (421): DNS rebinding;
- a state-changing request whose body is not declared JSON is refused (415). A web page can send a form or
  `text/plain` to any address without the browser asking first (no CORS preflight); it cannot send
  `application/json`. So no page can make Accord act. The dashboard (/ui) takes forms and checks its own
  CSRF token instead.

A route with a fixed path (every API route but `/responses/{id}` and `/models/{id}`) is called from here
directly, with its exception handlers, rather than through Starlette's exception middleware, router and
endpoint wrapper: three fewer layers for every resumption of the request's coroutine chain and every message
sent (bench/README.md, "Hot path"). Tracing, when on, keeps the full stack.
"""

from __future__ import annotations

import inspect
import logging
import time
from random import getrandbits
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.routing import Route

from .. import metrics, tracing
from ..logs import line, request_id
from .anthropic_shape import error_body, is_anthropic
from .hosts import host_name

log = logging.getLogger("accord.access")

MAX_HEADERS = 64 * 1024  # bytes of header names and values together; real clients send a few hundred
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OWN_CSRF = "/ui"  # the dashboard: forms, with its own CSRF tokens


def _own_csrf(path: str) -> bool:
    return path.startswith(_OWN_CSRF) and (len(path) == len(_OWN_CSRF) or path[len(_OWN_CSRF)] == "/")


def _is_local_address(host: bytes, scope) -> bool:
    """The Host is the very address the client connected to (`http://192.168.1.5:4000`, as `accord reload`,
    `doctor` or a colleague's browser address a server listening beyond loopback): no name was resolved, so
    nothing was rebound. Asked only of a Host the allow-list refused."""
    server = scope.get("server")
    name = host_name(host.decode("latin-1"))
    return bool(server and name) and name == str(server[0]).lower()


def _is_json(content_type: bytes) -> bool:
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


def _refusal(scope, length: int, bad_host: bytes | None, content_type: bytes | None,
             has_body: bool) -> tuple[int, str, str] | None:
    """(status, code, message) when the request must not reach a route, else None."""
    if length > MAX_HEADERS:
        return 431, "headers_too_large", (f"the request headers are {length} bytes; the limit is {MAX_HEADERS}: "
                                          "send fewer or shorter headers")
    if bad_host is not None:
        shown = bad_host.decode("latin-1")[:100]
        return 421, "host_not_allowed", (
            f"this server does not answer for host `{shown}`: it answers loopback names (localhost, 127.0.0.1, "
            "[::1]) and the names in settings.allowed_hosts. To reach it by this name, add "
            f"`{host_name(shown) or shown}` to settings.allowed_hosts in accord.yaml (`*.example.com` allows every "
            "subdomain), then reload or restart")
    method = scope["method"]
    # DELETE carries no body (MCP clients end a session with one) and a page can never send it without the
    # browser asking first; with a body it is held to the same rule as the rest.
    if (method in _STATE_CHANGING and (method != "DELETE" or has_body) and not _own_csrf(scope["path"])
            and (content_type is None or not _is_json(content_type))):
        got = "no Content-Type" if content_type is None else f"Content-Type `{content_type.decode('latin-1')[:100]}`"
        return 415, "unsupported_media_type", (
            f"send the request body as JSON with `Content-Type: application/json` (got {got}); forms and "
            "plain text are refused so that no web page can send requests to Accord")
    return None


async def _refuse(send, path: str, status: int, code: str, message: str) -> None:
    if is_anthropic(path):
        status, body = error_body(status, message)
    else:
        body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                       "code": code}})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _direct_routes(app: Any) -> dict[tuple[str, str], Any]:
    """(method, path) -> endpoint, for the app's function routes with a fixed path."""
    table: dict[tuple[str, str], Any] = {}
    for route in getattr(app, "routes", ()):
        if isinstance(route, Route) and not route.param_convertors and route.methods and route.app is not route.endpoint:
            for method in route.methods:
                table.setdefault((method, route.path), route.endpoint)
    return table


def _handler(app: Any, exc: Exception) -> Any:
    """The app's handler for `exc` (as Starlette's exception middleware finds it), or None: left to
    RequestContext's own last resort."""
    handlers = getattr(app, "exception_handlers", {})
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


class RequestContext:
    def __init__(self, app) -> None:
        self.app = app
        self.inner = tracing.asgi(app)  # with a span per request when tracing is on
        self.routes: dict[tuple[str, str], Any] | None = None  # built on the first request (tracing off)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = content_type = bad_host = None
        length = 0
        has_body = False
        allows = scope["app"].state.hosts.allows
        for k, v in scope["headers"]:  # one pass for every check (a request without Host is no browser's: it passes)
            length += len(k) + len(v)
            if k == b"host":
                if not allows(v) and not _is_local_address(v, scope):
                    bad_host = v
            elif k == b"content-type":
                content_type = v
            elif k == b"content-length":
                has_body = has_body or v.strip() not in (b"0", b"")
            elif k == b"transfer-encoding":
                has_body = True
            elif k == b"x-request-id" and rid is None:
                rid = v.decode("latin-1")[:64]
        rid = rid or f"{getrandbits(64):016x}"  # an id, not a secret: no system call per request
        scope["accord.request_id"] = rid
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 0
        header = (b"x-request-id", rid.encode("latin-1"))

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        metrics.request_started()
        try:
            refused = _refusal(scope, length, bad_host, content_type, has_body)
            if refused is not None:
                await _refuse(send_with_id, scope["path"], *refused)
                return
            if self.routes is None:
                self.routes = _direct_routes(scope["app"]) if self.inner is self.app else {}
            endpoint = self.routes.get((scope["method"], scope["path"]))
            if endpoint is None:
                await self.inner(scope, receive, send_with_id)
            else:
                scope["endpoint"], scope["path_params"] = endpoint, {}
                request = Request(scope, receive, send_with_id)
                try:
                    response = await endpoint(request)
                    await response(scope, receive, send_with_id)
                except Exception as e:
                    handler = None if status else _handler(scope["app"], e)
                    if handler is None:
                        raise
                    response = handler(request, e)
                    if inspect.isawaitable(response):
                        response = await response
                    await response(scope, receive, send_with_id)
        except ClientDisconnect:  # the client left before its body was read: nobody to answer, nothing wrong here
            status = status or 499
        except Exception as e:
            if status:  # the response has begun: all the server can still do is cut the connection
                raise
            # Answered here rather than left to Starlette's last-resort handler, which re-raises every error to
            # the server after answering, so the server logged a full traceback (exception text included, which
            # may quote a secret) whatever the log level. errors.on_unexpected logs the class name only.
            from .errors import on_unexpected

            await (await on_unexpected(Request(scope), e))(scope, receive, send_with_id)
        finally:
            metrics.request_ended(scope, status, started)
            if log.isEnabledFor(logging.INFO):
                ms = (time.perf_counter() - started) * 1000
                line(log, "%s %s %s %.1f ms", (scope["method"], scope["path"], status, ms),
                     {"method": scope["method"], "path": scope["path"], "status": status, "ms": round(ms, 2)})
            request_id.reset(token)
