"""The panel tools past `consensus` (review, precommit, debug, planner) as data: the dataclass each takes, the
title of its thread and its call. One table, so the MCP tools, the background run registry and the runs API
(where a stdio `accord mcp` hands a run to the service) start each of them one way."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import debug, planner, review_code
from .asking import request
from .runner import Engine, OnEvent
from .types import InputError

if TYPE_CHECKING:
    from ..config import Config


@dataclass(frozen=True)
class PanelTool:
    ask: type  # a dataclass with `panel` and `thread_id` among its fields; JSON between processes
    title: Callable[[Any], str]  # the thread's title, from the ask
    call: Callable[[Engine, Config, Any, OnEvent | None], Awaitable[Any]]  # the whole call, its result


def _review_title(ask: review_code.Ask) -> str:
    return f"Review {ask.diff or ask.path or 'files'}"


TOOLS: dict[str, PanelTool] = {
    "review": PanelTool(review_code.Ask, _review_title, functools.partial(review_code.review, tool="review")),
    "precommit": PanelTool(review_code.Ask, _review_title,
                           functools.partial(review_code.review, tool="precommit")),
    "debug": PanelTool(debug.Ask, lambda a: a.symptoms, debug.diagnose),
    "planner": PanelTool(planner.Ask, lambda a: a.task, planner.plan),
}


def check(engine: Engine, cfg: Config, tool: str, ask: Any) -> str:
    """The run's title, once its panel is known to be served (unknown models refused before a run starts)."""
    title = TOOLS[tool].title(ask)
    engine.check(request(cfg, title, ask.panel))
    return title


def to_dict(ask: Any) -> dict[str, Any]:
    return dataclasses.asdict(ask)


def from_dict(tool: str, data: Any) -> Any:
    """`tool`'s ask sent by another process; InputError, naming the field, if malformed or of no such tool."""
    if tool not in TOOLS:
        raise InputError(f"no background tool {tool!r}: use one of consensus, {', '.join(TOOLS)}")
    return parse(TOOLS[tool].ask, data, f"a {tool} request")


def parse(kind: type, data: Any, what: str) -> Any:
    """A dataclass `kind` validated from JSON data (unknown fields refused): InputError saying what to fix."""
    from pydantic import TypeAdapter, ValidationError

    if not isinstance(data, dict):
        raise InputError(f"`request` must be an object ({what})")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(kind)})
    if unknown:
        raise InputError(f"unknown request field(s): {', '.join(map(str, unknown))[:200]}")
    try:
        return TypeAdapter(kind).validate_python(data, strict=False)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"])) or "request"
        raise InputError(f"request.{where}: {err['msg']}") from None
