"""Small inline SVG charts beside charts.py's throughput bars: jobs per queue and state (overview)
and executions per hour (Performance page). Server-side, no script, CSP-safe."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from goodjob.dashboard.charts import Chart

__all__ = ["QUEUE_STATES", "hourly_chart", "queue_state_svg"]

#: The overview's per-queue chart: state -> the queue row's figure.
QUEUE_STATES = (("queued", "waiting"), ("scheduled", "scheduled"), ("running", "running"))


def queue_state_svg(queues: Sequence[dict[str, Any]], *, width: int = 1140, row_h: int = 20) -> Markup:
    """One horizontal bar per queue, split by state; the scale is the busiest queue."""
    left, right = 150, 70
    peak = max((sum(int(q[k] or 0) for _, k in QUEUE_STATES) for q in queues), default=0) or 1
    height = row_h * max(len(queues), 1) + 6
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Jobs per queue by state">']
    for i, q in enumerate(queues):
        y = 3 + i * row_h
        total = sum(int(q[k] or 0) for _, k in QUEUE_STATES)
        name = str(q["name"])
        label = name if len(name) <= 22 else name[:21] + "…"
        parts.append(f'<g><title>{escape(name)}: ' + ", ".join(
            f"{int(q[k] or 0):,}{'+' if q.get('capped') and k == 'waiting' else ''} {s}" for s, k in QUEUE_STATES)
            + "</title>")
        text_y = y + row_h * 0.65
        parts.append(f'<text class="tick" x="{left - 8}" y="{text_y:.1f}" text-anchor="end">{escape(label)}</text>')
        x = float(left)
        for state, key in QUEUE_STATES:
            w = (width - left - right) * int(q[key] or 0) / peak
            if w > 0:
                parts.append(f'<rect class="q-{state}" x="{x:.1f}" y="{y + 3}" '
                             f'width="{max(w, 1):.1f}" height="{row_h - 6}"/>')
                x += w
        parts.append(f'<text class="tick" x="{x + 6:.1f}" y="{text_y:.1f}">{total:,}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def hourly_chart(hourly: Sequence[tuple[datetime, int, int]], title: str, hours: int = 1) -> Chart:
    """Executions per hour (or per day) as charts.Chart (succeeded / failed), for charts.render_svg."""
    minutes = 60 * hours
    starts = [h for h, _, _ in hourly]
    values = [{"succeeded": (n - f) / minutes, "retried": f / minutes, "discarded": 0.0} for _, n, f in hourly]
    totals = {"succeeded": sum(n - f for _, n, f in hourly), "retried": sum(f for _, _, f in hourly), "discarded": 0}
    return Chart(title, minutes, starts, values, totals)
