"""The dashboard's templates and the one way a page is rendered (every page handler, routes_<page>.py, uses it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from . import auth, charts

HERE = Path(__file__).parent
ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)
ENV.globals["chart_bars"] = charts.bars
ENV.globals["chart_lines"] = charts.lines
ENV.filters["money"] = lambda v: f"${v:,.4f}" if v and v < 1 else f"${v or 0:,.2f}"
ENV.filters["num"] = lambda v: f"{v:,}" if isinstance(v, int) else f"{v:,.1f}" if v is not None else "—"
ENV.filters["ms"] = lambda v: "—" if v is None else f"{v:,.0f} ms" if v < 10_000 else f"{v / 1000:,.1f} s"

NAV = [("overview", "Overview", "/"), ("models", "Models", "/models"), ("keys", "Keys", "/keys"),
       ("logs", "Logs", "/logs"), ("playground", "Playground", "/playground"), ("threads", "Threads", "/threads"),
       ("settings", "Settings", "/settings")]


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    sess = getattr(request.state, "session", None)
    html = ENV.get_template(name).render(base=auth.prefix(request), session=sess, nav=NAV,
                                         version=request.app.state.version, **ctx)
    return HTMLResponse(html, status_code=status)
