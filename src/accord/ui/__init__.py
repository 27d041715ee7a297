"""The web dashboard at /ui, built on its first request.

Jinja2, argon2 and the page modules are loaded then, not when `accord serve` starts, so users of the plain
API pay nothing for the dashboard in start-up time or memory.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any


class LazyUI:
    """An ASGI app that imports and builds the dashboard on first use."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            module = await asyncio.to_thread(importlib.import_module, "accord.ui.app")
            if self.app is None:
                self.app = module.build()
        await self.app(scope, receive, send)
