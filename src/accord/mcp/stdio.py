"""`accord mcp`: the server over stdio, for `claude mcp add accord -- accord mcp`."""

from __future__ import annotations

import asyncio

from ..config import Config
from .server import build
from .state import State


async def serve(cfg: Config) -> None:
    state = State.create(cfg)
    try:
        await state.start()
        await build(state).run_stdio_async()
    finally:
        await state.close()


def run(cfg: Config) -> None:
    asyncio.run(serve(cfg))
