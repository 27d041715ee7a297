"""Logging: plain text or JSON lines, each line carrying the id of the request it belongs to.

The id lives in a context variable set by the gateway for each request, so any module's log line made while
serving a request carries it without passing it around.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import select
import sys
import time
from typing import IO, Any

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

    _second: int = -1
    _stamp: str = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """logging's own text (`2026-12-01 20:45:36,123`, local time), the date and time part built once per
        second rather than per line: at a line per request it was a third of the line's cost."""
        if datefmt:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"

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
    _second: int = -1
    _stamp: str = ""

    def format(self, record: logging.LogRecord) -> str:
        return _scrub(self._format(record))

    def _time(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # the date and time built once per second, not per line
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            self._second = second
        return f"{self._stamp}.{int(record.msecs):03d}Z"

    def _format(self, record: logging.LogRecord) -> str:
        out = {
            "time": self._time(record),
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


ATOMIC_WRITE: int = getattr(select, "PIPE_BUF", 512)  # the most a pipe takes in one piece (Linux 4096, POSIX >= 512)


class TurnStream(logging.StreamHandler):
    """A stream written once per event-loop turn: the lines a turn logs (at info, one per request, 64 requests
    ending in one turn under load) leave in one write and flush, at the end of that turn, not one system call
    each. Off the loop (start-up, another thread) a line is written at once, after any still pending, so the
    order holds. Nothing waits: a pending line is written before the loop looks for new events."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled: asyncio.AbstractEventLoop | None = None  # the loop a write is scheduled on

    def emit(self, record: logging.LogRecord) -> None:  # called holding self.lock (Handler.handle)
        try:
            line = self.format(record) + self.terminator
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write()
            return
        if self._scheduled is not loop:
            self._scheduled = loop
            loop.call_soon(self._turn_end)

    def _turn_end(self) -> None:
        self.acquire()
        try:
            self._scheduled = None
            self._write()
        finally:
            self.release()

    def _write(self) -> None:
        """The pending lines, in writes of at most PIPE_BUF bytes of whole lines: a pipe shared by several
        workers (a service manager's, docker's) never interleaves a write that size with another's, so no line
        is split by another process's, as with a write per line before."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        group: list[str] = []
        size = 0
        try:
            for text in pending:
                n = len(text) if text.isascii() else len(text.encode("utf-8", "replace"))
                if group and size + n > ATOMIC_WRITE:
                    self._put("".join(group))
                    group, size = [], 0
                group.append(text)
                size += n
            self._put("".join(group))
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": "log write failed"}))

    def _put(self, text: str) -> None:
        self.stream.write(text)
        if hasattr(self.stream, "flush"):
            self.stream.flush()

    def flush(self) -> None:
        """What is pending too (logging's shutdown at exit, a test reading the stream)."""
        self.acquire()
        try:
            self._write()
        finally:
            self.release()
        super().flush()


def line(logger: logging.Logger, msg: str, args: tuple, fields: dict[str, Any] | None = None) -> None:
    """An info line from a hot path (the access log): the record built and handed on directly, without
    logging's search of the call stack for a file and line no format here shows. Filters and handlers as any."""
    record = logger.makeRecord(logger.name, logging.INFO, "", 0, msg, args, None,
                               extra=None if fields is None else {"fields": fields})
    logger.handle(record)


def setup(level: str = "info", fmt: str = "text") -> None:
    handler = TurnStream(sys.stderr)
    handler.addFilter(_RequestId())
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):  # one format for every line
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
