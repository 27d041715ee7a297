"""One pooled HTTP client per upstream origin, made lazily inside the running loop.

aiohttp rather than httpx on this path: it is measured faster under concurrency (bench/README.md).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

if TYPE_CHECKING:
    from ..config import Settings


class Pools:
    def __init__(self, settings: Settings | None = None) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self.connect_timeout = settings.connect_timeout if settings else 10.0
        self.request_timeout = settings.request_timeout if settings else 600.0
        self._lock = asyncio.Lock()

    def get(self, url: str) -> aiohttp.ClientSession:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        session = self._sessions.get(origin)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True,
                                             keepalive_timeout=30)
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",),
                timeout=aiohttp.ClientTimeout(total=None, connect=self.connect_timeout),
                read_bufsize=2**16,
            )
            self._sessions[origin] = session
        return session

    def timeout(self, dep_timeout: float | None, *, stream: bool, stream_timeout: float | None = None
                ) -> aiohttp.ClientTimeout:
        total = dep_timeout or self.request_timeout
        if stream:
            # a stream may run long; what must not happen is a silence longer than the idle limit
            return aiohttp.ClientTimeout(total=None, connect=self.connect_timeout,
                                         sock_read=stream_timeout or total)
        return aiohttp.ClientTimeout(total=total, connect=self.connect_timeout)

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            await s.close()


async def post(
    pools: Pools, dep, url: str, payload: bytes, headers: dict, timeout: aiohttp.ClientTimeout
) -> aiohttp.ClientResponse:
    """POST and return the response once its status is known good; map every failure to an AccordError."""
    from .base import upstream_error

    session = pools.get(url)
    try:
        resp = await session.post(url, data=payload, headers=headers, timeout=timeout)
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        raise _timeout(dep, "before answering") from None
    except aiohttp.ClientError as e:
        raise _conn_error(dep, e) from None
    if resp.status >= 400:
        try:
            raw = await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            raw = b""
        finally:
            resp.release()
        raise upstream_error(dep, resp.status, raw, resp.headers)
    return resp


async def read_json(resp: aiohttp.ClientResponse, dep) -> dict:
    import orjson

    from .base import bad_upstream_json

    try:
        raw = await resp.read()
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        raise _timeout(dep, "while answering") from None
    except aiohttp.ClientError as e:
        raise _conn_error(dep, e) from None
    finally:
        resp.release()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_upstream_json(dep) from None
    if not isinstance(data, dict):
        raise bad_upstream_json(dep)
    return data


async def sse_data(resp: aiohttp.ClientResponse, dep):
    """Yield the `data:` payloads of a server-sent-event stream, as bytes, as they arrive."""
    try:
        async for line in resp.content:
            if line.startswith(b"data:"):
                data = line[5:].strip()
                if data:
                    yield data
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        raise _timeout(dep, "mid-stream (no data within the stream time-out)") from None
    except aiohttp.ClientError as e:
        raise _conn_error(dep, e, mid_stream=True) from None
    finally:
        resp.close() if not resp.content.at_eof() else resp.release()


def _timeout(dep, when: str):
    from ..errors import UpstreamTimeout

    return UpstreamTimeout(f"{dep.vendor.label or dep.vendor.name} ({dep.id}) timed out {when}")


def _conn_error(dep, e: Exception, mid_stream: bool = False):
    from ..errors import UpstreamError

    what = "dropped the connection mid-stream" if mid_stream else "could not be reached"
    return UpstreamError(f"{dep.vendor.label or dep.vendor.name} ({dep.id}) {what} ({e.__class__.__name__})")
