"""Chat-completion chunks in, Responses stream events out (`response.created` ... `response.completed`).

Items open as their first delta arrives and close when another kind begins or the stream ends, so a client sees
reasoning, text and calls as they come, in OpenAI's event order: output_item.added, content_part.added, deltas,
the matching .done events, output_item.done. Every event carries its sequence_number. Pure: no I/O.
"""

from __future__ import annotations

import time
from typing import Any

from .base import Usage
from .translate_responses_output import (
    Bridge,
    call_item,
    new_id,
    output_text,
    reasoning_item,
    response_object,
)


class StreamBridge:
    def __init__(self, body: dict, rid: str, bridge: Bridge) -> None:
        self.body, self.rid, self.bridge = body, rid, bridge
        self.created = time.time()
        self.seq = 0
        self.output: list[dict | None] = []  # by output_index; None while the item is open
        self.reasoning: tuple[int, str, list[str]] | None = None  # (output_index, item id, text so far)
        self.text: tuple[int, str, list[str]] | None = None
        self.blocks: list[dict] = []  # Anthropic's signed thinking blocks, for the reasoning item's state
        self.calls: dict[int, dict] = {}  # chat tool-call index -> {"index", "id", "call_id", "name", "args"}
        self.finish: str | None = None

    def event(self, kind: str, **data: Any) -> dict:
        ev = {"type": kind, "sequence_number": self.seq, **data}
        self.seq += 1
        return ev

    def response(self, status: str = "in_progress", usage: Usage | None = None, error: dict | None = None) -> dict:
        done = [o for o in self.output if o is not None]
        return response_object(self.body, self.rid, done if status != "in_progress" else [], status=status,
                               finish=self.finish if status == "completed" else None, usage=usage, error=error,
                               created=self.created)

    def start(self) -> list[dict]:
        r = self.response()
        return [self.event("response.created", response=r), self.event("response.in_progress", response=r)]

    # ------------------------------------------------------------------------------------------- chunks in
    def add(self, chunk: dict) -> list[dict]:
        out: list[dict] = []
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            r = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(r, str) and r:
                out += self._reasoning(r)
            # Claude's signed thinking must come back with its tool calls, or Claude stops thinking on the next turn
            self.blocks += [b for b in delta.get("thinking_blocks") or () if isinstance(b, dict)]
            c = delta.get("content")
            if isinstance(c, str) and c:
                out += self._text(c)
            for tc in delta.get("tool_calls") or ():
                out += self._call(tc)
            self.finish = choice.get("finish_reason") or self.finish
        return out

    def _open(self, item: dict) -> tuple[int, dict]:
        self.output.append(None)
        index = len(self.output) - 1
        return index, self.event("response.output_item.added", output_index=index, item=item)

    def _reasoning(self, text: str) -> list[dict]:
        out = self._close_text()
        if self.reasoning is None:
            rid = new_id("rs")
            index, added = self._open({"id": rid, "type": "reasoning", "summary": [], "content": [],
                                       "status": "in_progress"})
            out += [added, self.event("response.content_part.added", item_id=rid, output_index=index,
                                      content_index=0, part={"type": "reasoning_text", "text": ""})]
            self.reasoning = (index, rid, [])
        index, rid, texts = self.reasoning
        texts.append(text)
        out.append(self.event("response.reasoning_text.delta", item_id=rid, output_index=index, content_index=0,
                              delta=text))
        return out

    def _close_reasoning(self) -> list[dict]:
        if self.reasoning is None:
            return []
        index, rid, texts = self.reasoning
        self.reasoning = None
        text = "".join(texts)
        blocks, self.blocks = self.blocks, []
        item = reasoning_item({"reasoning_content": text, **({"thinking_blocks": blocks} if blocks else {})},
                              self.bridge, rid)
        assert item is not None
        self.output[index] = item
        return [self.event("response.reasoning_text.done", item_id=rid, output_index=index, content_index=0,
                           text=text),
                self.event("response.content_part.done", item_id=rid, output_index=index, content_index=0,
                           part={"type": "reasoning_text", "text": text}),
                self.event("response.output_item.done", output_index=index, item=item)]

    def _text(self, text: str) -> list[dict]:
        out = self._close_reasoning()
        if self.text is None:
            mid = new_id("msg")
            index, added = self._open({"id": mid, "type": "message", "role": "assistant", "status": "in_progress",
                                       "content": []})
            out += [added, self.event("response.content_part.added", item_id=mid, output_index=index,
                                      content_index=0, part=output_text(""))]
            self.text = (index, mid, [])
        index, mid, texts = self.text
        texts.append(text)
        out.append(self.event("response.output_text.delta", item_id=mid, output_index=index, content_index=0,
                              delta=text, logprobs=[]))
        return out

    def _close_text(self) -> list[dict]:
        if self.text is None:
            return []
        index, mid, texts = self.text
        self.text = None
        part = output_text("".join(texts))
        item = {"id": mid, "type": "message", "role": "assistant", "status": "completed", "content": [part]}
        self.output[index] = item
        return [self.event("response.output_text.done", item_id=mid, output_index=index, content_index=0,
                           text=part["text"], logprobs=[]),
                self.event("response.content_part.done", item_id=mid, output_index=index, content_index=0,
                           part=part),
                self.event("response.output_item.done", output_index=index, item=item)]

    def _call(self, tc: dict) -> list[dict]:
        out = self._close_reasoning() + self._close_text()
        fn = tc.get("function") or {}
        n = int(tc.get("index") or 0)
        slot = self.calls.get(n)
        if slot is None:
            slot = self.calls[n] = {"index": None, "call_id": tc.get("id") or new_id("call"), "name": "", "args": []}
        if fn.get("name"):
            slot["name"] += fn["name"]
        if tc.get("extra_content"):  # Gemini's thought signature: it must go back with this call
            slot["extra_content"] = tc["extra_content"]
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            slot["args"].append(args)
        if slot["index"] is None:
            if not slot["name"]:
                return out  # an item is added once its name (and so its kind) is known; its arguments wait
            out += self._open_call(slot)
            args = "".join(slot["args"])
        if args and not slot["custom"]:  # a custom tool's input is known only once its JSON wrapper is whole
            out.append(self.event("response.function_call_arguments.delta", item_id=slot["id"],
                                  output_index=slot["index"], delta=args))
        return out

    def _open_call(self, slot: dict) -> list[dict]:
        item = call_item(slot["call_id"], slot["name"], "", self.bridge, status="in_progress")
        slot["index"], added = self._open(item)
        slot["id"], slot["custom"] = item["id"], item["type"] == "custom_tool_call"
        return [added]

    def _close_calls(self) -> list[dict]:
        out: list[dict] = []
        signed = [{"id": s["call_id"], "extra_content": s["extra_content"]} for s in self.calls.values()
                  if s.get("extra_content")]
        for slot in self.calls.values():
            if slot["index"] is None:  # never named: still a call, added now
                out += self._open_call(slot)
            args = "".join(slot["args"])
            item = call_item(slot["call_id"], slot["name"], args, self.bridge, slot["id"])
            self.output[slot["index"]] = item
            if slot["custom"]:
                out.append(self.event("response.custom_tool_call_input.done", item_id=slot["id"],
                                      output_index=slot["index"], input=item["input"]))
            else:
                out.append(self.event("response.function_call_arguments.done", item_id=slot["id"],
                                      output_index=slot["index"], name=slot["name"], arguments=args))
            out.append(self.event("response.output_item.done", output_index=slot["index"], item=item))
        self.calls.clear()
        if signed:  # the signatures came with the calls, after any reasoning closed: one more item carries them
            sigs = reasoning_item({"tool_calls": signed}, self.bridge)
            assert sigs is not None
            index, added = self._open(sigs)
            self.output[index] = sigs
            out += [added, self.event("response.output_item.done", output_index=index, item=sigs)]
        return out

    # ------------------------------------------------------------------------------------------------ end
    def end(self, usage: Usage | None) -> list[dict]:
        """The closing events, `response.completed` (or `response.incomplete`) last."""
        out = self._close_reasoning() + self._close_text() + self._close_calls()
        r = self.response("completed", usage)
        kind = "response.incomplete" if r["status"] == "incomplete" else "response.completed"
        return [*out, self.event(kind, response=r)]

    def fail(self, code: str, message: str, param: str | None = None) -> list[dict]:
        """An error after the stream began: an `error` event, then `response.failed`."""
        error = {"code": code, "message": message}
        return [self.event("error", code=code, message=message, param=param),
                self.event("response.failed", response=self.response("failed", error=error))]

    def done_items(self) -> list[dict]:
        return [o for o in self.output if o is not None]
