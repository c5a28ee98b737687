"""The overview page: counts per state, the busiest queues, processes and throughput charts."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from goodjob.core import admin
from goodjob.core.admin import TABS, JobFilter
from goodjob.dashboard.charts import SERIES, render_svg
from goodjob.dashboard.render import (
    dashboard_of,
    render,
)

OVERVIEW_QUEUE_CAP = 1000


async def overview(request: Request) -> Response:
    dashboard = dashboard_of(request)
    now = datetime.now(UTC)
    async with admin.reading(await dashboard.executor()) as conn:
        counts = await admin.count_tabs(conn, JobFilter(), now=now)
        estimates = await admin.state_estimates(conn) if counts["all"].capped else {}
        queue_rows = await admin.queues(conn, now=now, cap=OVERVIEW_QUEUE_CAP)
        process_rows = await admin.processes(conn)
        hour, day = await dashboard.throughput.charts(conn, now)
    return render(request, "overview.html", {
        "page": "overview", "tabs": TABS, "counts": counts, "estimates": _estimates(estimates),
        "queues": sorted(queue_rows, key=lambda q: -(q["latency"] or 0))[:10], "queue_count": len(queue_rows),
        "processes": process_rows, "charts": [(c, render_svg(c)) for c in (hour, day)], "series": SERIES,
    })


def _estimates(raw: dict[str, int]) -> dict[str, int]:
    """Planner estimates per tab where a tab is one state; "all" is their sum."""
    out = {state: n for state, n in raw.items() if state in ("running", "succeeded", "discarded")}
    if raw:
        out["all"] = sum(raw.values())
    return out
