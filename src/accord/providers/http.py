"""One pooled HTTP client per upstream origin, and the transport failures every adapter maps the same way.

aiohttp rather than httpx on this path: it is measured faster under concurrency (bench/README.md).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import hdrs, http_writer
from yarl import URL

from ..errors import UpstreamError, UpstreamTimeout
from .call import estimate_tokens
from .event_views import json_object
from .sse_frames import EventTooLarge, Framer, data_lines
from .upstream import bad_upstream_json, upstream_error, with_url_credentials

if TYPE_CHECKING:
    from ..config import Deployment, Settings
    from .call import Call

log = logging.getLogger("accord.providers")

# aiohttp joins a request's head and body into one buffer before writing it on Python < 3.12.9 (SKIP_WRITELINES:
# asyncio's selector transport gained a `writelines` in 3.12 that skipped flow control until 3.12.9, CVE-2024-12254).
# Before 3.12 that `writelines` does not exist: asyncio's transports join in the base class's, as aiohttp does, and
# uvloop's writes the pieces with one writev. There the flag only costs a copy of every body: ~40 µs for a
# 100k-token (460 KB) request (bench/README.md, "Hot path").
if sys.version_info < (3, 12):
    http_writer.SKIP_WRITELINES = False
T = TypeVar("T")
# An event this large is cut out, decoded and sent on in separate turns of the event loop: each step costs ~10 ms
# per 20 MB (a copy that faults fresh pages in, or msgspec's pass over it), and other requests on the worker
# then wait for the longest step rather than for all of them (bench/README.md, "Hot path").
LARGE_EVENT = 1 << 20


class Pools:
    def __init__(self, settings: Settings | None = None) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._targets: dict[str, tuple[str, URL]] = {}  # url -> (its origin, parsed once)
        self._timeouts: dict[tuple[float | None, bool, float | None], aiohttp.ClientTimeout] = {}
        self.connect_timeout = settings.connect_timeout if settings else 10.0
        self.request_timeout = settings.request_timeout if settings else 600.0
        self.idle_timeout = settings.stream_idle_timeout if settings else 120.0
        self.max_response = int((settings.max_response_mb if settings else 64) * 1024 * 1024)

    def target(self, url: str) -> tuple[aiohttp.ClientSession, URL]:
        """The pool for `url`'s origin and `url` parsed: both looked up, not rebuilt, on every request (the
        few URLs a config names)."""
        got = self._targets.get(url)
        if got is None:
            if len(self._targets) > 10_000:  # URLs built from something unbounded: forget rather than grow
                self._targets.clear()
            parts = urlsplit(url)
            got = self._targets[url] = (f"{parts.scheme}://{parts.netloc}", URL(url))
        return self.get(got[0], origin=True), got[1]

    def get(self, url: str, *, origin: bool = False) -> aiohttp.ClientSession:
        if not origin:
            parts = urlsplit(url)
            url = f"{parts.scheme}://{parts.netloc}"
        session = self._sessions.get(url)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30)
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",),
                timeout=aiohttp.ClientTimeout(total=None, connect=self.connect_timeout),
                read_bufsize=2**16, max_line_size=self.max_response, max_field_size=2**16,
            )
            self._sessions[url] = session
        return session

    def timeout(self, dep_timeout: float | None, *, stream: bool, stream_timeout: float | None = None
                ) -> aiohttp.ClientTimeout:
        """Total per attempt; for streams also the longest silence allowed between chunks. Built once per
        distinct setting (it is immutable)."""
        key = (dep_timeout, stream, stream_timeout)
        t = self._timeouts.get(key)
        if t is None:
            total = dep_timeout or self.request_timeout
            if stream:
                t = aiohttp.ClientTimeout(total=total, connect=self.connect_timeout,
                                          sock_read=stream_timeout or self.idle_timeout)
            else:
                t = aiohttp.ClientTimeout(total=total, connect=self.connect_timeout)
            self._timeouts[key] = t
        return t

    def open_connections(self) -> int:
        """Connections held by the pools (idle keep-alive ones included)."""
        n = 0
        for s in self._sessions.values():
            conn = s.connector
            if conn is not None and not conn.closed:
                n += sum(len(v) for v in getattr(conn, "_conns", {}).values())
                n += len(getattr(conn, "_acquired", ()))
        return n

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            await s.close()


async def post(
    pools: Pools, dep: Deployment, url: str, payload: bytes, headers: dict, timeout: aiohttp.ClientTimeout,
    *, call: Call | None = None,
) -> aiohttp.ClientResponse:
    """POST and return the response once its status is known good; map every failure to an AccordError.
    `call`: a stream's, whose prompt estimate (Call.prompt_estimate) is read off the payload here, so no stream
    keeps its request to estimate from later."""
    if call is not None:
        call.prompt_estimate = estimate_tokens(payload)
    headers = with_url_credentials(dep, headers)
    session, target = pools.target(url)
    try:
        resp = await _send(session, target, payload, headers, timeout, pools.request_timeout)
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        raise timeout_error(dep, "before answering") from None
    except aiohttp.ClientError as e:
        raise conn_error(dep, e) from None
    except (ValueError, TypeError) as e:  # the request cannot even be built (its text may quote a header: not shown)
        raise UpstreamError(f"{_who(dep)}: the request could not be made from its config ({e.__class__.__name__}); "
                            "check its api_base and headers", status=500, type="config_error", code="config_error",
                            retryable=False) from None
    if resp.status >= 400:
        try:
            raw = await resp.content.read(64 * 1024)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            raw = b""
        finally:
            resp.close()
        raise upstream_error(dep, resp.status, raw, resp.headers)
    resp.accord_limit = pools.max_response  # type: ignore[attr-defined]  # read by read_json / sse_data
    return resp


# this process's (and host's) own descriptors, not the upstream's fault; EADDRNOTAVAIL is left out: it also
# means an address that cannot be reached from here, a config error that must fail at once
LOCAL_LIMITS = frozenset({errno.EMFILE, errno.ENFILE})
LOCAL_WAIT_MAX = 0.5  # seconds between tries while this process is out of descriptors


async def _send(session: aiohttp.ClientSession, url: str | URL, payload: bytes, headers: dict,
                timeout: aiohttp.ClientTimeout, default_total: float) -> aiohttp.ClientResponse:
    """POST; a connection this process cannot open for want of its own file descriptors (thousands of open
    streams, each holding two sockets) waits for one to free up, as an accept queue would, rather than failing
    the request as an unreachable upstream and cooling a healthy deployment down. Bounded by the attempt's total
    time; the upstream's own connect time-out is unchanged."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (timeout.total or default_total)
    pause = 0.01
    while True:
        try:
            return await session.post(url, data=payload, headers=headers, timeout=timeout)
        except aiohttp.ClientConnectorError as e:
            if e.os_error.errno not in LOCAL_LIMITS or loop.time() + pause > deadline:
                raise
            if pause == 0.01:
                log.warning("out of file descriptors (%s) while connecting to %s:%s: waiting for a connection to "
                            "close; raise the open-file limit (ulimit -n) for more streams at once",
                            errno.errorcode.get(e.os_error.errno, e.os_error.errno), e.host, e.port)
        await asyncio.sleep(pause)  # a resource wait, not an upstream backoff: other streams end and free theirs
        pause = min(pause * 2, LOCAL_WAIT_MAX)


async def read_body(resp: aiohttp.ClientResponse, dep: Deployment, limit: int) -> bytes:
    """The whole body, at most `limit` bytes as delivered (decompressed), its failures named. A body of known
    length sent as it is (no Content-Encoding) is taken in one read: its size is the length, already checked
    (bench/README.md, "Hot path": 4 µs a request less than reading it chunk by chunk)."""
    length = resp.content_length
    if length is not None and length > limit:
        resp.close()
        raise too_large(dep, limit)
    parts: list[bytes] = []
    size = 0
    try:
        if length is not None and hdrs.CONTENT_ENCODING not in resp.headers:
            parts.append(await resp.content.readexactly(length))
        else:
            async for chunk in resp.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > limit:
                    resp.close()
                    raise too_large(dep, limit)
                parts.append(chunk)
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        resp.close()
        raise timeout_error(dep, "while answering") from None
    except asyncio.IncompleteReadError:  # the body ended short of its length without an error of aiohttp's
        resp.close()
        raise conn_error(dep, aiohttp.ClientPayloadError(), mid_body=True) from None
    except aiohttp.ClientError as e:
        resp.close()
        raise conn_error(dep, e, mid_body=True) from None
    resp.release()
    return b"".join(parts)


def _limit(resp: aiohttp.ClientResponse) -> int:
    return getattr(resp, "accord_limit", 64 << 20)


async def read_json(resp: aiohttp.ClientResponse, dep: Deployment) -> dict:
    raw = await read_body(resp, dep, _limit(resp))
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_upstream_json(dep) from None
    if not isinstance(data, dict):
        raise bad_upstream_json(dep)
    return data


class WholeReply(UpstreamError):
    """The upstream answered a streaming request with one JSON body instead of an event stream (some servers
    ignore `stream`, or answer errors that way with status 200). Raised before any event, with the body, for
    the protocol to relay as a stream if it can (`sse_json(whole=...)`); as it is, it names what happened."""

    def __init__(self, dep: Deployment, raw: bytes) -> None:
        super().__init__(f"{_who(dep)} answered a streaming request with a non-stream (JSON) reply, which this "
                         "protocol cannot relay as a stream; check that the deployment's api_base serves streaming")
        self.raw = raw


async def sse_events(resp: aiohttp.ClientResponse, dep: Deployment) -> AsyncGenerator[list[bytes], None]:
    """The events of a server-sent-event stream, as the upstream's own bytes: per block read, the events it
    completed (maybe none); at the end, what is left after the last one. The one place a stream is read: its size
    bounded, its failures named, its connection returned to the pool (read to the end) or closed (abandoned).

    A body that begins with `{` or `[` is no event stream (an SSE line cannot begin so): it is read whole and
    raised as WholeReply. Decided by the bytes, not the content type, which some servers get wrong both ways."""
    size, limit = 0, _limit(resp)
    framer = Framer(limit)
    whole: list[bytes] | None = None
    started = False
    try:
        async for block in resp.content.iter_any():
            size += len(block)
            if not started and (head := block.lstrip()):
                started = True
                if head[:1] in (b"{", b"["):
                    whole = []
            if whole is not None:
                if size > limit:
                    raise too_large(dep, limit)
                whole.append(block)
                continue
            try:
                events = framer.feed(block)
            except EventTooLarge:
                raise too_large(dep, limit, "a single stream event") from None
            if size > limit:
                raise too_large(dep, limit)
            yield events
        if whole is not None:
            raise WholeReply(dep, b"".join(whole))
        rest = framer.end()
        if rest.strip():
            yield [rest]
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        raise timeout_error(dep, "mid-stream (silent for longer than the stream idle time-out)") from None
    except aiohttp.ClientError as e:
        raise conn_error(dep, e, mid_body=True) from None
    finally:
        # a stream read to its end goes back to the pool; one abandoned half-way is closed, never reused
        if resp.content.at_eof():
            resp.release()
        else:
            resp.close()


async def sse_data(resp: aiohttp.ClientResponse, dep: Deployment) -> AsyncGenerator[bytes, None]:
    """Yield the `data:` payloads of a server-sent-event stream, as bytes, as they arrive.

    Events are framed here (sse_frames.py) rather than by aiohttp's readline, whose line limit (128 KB) a
    legitimate chunk can pass (an image, a long tool call); the stream and each event in it are bounded by
    settings.max_response_mb instead."""
    async with aclosing(sse_events(resp, dep)) as blocks:
        async for events in blocks:
            for event in events:
                if len(event) > LARGE_EVENT:
                    await asyncio.sleep(0)  # a turn of its own (see LARGE_EVENT)
                for data in data_lines(event):
                    yield data


def whole_reply(dep: Deployment, raw: bytes) -> dict:
    """A JSON body sent where a stream was asked for: the object, or the upstream's own error when it is one."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_upstream_json(dep, "non-stream reply to a streaming request") from None
    if isinstance(data, list) and len(data) == 1:  # Gemini's error bodies come as a one-item list
        data = data[0]
    if not isinstance(data, dict):
        raise bad_upstream_json(dep, "non-stream reply to a streaming request")
    if data.get("error") or data.get("type") == "error":
        raise upstream_error(dep, _error_status(data), raw)
    return data


def _error_status(data: dict) -> int:
    """The HTTP status an error body sent with 200 stands for: the one it names (`code` or `status`), else 502."""
    err = data.get("error")
    for v in ((err.get("code"), err.get("status")) if isinstance(err, dict) else ()) + (data.get("status"),):
        if isinstance(v, int) and not isinstance(v, bool) and 400 <= v <= 599:
            return v
    return 502


def sse_json(resp: aiohttp.ClientResponse, dep: Deployment, call: Call, *, unwrap: bool = False,
             whole: Callable[[dict], list[dict] | None] | None = None
             ) -> AsyncGenerator[tuple[bytes, dict | None], None]:
    """Each event as (its bytes, its JSON object), for a protocol that translates every event whole; see
    sse_decoded. `unwrap`: an event sent as a one-item list (Gemini) is taken as that item."""
    return sse_decoded(resp, dep, call, _object_unwrapped if unwrap else json_object, whole=whole)


def _object_unwrapped(data: bytes) -> dict:
    obj = orjson.loads(data)
    if isinstance(obj, list) and len(obj) == 1:
        obj = obj[0]
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj


async def sse_decoded(resp: aiohttp.ClientResponse, dep: Deployment, call: Call, decode: Callable[[bytes], T], *,
                      whole: Callable[[dict], list[dict] | None] | None = None
                      ) -> AsyncGenerator[tuple[bytes, T | None], None]:
    """Each event as (its bytes, what `decode` reads of it: all of it, or for a relay only what it inspects,
    event_views.py); `[DONE]` comes as (b"[DONE]", None). Malformed output (`decode` raises ValueError) raises,
    the call's first byte is stamped, and a consumer that stops early closes the upstream connection at once.
    `whole`: how this protocol turns a whole JSON reply into its stream events (None when it cannot), for an
    upstream that ignored `stream`."""
    try:
        async with aclosing(sse_data(resp, dep)) as events:
            async for data in events:
                if data == b"[DONE]":
                    yield data, None
                    continue
                large = len(data) > LARGE_EVENT
                if large:
                    await asyncio.sleep(0)  # a turn of its own (see LARGE_EVENT)
                try:
                    obj = decode(data)
                except ValueError:  # orjson's and msgspec's errors, and bad UTF-8, are ValueErrors
                    raise bad_upstream_json(dep, "stream event") from None
                if large:
                    await asyncio.sleep(0)
                if call.first_byte is None:
                    call.first_byte = time.perf_counter()
                yield data, obj
    except WholeReply as e:  # raised before any event went by
        reply = whole_reply(dep, e.raw)
        if whole is None:
            raise
        objs = whole(reply)
        if objs is None:
            raise bad_upstream_json(dep, "non-stream reply to a streaming request") from None
        log.info("%s answered a streaming request with a non-stream (JSON) reply; relayed as a stream", _who(dep))
        call.first_byte = call.first_byte or time.perf_counter()
        for one in objs:
            raw = orjson.dumps(one)
            yield raw, decode(raw)
        yield b"[DONE]", None


def _who(dep: Deployment) -> str:
    return f"{dep.vendor.label or dep.vendor.name} ({dep.id})"


def timeout_error(dep: Deployment, when: str) -> UpstreamTimeout:
    return UpstreamTimeout(f"{_who(dep)} timed out {when}")


def conn_error(dep: Deployment, e: Exception, mid_body: bool = False) -> UpstreamError:
    if not mid_body and isinstance(e, aiohttp.ClientResponseError) and not isinstance(e, aiohttp.TooManyRedirects):
        # aiohttp could not parse the reply: something answered on that port, but not an HTTP server (the
        # text is not quoted: it is the stranger's bytes)
        return UpstreamError(f"{_who(dep)} answered with something that is not HTTP ({e.__class__.__name__}); "
                             "check the deployment's api_base (host, port, http vs https)")
    what = "dropped the connection mid-answer" if mid_body else "could not be reached"
    return UpstreamError(f"{_who(dep)} {what} ({e.__class__.__name__}); the answer is incomplete"
                         if mid_body else f"{_who(dep)} {what} ({e.__class__.__name__})")


def too_large(dep: Deployment, limit: int, what: str = "a response") -> UpstreamError:
    return UpstreamError(f"{_who(dep)} sent {what} over {limit / (1 << 20):g} MB (settings.max_response_mb)")
