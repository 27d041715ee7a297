"""The `threads` tool: recent threads, one thread, or one stored message page by page.

Answers are stored whole even when a tool's result had to be trimmed; every result stays within
`mcp.output_tokens`, so a long answer is read in pages, each ending with the call for the next."""

from typing import Annotated, Any

from mcp.types import ToolAnnotations
from pydantic import Field

from .. import tokens
from ..consensus.report import more, trim
from . import inputs, service
from .state import State

DESCRIPTION = ("List recent threads, or fetch one by id with every stored answer; part (and offset) pages "
               "through one long answer.")
ANNOTATIONS = {"threads": ToolAnnotations(title="Stored threads and background runs", read_only_hint=False, open_world_hint=False)}


def _who(m: dict[str, Any]) -> str:
    return m["role"] + (f" {m['model']}" if m["model"] else "") + (f" ({m['stance']})" if m["stance"] else "")


def _body(m: dict[str, Any]) -> str:
    return (m["content"] or "") if m["status"] == "ok" else f"{m['status']}: {m['error']}"


def page(t: dict[str, Any], part: int, offset: int, budget: int) -> str:
    """`# header`, a blank line, the text from `offset`, a blank line, then the call for the next page (or
    the end): the text is everything between the first and the last blank line, so pages join exactly."""
    m = next((m for m in t["messages"] if m["seq"] == part), None)
    if m is None:
        parts = [m["seq"] for m in t["messages"]]
        raise inputs.InputError(f"thread {t['id']} has no part {part}: its parts are "
                                f"{', '.join(map(str, parts)) or 'none'}")
    text = _body(m)
    if offset > len(text):
        raise inputs.InputError(f"offset {offset} is past the end of part {part} ({len(text)} characters)")

    def frame(end: int) -> tuple[str, str]:
        head = f"# Thread {t['id']} part {part}: {_who(m)}, characters {offset}-{end} of {len(text)}"
        tail = (f"next page: {more(t['id'], part, end)}" if end < len(text) else f"end of part {part}")
        return head, tail

    worst = frame(len(text) - 1)
    room = tokens.room(budget) - tokens.count(worst[0]) - tokens.count(worst[1]) - 4
    chunk = tokens.truncate(text[offset:], room) or text[offset:offset + 1]
    head, tail = frame(offset + len(chunk))
    return f"{head}\n\n{chunk}\n\n{tail}"


PARTIAL_CHARS = 1_500  # of each answer still being written, the end shown while a background run goes on


def running(t: dict[str, Any]) -> str:
    """A background run's live state: each model's, and the end of each answer written so far."""
    r = t.get("result") or {}
    if t["status"] != "running" or not r.get("background"):
        return ""
    lines = ["", "## Progress (still running; call again for more)"]
    for who, st in (r.get("progress") or {}).items():
        extra = f", {st['detail']}" if st.get("detail") else ""
        lines.append(f"- {who}: {st.get('state')}" + (f" at {st['elapsed']:.1f} s" if "elapsed" in st else "") + extra)
    for who, text in (r.get("partial") or {}).items():
        cut = text[-PARTIAL_CHARS:]
        lines.append(f"\n### {who}, so far\n{'…' if len(cut) < len(text) else ''}{cut}")
    return "\n".join(lines)


def overview(t: dict[str, Any], budget: int) -> str:
    """Every message; when they do not all fit, each gets a share and ends with the call that reads on."""
    head = (f"# Thread {t['id']} ({t['tool']}, {t['status']})\n"
            f"{t['prompt_tokens'] + t['completion_tokens']} tokens, ${t['cost']:.4f}") + running(t)
    titles = [f"## {_who(m)} (part {m['seq']})\n" for m in t["messages"]]
    bodies = [_body(m) for m in t["messages"]]
    whole = "\n\n".join([head, *(a + b for a, b in zip(titles, bodies, strict=True))])
    limit = tokens.room(budget)
    if tokens.fits(whole, limit):
        return whole
    room = limit - tokens.count(head) - sum(tokens.count(x) + 2 for x in titles) - 8
    while True:
        each = tokens.shares([tokens.count(b) for b in bodies], max(0, room))
        out = "\n\n".join([head, *(a + trim(b, n, t["id"], m["seq"])
                                   for a, b, n, m in zip(titles, bodies, each, t["messages"], strict=True))])
        over = tokens.count(out) - limit
        if over <= 0 or room <= 0:
            return trim(out, limit, t["id"])
        room -= over


def make(state: State):
    async def threads(
        id: Annotated[str | None, Field(description="thread to fetch; absent: list recent")] = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        part: Annotated[int | None, Field(ge=0, description="one stored message, by its part number")] = None,
        offset: Annotated[int, Field(ge=0, description="with part: first character to show")] = 0,
        cancel: Annotated[bool, Field(description="with id: stop that background run and its model calls")] = False,
    ) -> str:
        budget = state.cfg.mcp.output_tokens
        with inputs.tool_errors():
            if not id:
                rows = await state.store.recent(limit)
                if not rows:
                    return "no threads yet"
                return trim("\n".join(f"- {t['id']} {t['updated_at'][:19]} {t['tool']}"
                                      f"{'/' + t['mode'] if t['mode'] else ''} {t['status']}: {t['title'][:80]}"
                                      for t in rows), tokens.room(budget))
            if cancel:
                if not id:
                    raise inputs.InputError("cancel needs id: the run to stop")
                await _cancel(state, id)
            if offset and part is None:
                raise inputs.InputError("offset needs part: the message to page through (see the thread's parts)")
            t = await state.store.get(id)
            if part is not None:
                return page(t, part, offset, budget)
            return overview(t, budget)

    return threads


async def _cancel(state: State, tid: str) -> None:
    """Stop run `tid` here, or (stdio) in the running service; a run that is over is left as it is."""
    if state.runs is None:
        await service.cancel(state.cfg, tid)
        return
    if not await state.runs.cancel(tid) and (await state.store.get(tid))["status"] == "running":
        raise inputs.InputError(f"run {tid} is executed by another Accord process; cancel it there")
