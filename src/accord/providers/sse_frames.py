"""Server-sent events cut out of a byte stream, in time linear in its size.

Why a class of its own: an event may arrive in any number of blocks (a 20 MB tool call comes in hundreds), so
growing a bytes object and searching it from the start for every block costs time quadratic in the event's size,
and one large event then stalls every other request on the worker. Here each byte is searched once (plus the
few bytes a separator split between blocks can span), and an event that grows past `max_event` is refused
instead of held in memory without bound.

Lines end with CRLF, LF or CR (the SSE spec allows all three, mixed); an empty line ends an event.
"""

from __future__ import annotations

import re

# a line's end followed by another (an empty line); a CR followed by LF is one line end, never two
_BLANK_LINE = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r|\n)")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_LINE_END_KEPT = re.compile(rb"(\r\n|\r|\n)")
_LONGEST_SEPARATOR = 4  # \r\n\r\n
_SPACE = b" \t\n\r\x0b\x0c"  # what bytes.strip() strips


class EventTooLarge(ValueError):
    """One event grew past the limit without ending."""


class Framer:
    """Feed it the body's blocks in order; each `feed` returns the events completed so far, each as the upstream's
    own bytes up to and including the empty line that ends it; `end()` returns what is left when the body ends.
    `scanned` counts the bytes searched, so a test can see the work is linear without timing it."""

    def __init__(self, max_event: int) -> None:
        self.max_event = max_event
        self.scanned = 0
        self._buf = bytearray()
        self._scan = 0  # where the next search for an empty line starts: bytes before it hold none

    def feed(self, block: bytes) -> list[bytes]:
        buf = self._buf
        buf += block
        events: list[bytes] = []
        start, pos = 0, self._scan
        if buf.find(b"\r", pos) < 0:  # LF line ends only, as nearly every upstream's: LFs are found by memchr
            size = len(buf)
            at = buf.find(b"\n", pos)
            while 0 <= at < size - 1:
                if buf[at + 1] != 0x0A:
                    at = buf.find(b"\n", at + 1)
                    continue
                end = at + 2
                self.scanned += end - pos
                events.append(_cut(buf, start, end))
                start = pos = end
                at = buf.find(b"\n", pos)
            self.scanned += size - pos
            pos = max(start, size - (_LONGEST_SEPARATOR - 1))
        else:
            while (m := _BLANK_LINE.search(buf, pos)) is not None:
                end = m.end()
                self.scanned += end - pos
                if end == len(buf) and buf[end - 1] == 0x0D:  # a CR last: the LF of a CRLF may be in the next block
                    pos = m.start()  # so this one is decided once more bytes are here
                    break
                events.append(_cut(buf, start, end))
                start = pos = end
            else:  # none left: a separator may have begun in the last few bytes, so the next search starts there
                self.scanned += len(buf) - pos
                pos = max(start, len(buf) - (_LONGEST_SEPARATOR - 1))
        if start:
            del buf[:start]  # bytearray drops its head without copying the rest
            pos -= start
        if len(buf) > self.max_event:
            raise EventTooLarge(f"a stream event passed {self.max_event} bytes without ending")
        self._scan = pos
        return events

    def end(self) -> bytes:
        """What the body held after its last complete event (an event the upstream did not end, or nothing)."""
        rest, self._buf, self._scan = bytes(self._buf), bytearray(), 0
        return rest


def _cut(buf: bytearray, start: int, end: int) -> bytes:
    """An event out of the buffer: one copy (a bytearray slice, then bytes of it, would be two)."""
    if end - start < 1 << 16:
        return bytes(buf[start:end])  # cheaper for a small one than a memoryview
    with memoryview(buf) as view:
        return bytes(view[start:end])


def data_lines(event: bytes) -> list[bytes]:
    """The `data:` payloads of one event, each stripped, empty ones left out. Each line is its own payload (as
    every vendor sends one JSON object per line); the spec would join an event's data lines, which only
    matters for an upstream that splits one object over several lines, and none does.

    Each payload is cut out of the event with one copy. Lines are found with `bytes.find` (memchr) when the
    event holds no CR, as nearly every upstream's do: a regular expression's split reads a 20 MB event for
    ~50 ms on the event loop, and the split line, its slice and its strip were three copies of it."""
    if b"\r" in event:
        return [data for line in _LINE_END.split(event) if line.startswith(b"data:") and (data := line[5:].strip())]
    out = []
    pos, size = 0, len(event)
    while pos < size:
        end = event.find(b"\n", pos)
        if end < 0:
            end = size
        if event.startswith(b"data:", pos):
            first, last = pos + 5, end
            while first < last and event[first] in _SPACE:
                first += 1
            while last > first and event[last - 1] in _SPACE:
                last -= 1
            if last > first:
                out.append(event[first:last])
        pos = end + 1
    return out


def split_lines(event: bytes) -> list[bytes]:
    """An event's lines with their line ends between them (lines at even places): joined, the event as it came,
    so one line can be rewritten without touching the rest. Split by `bytes.split` when the event holds no CR
    (see data_lines)."""
    if b"\r" in event:
        return _LINE_END_KEPT.split(event)
    lines = event.split(b"\n")
    out = [b"\n"] * (2 * len(lines) - 1)
    out[0::2] = lines
    return out
