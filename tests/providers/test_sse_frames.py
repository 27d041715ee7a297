"""Server-sent events framed out of a byte stream (providers/sse_frames.py): the same events however the bytes
are cut into blocks, lossless, and each byte searched about once, so one huge event costs linear work."""

from __future__ import annotations

import re
import tracemalloc
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.providers.sse_frames import EventTooLarge, Framer, data_lines, split_lines

CR, LF = 0x0D, 0x0A


def reference(data: bytes) -> tuple[list[bytes], bytes]:
    """The spec, one byte at a time: lines end with CRLF, LF or CR; a line end right after another ends the
    event. A CR as the very last byte is undecided (an LF may follow), so it and its event are left over."""
    events, start, i, prev_end = [], 0, 0, None
    while i < len(data):
        if data[i] not in (CR, LF):
            i += 1
            continue
        if data[i] == CR and i + 1 == len(data):
            break
        end = i + 2 if data[i] == CR and data[i + 1] == LF else i + 1
        if prev_end == i:  # an empty line: the event ends with it
            events.append(data[start:end])
            start, prev_end = end, None
        else:
            prev_end = end
        i = end
    return events, data[start:]


def frame(blocks: list[bytes], max_event: int = 1 << 30) -> tuple[list[bytes], bytes]:
    f = Framer(max_event)
    events = [e for b in blocks for e in f.feed(b)]
    return events, f.end()


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in pairwise(edges)]


# bytes rich in line ends of every kind, and in the pieces of an SSE stream
stream_bytes = st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"data: ", b"{}", b"x", b":", b" "]),
                        max_size=60).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(data=stream_bytes, points=st.lists(st.integers(min_value=0), max_size=20))
def test_any_cutting_into_blocks_frames_as_the_whole_and_as_the_spec(data: bytes, points: list[int]) -> None:
    whole = frame([data])
    assert frame(cut(data, points)) == whole == reference(data)
    events, rest = whole
    assert b"".join(events) + rest == data  # the upstream's bytes, all of them, untouched


@pytest.mark.parametrize("sep", [b"\n\n", b"\r\n\r\n", b"\r\r", b"\r\n\n", b"\n\r\n"])
def test_each_separator_ends_an_event_even_when_split_byte_by_byte(sep: bytes) -> None:
    data = b"data: {\"a\": 1}" + sep + b"data: {\"b\": 2}" + sep
    events, rest = frame([data[i:i + 1] for i in range(len(data))])
    if rest:  # only a CR last is undecided until the body ends (an LF may follow); then it is the last event
        assert sep.endswith(b"\r")
        events.append(rest)
    assert [data_lines(e) for e in events] == [[b'{"a": 1}'], [b'{"b": 2}']]


def test_a_cr_last_in_a_block_waits_for_the_next_byte() -> None:
    f = Framer(1 << 20)
    assert f.feed(b"data: 1\r\n\r") == []  # the CRLF of the empty line may be only half here
    assert f.feed(b"\ndata: 2\r\n\r\n") == [b"data: 1\r\n\r\n", b"data: 2\r\n\r\n"]


@pytest.mark.parametrize("block", [1 << 10, 1 << 16])
def test_one_huge_event_is_searched_once_not_once_per_block(block: int) -> None:
    """Work counted in bytes searched, never timed: growing a buffer and searching it from the start for every
    block (what was here before) searches a 16 MB event in 1 KB blocks about 130,000 MB over."""
    event = b'data: {"pad": "' + b"x" * (16 << 20) + b'"}\n\n'
    f = Framer(64 << 20)
    events = [e for i in range(0, len(event), block) for e in f.feed(event[i:i + block])]
    assert events == [event] and f.end() == b""
    blocks = -(-len(event) // block)
    assert f.scanned <= len(event) + 3 * blocks  # each byte once, plus a separator's overlap per block


def test_an_event_past_the_limit_is_refused_before_it_is_held() -> None:
    f = Framer(1000)
    f.feed(b"data: ok\n\n" + b"data: " + b"x" * 900)
    with pytest.raises(EventTooLarge, match="1000 bytes"):
        f.feed(b"x" * 200)


def test_data_lines_of_an_event() -> None:
    assert data_lines(b"event: x\r\ndata:  {\"a\": 1} \r\n: comment\r\ndata:\r\n\r\n") == [b'{"a": 1}']


@pytest.mark.parametrize("head", [b"", b"event: delta\n", b"event: delta\r\n"], ids=["data", "two lines", "CRLF"])
def test_a_large_payload_is_cut_out_of_its_event_with_one_copy(head: bytes) -> None:
    """Memory held, never time: the payload is the one copy made (the line, its slice and its strip were three,
    alive at once, before). An event with a CR takes the general path, which must still cost no more."""
    event = head + b'data: {"pad": "' + b"x" * (16 << 20) + b'"}' + (b"\r\n\r\n" if b"\r" in head else b"\n\n")
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        payloads = data_lines(event)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert [len(p) for p in payloads] == [len(event) - len(head) - 6 - (4 if b"\r" in head else 2)]
    assert payloads[0].startswith(b'{"pad": "x') and payloads[0].endswith(b'x"}')
    if b"\r" not in head:
        assert peak < 1.2 * len(event), peak


@settings(max_examples=400, deadline=None)
@given(data=stream_bytes)
def test_lines_are_read_as_the_expressions_read_them(data: bytes) -> None:
    """data_lines and split_lines find lines with bytes.find where there is no CR: the same lines as the
    spec's expressions (each line end: CRLF, LF or CR)."""
    assert data_lines(data) == [d for line in re.split(rb"\r\n|\r|\n", data)
                                if line.startswith(b"data:") and (d := line[5:].strip())]
    assert split_lines(data) == re.split(rb"(\r\n|\r|\n)", data)


def test_split_lines_keeps_each_line_end_as_it_came() -> None:
    event = b"event: x\r\ndata: 1\rdata: 2\n\n"
    lines = split_lines(event)
    assert lines[0::2] == [b"event: x", b"data: 1", b"data: 2", b"", b""] and b"".join(lines) == event
