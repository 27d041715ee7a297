"""Logging: plain text or JSON lines, each line carrying the id of the request it belongs to.

The id lives in a context variable set by the gateway for each request, so any module's log line made while
serving a request carries it without passing it around.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time

import orjson

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("accord_request_id", default="-")


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if extra:
            out.update(extra)
        if record.exc_info and record.levelno >= logging.ERROR:
            out["error"] = record.exc_info[1].__class__.__name__ if record.exc_info[1] else None
        return orjson.dumps(out).decode()


TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def setup(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestId())
    handler.setFormatter(JSONFormatter() if fmt == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):  # one format for every line
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
