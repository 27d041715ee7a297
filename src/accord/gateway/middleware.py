"""Per-request context as plain ASGI (no per-request objects beyond what Starlette makes anyway): a request id
(the client's `x-request-id`, or a new one) in the log context and the response headers, and one access-log
line per request."""

from __future__ import annotations

import logging
import os
import time

from starlette.requests import ClientDisconnect, Request

from ..logs import request_id

log = logging.getLogger("accord.access")


class RequestContext:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                rid = v.decode("latin-1")[:64]
                break
        rid = rid or os.urandom(8).hex()
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

        try:
            await self.app(scope, receive, send_with_id)
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
            if log.isEnabledFor(logging.INFO):
                ms = (time.perf_counter() - started) * 1000
                log.info("%s %s %s %.1f ms", scope["method"], scope["path"], status, ms,
                         extra={"fields": {"method": scope["method"], "path": scope["path"], "status": status,
                                           "ms": round(ms, 2)}})
            request_id.reset(token)
