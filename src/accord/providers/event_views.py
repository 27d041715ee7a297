"""What a pass-through relay reads of a stream event, read without building the rest of it.

A relay forwards each event as the upstream's own bytes and needs only a few small fields of it (the finish
reason, usage, an in-band error) and the assurance that it is well-formed JSON. Parsing a whole event builds
every string in it: one 20 MB content delta held the event loop for ~30 ms (orjson), and every other request
on the worker waited. msgspec decodes into a Struct that names only the wanted fields and validates the rest
(the content) while skipping it, allocating nothing for it: ~10 ms for 20 MB, and half orjson's CPU for an
ordinary small chunk too (bench/README.md, "Hot path"), so it reads every event.

What the typed view cannot take (an unexpected shape, or malformed bytes) is read again by orjson, whose
verdict and dict are what the relays had before: the same leniency, the same errors.
"""

from __future__ import annotations

import codecs
from typing import Any

import msgspec
import orjson

_PIECE = 1 << 18  # a large event's UTF-8 is checked a piece at a time, never decoded into one big string


class _Choice(msgspec.Struct):
    finish_reason: Any = None


class ChatChunk(msgspec.Struct):
    """An OpenAI `chat.completion.chunk`, as a relay reads it. `error` is UNSET unless the key is there."""

    choices: list[_Choice] | None = None
    usage: Any = None
    error: Any = msgspec.UNSET


class ChunkHead(msgspec.Struct):
    """A chunk's names, for the usage chunk Accord adds after the last one."""

    id: Any = None
    created: Any = None
    model: Any = None


class _Stop(msgspec.Struct):
    stop_reason: Any = None


class MessageEvent(msgspec.Struct):
    """An Anthropic Messages stream event, as a relay reads it (message_start and error events are read whole:
    they are small, and their relay rewrites them)."""

    type: Any = None
    usage: Any = None
    delta: _Stop | None = None


_CHAT = msgspec.json.Decoder(ChatChunk)
_MESSAGE = msgspec.json.Decoder(MessageEvent)
_HEAD = msgspec.json.Decoder(ChunkHead)


def json_object(data: bytes) -> dict:
    """The event as a dict (orjson); ValueError when it is not a JSON object."""
    obj = orjson.loads(data)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj


def _utf8(data: bytes) -> None:
    """Raise ValueError unless the bytes are UTF-8, as JSON must be: msgspec does not check the strings it skips
    (orjson refused such an event as malformed, and so does this)."""
    if data.isascii():
        return
    if len(data) <= _PIECE:
        data.decode()
        return
    check = codecs.getincrementaldecoder("utf-8")()
    with memoryview(data) as view:
        for at in range(0, len(data), _PIECE):
            check.decode(view[at:at + _PIECE])
    check.decode(b"", True)


def chat_chunk(data: bytes) -> ChatChunk:
    """What the relay needs of one chat chunk; ValueError when it is malformed or not a JSON object."""
    try:
        view = _CHAT.decode(data)
    except (msgspec.MsgspecError, RecursionError):
        return _chat_from(json_object(data))
    _utf8(data)
    return view


def _chat_from(obj: dict) -> ChatChunk:
    """The view of a chunk the typed decoder did not take (say `choices` holding a non-object), with the same
    truthiness as the dict's fields had."""
    choices = obj.get("choices")
    seen: list[_Choice] | None
    if isinstance(choices, list):
        seen = [_Choice(c.get("finish_reason")) if isinstance(c, dict) else _Choice() for c in choices]
    else:
        seen = [_Choice()] if choices else None
    return ChatChunk(seen, obj.get("usage"), obj.get("error", msgspec.UNSET))


def chunk_head(data: bytes) -> ChunkHead:
    """The id, created and model of a chunk already read (b"": none was)."""
    return _HEAD.decode(data) if data else ChunkHead()


def message_event(data: bytes) -> MessageEvent | None:
    """What the relay needs of one Anthropic event; None when the typed view does not take it or it is not valid
    UTF-8 (the caller reads it whole then)."""
    try:
        view = _MESSAGE.decode(data)
        _utf8(data)
    except (msgspec.MsgspecError, RecursionError, ValueError):
        return None
    return view
