"""Charts as inline SVG made on the server: no chart library to ship, nothing to load, readable without JS.

Each point carries a <title>, so hovering (or a long press on a phone) shows its exact value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

W, H = 600, 170
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 10, 22


def _fmt(v: float) -> str:
    if v >= 1_000_000:
        return f"{v / 1_000_000:.1f}M"
    if v >= 1_000:
        return f"{v / 1_000:.1f}k"
    return f"{v:.0f}" if v >= 10 or v == int(v) else f"{v:.2g}"


def _frame(title: str, top: float, labels: Sequence[str], fmt: Callable[[float], str]) -> list[str]:
    """Axes, the top and zero values, and the first, middle and last x labels."""
    x0, x1, y0, y1 = LEFT, W - RIGHT, H - BOTTOM, TOP
    out = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>",
           f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/>',
           f'<line class="grid" x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}"/>',
           f'<text class="tick" x="{x0 - 6}" y="{y1 + 4}" text-anchor="end">{escape(fmt(top))}</text>',
           f'<text class="tick" x="{x0 - 6}" y="{y0}" text-anchor="end">0</text>']
    n = len(labels)
    if n:
        step = (x1 - x0) / n
        for i, anchor in ((0, "start"), (n // 2, "middle"), (n - 1, "end")):
            x = x0 + step * (i + 0.5) if anchor == "middle" else (x0 if anchor == "start" else x1)
            out.append(f'<text class="tick" x="{x:.1f}" y="{H - 6}" text-anchor="{anchor}">{escape(labels[i])}</text>')
    return out


def bars(labels: Sequence[str], values: Sequence[float], *, title: str,
         fmt: Callable[[float], str] = _fmt, highlight: Sequence[float] | None = None) -> Markup:
    """One bar per bucket; `highlight` (e.g. errors) is drawn over the bar's foot in the alert colour."""
    top = max(values, default=0) or 1
    out = _frame(title, top, labels, fmt)
    n = len(values) or 1
    step = (W - RIGHT - LEFT) / n
    height = H - BOTTOM - TOP
    for i, v in enumerate(values):
        h = height * v / top
        x = LEFT + step * i + step * 0.12
        y = H - BOTTOM - h
        out.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{step * 0.76:.1f}" height="{h:.1f}">'
                   f"<title>{escape(labels[i])}: {escape(fmt(v))}</title></rect>")
        if highlight and highlight[i]:
            hh = height * highlight[i] / top
            out.append(f'<rect class="bar-alert" x="{x:.1f}" y="{H - BOTTOM - hh:.1f}" width="{step * 0.76:.1f}" '
                       f'height="{hh:.1f}"><title>{escape(labels[i])}: {escape(fmt(highlight[i]))} errors</title>'
                       "</rect>")
    out.append("</svg>")
    return Markup("".join(out))


def lines(labels: Sequence[str], series: dict[str, Sequence[float | None]], *, title: str,
          fmt: Callable[[float], str] = _fmt) -> Markup:
    """A line per series (gaps where a bucket has no value), with a legend below."""
    top = max((v for s in series.values() for v in s if v is not None), default=0) or 1
    out = _frame(title, top, labels, fmt)
    n = len(labels) or 1
    step = (W - RIGHT - LEFT) / n
    height = H - BOTTOM - TOP
    for k, (name, values) in enumerate(series.items()):
        pts = []
        for i, v in enumerate(values):
            if v is None:
                continue
            x, y = LEFT + step * (i + 0.5), H - BOTTOM - height * v / top
            pts.append(f"{x:.1f},{y:.1f}")
            out.append(f'<circle class="dot s{k}" cx="{x:.1f}" cy="{y:.1f}" r="2.5">'
                       f"<title>{escape(name)} {escape(labels[i])}: {escape(fmt(v))}</title></circle>")
        if len(pts) > 1:
            out.append(f'<polyline class="line s{k}" points="{" ".join(pts)}"/>')
    out.append("</svg>")
    legend = "".join(f'<span class="key s{k}">{escape(name)}</span>' for k, name in enumerate(series))
    return Markup("".join(out) + f'<div class="legend">{legend}</div>')
