"""Logging: plain text or JSON lines, each line carrying the id of the request it belongs to.

The id lives in a context variable set by the gateway for each request, so any module's log line made while
serving a request carries it without passing it around.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time

import orjson

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("accord_request_id", default="-")


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


_SECRETS: set[str] = set()


def redact(*values: str | None) -> None:
    """Values never to be written to a log, whatever a message or a traceback quotes (a library's error text
    may carry a URL or a header). Only grows: a key replaced by a reload stays masked."""
    _SECRETS.update(v for v in values if v and len(v) >= 8)


def redact_config(cfg) -> None:
    """The secrets a config holds: master key, UI password and session secret, MCP endpoint key, each model's
    secrets (key, header values, credentials in its api_base), and the credentials in any settings URL."""
    from .redaction import url_secrets

    s = cfg.settings
    values = [s.master_key, s.ui_password, s.ui_session_secret, cfg.mcp.endpoint_key]
    for d in cfg.deployments:
        values.extend(d.secrets())
    for url in (s.database_url, s.redis_url, cfg.mcp.endpoint):
        values.extend(url_secrets(url))
    redact(*values)


def _scrub(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "****")
    return text


# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: a newline in a path
# (`%0a`), a header or a model name would otherwise start a forged log line, and an escape sequence would
# rewrite the reader's terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(m: re.Match) -> str:
    c = m.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def escape(text: str) -> str:
    """`text` on one line, control characters written as escapes (`\\n`, `\\x1b`)."""
    return _CONTROL.sub(_escape_char, text) if _CONTROL.search(text) else text


class TextFormatter(logging.Formatter):
    """One line per record, whatever its fields hold; a traceback follows on lines of its own, indented, so no
    text inside it can pass for a record."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = escape(_scrub(self.formatMessage(record)))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for block in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if block:
                line += "".join(f"\n    {escape(part)}" for part in _scrub(block).splitlines())
        return line


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _scrub(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
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


def formatter(fmt: str = "text") -> logging.Formatter:
    return JSONFormatter() if fmt == "json" else TextFormatter(TEXT)


def setup(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestId())
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):  # one format for every line
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
