"""Who may use /mcp: the master key only, read by accord.auth as the gateway reads it; off without one."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .. import auth
from ..errors import AccordError

MCP_OFF = ("MCP over HTTP (/mcp) is off without a master key; stdio (`accord mcp`, what `accord claude install` "
           "registers) works without one. To turn /mcp on, ")


async def refused(scope: Any, receive: Any, send: Any) -> bool:
    """/mcp takes the master key only; a refusal is answered here (True) in the error shape of every HTTP route."""
    try:
        auth.admin(Request(scope), MCP_OFF)
    except AccordError as e:
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        await JSONResponse(e.to_dict(), status_code=e.status, headers=headers)(scope, receive, send)
        return True
    return False
