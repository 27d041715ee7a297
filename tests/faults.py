"""A misbehaving provider at the TCP level: what no HTTP framework does on purpose.

The fault is chosen by the first path segment of the request (`/<fault>/v1/chat/completions`), so one server
plays every fault. Responses are written by hand, byte by byte, in OpenAI's wire format.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time

import orjson

FAULTS = ("500", "503", "429", "refused", "reset", "reset_mid_stream", "malformed", "truncated", "stall",
          "drip", "oversized")
# answers that are not what was asked for, served by the same server (not in the matrix: each has its own test)
ODD = ("whole_json", "whole_json_error", "not_http", "big_event", "big_event_cr", "gzip", "gzip_bomb")
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}


def chunk(content: str | None = None, finish: str | None = None, sep: bytes = b"\n\n") -> bytes:
    delta = {"content": content} if content is not None else {}
    c = {"id": "f", "object": "chat.completion.chunk", "created": 1, "model": "faulty",
         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + orjson.dumps(c) + sep


def completion(content: str, tool_calls: list[dict] | None = None) -> bytes:
    message: dict = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return orjson.dumps({"id": "f", "object": "chat.completion", "created": 1, "model": "faulty",
                         "choices": [{"index": 0, "message": message,
                                      "finish_reason": "tool_calls" if tool_calls else "stop"}],
                         "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}})


def head(status: str, ctype: str, length: int | None = None, extra: str = "") -> bytes:
    h = f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\n{extra}"
    h += f"content-length: {length}\r\n" if length is not None else "transfer-encoding: chunked\r\n"
    return (h + "\r\n").encode()


def http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class FaultServer:
    def __init__(self, drip_gap: float = 0.2, oversize_mb: int = 3, big_event_mb: float = 4) -> None:
        self.drip_gap, self.oversize_mb, self.big_event_mb = drip_gap, oversize_mb, big_event_mb
        self.sizes: list[int] = []  # each request body's length in bytes, as it came
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0
        self.hits: dict[str, int] = {}
        self.peer_closed: list[tuple[str, float]] = []  # (fault, when) a client hung up on us
        self._server: asyncio.base_events.Server | None = None

    def url(self, fault: str) -> str:
        return f"http://127.0.0.1:{self.port}/{fault}/v1"

    def start(self) -> FaultServer:
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._handle, "127.0.0.1", 0), self.loop)
        self._server = fut.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, dict]:
        head_ = await reader.readuntil(b"\r\n\r\n")
        lines = head_.decode().split("\r\n")
        path = lines[0].split(" ")[1]
        length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length")), 0)
        body = orjson.loads(await reader.readexactly(length)) if length else {}
        self.sizes.append(length)
        return path, body

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fault = "?"
        try:
            while True:  # keep-alive: serve requests until the client or the fault ends the connection
                path, body = await self._read_request(reader)
                fault = path.strip("/").split("/")[0]
                self.hits[fault] = self.hits.get(fault, 0) + 1
                keep = await self._serve(fault, bool(body.get("stream")), reader, writer)
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.peer_closed.append((fault, time.monotonic()))
        finally:
            writer.transport.abort()

    async def _serve(self, fault: str, stream: bool, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        w = writer.write
        if fault in ("500", "503", "429"):
            body = orjson.dumps({"error": {"message": f"fault {fault}", "type": "server_error"}})
            status = {"500": "500 Internal Server Error", "503": "503 Service Unavailable",
                      "429": "429 Too Many Requests"}[fault]
            w(head(status, "application/json", len(body), "retry-after: 1\r\n" if fault == "429" else "") + body)
            await writer.drain()
            return True
        if fault == "reset":
            return False  # close before a single byte of the answer
        if fault == "malformed":
            body = b'{"id": "f", "choices": [ {"message": '
            if stream:
                w(head("200 OK", "text/event-stream") + http_chunk(b"data: {not json}\n\n") + b"0\r\n\r\n")
            else:
                w(head("200 OK", "application/json", len(body)) + body)
            await writer.drain()
            return True
        if fault in ("reset_mid_stream", "truncated"):
            if stream:
                w(head("200 OK", "text/event-stream"))
                w(http_chunk(chunk("The first half")) + http_chunk(chunk(" of an answer")))
                if fault == "truncated":
                    w(b"0\r\n\r\n")  # a clean end of the body, but no finish_reason and no [DONE]
                await writer.drain()
                await asyncio.sleep(0.05)  # wait-ok: the fault's own pause before it cuts
                return fault == "truncated"
            body = completion("a complete answer that will be cut")
            w(head("200 OK", "application/json", len(body)) + body[: len(body) // 2])
            await writer.drain()
            return False
        if fault == "stall":
            try:
                await reader.read(1)  # wait, silent, until the client gives up
            finally:
                self.peer_closed.append((fault, time.monotonic()))
            return False
        if fault == "drip":
            words = ["slow ", "but ", "complete"]
            if stream:
                w(head("200 OK", "text/event-stream"))
                hangup = asyncio.ensure_future(reader.read(1))  # b"" the moment the client closes
                for word in words:
                    w(http_chunk(chunk(word)))
                    await writer.drain()
                    await asyncio.wait([hangup], timeout=self.drip_gap)
                    if hangup.done():
                        self.peer_closed.append((fault, time.monotonic()))
                        return False
                hangup.cancel()
                w(http_chunk(chunk(None, "stop")) + http_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            else:
                body = completion("".join(words))
                w(head("200 OK", "application/json", len(body)))
                for i in range(0, len(body), 40):
                    w(body[i:i + 40])
                    await writer.drain()
                    await asyncio.sleep(self.drip_gap / 4)  # wait-ok: the drip
            await writer.drain()
            return True
        if fault == "oversized":
            blob = b"x" * (self.oversize_mb << 20)
            if stream:
                w(head("200 OK", "text/event-stream") + http_chunk(b"data: {\"choices\": [], \"pad\": \"" + blob
                                                                   + b"\"}\n\n") + b"0\r\n\r\n")
            else:
                body = b'{"pad": "' + blob + b'"}'
                w(head("200 OK", "application/json", len(body)) + body)
            await writer.drain()
            return True
        if fault == "whole_json":  # `stream` ignored: one whole chat.completion, as JSON
            body = completion("a whole reply", [TOOL_CALL])
            w(head("200 OK", "application/json", len(body)) + body)
            await writer.drain()
            return True
        if fault == "whole_json_error":  # an error body with status 200 (some servers answer errors that way)
            body = orjson.dumps({"error": {"message": "the model is overloaded right now", "type": "server_error",
                                           "code": 503}})
            w(head("200 OK", "application/json", len(body)) + body)
            await writer.drain()
            return True
        if fault == "not_http":  # something else listens on that port
            w(b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n")
            await writer.drain()
            return False
        if fault in ("big_event", "big_event_cr"):  # one content chunk of big_event_mb, in small TCP writes,
            sep = b"\r\r" if fault == "big_event_cr" else b"\n\n"  # then a proper end; _cr: lines end with CR
            w(head("200 OK", "text/event-stream"))
            event = chunk("y" * int(self.big_event_mb * (1 << 20)), sep=sep)
            for i in range(0, len(event), 1 << 14):
                w(http_chunk(event[i:i + (1 << 14)]))
                await writer.drain()
            w(http_chunk(chunk(None, "stop", sep) + b"data: [DONE]" + sep) + b"0\r\n\r\n")
            await writer.drain()
            return True
        if fault in ("gzip", "gzip_bomb"):  # a compressed reply, its content-length the compressed size; _bomb:
            text = "z" * ((self.oversize_mb << 20) if fault == "gzip_bomb" else 5000)  # inflates past the limit
            body = gzip.compress(completion(text), 9)
            w(head("200 OK", "application/json", len(body), "content-encoding: gzip\r\n") + body)
            await writer.drain()
            return True
        body = b'{"error": {"message": "unknown fault"}}'
        w(head("404 Not Found", "application/json", len(body)) + body)
        await writer.drain()
        return True
