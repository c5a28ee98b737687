"""The overview page: jobs per state (exact, or marked estimates past the count cap), jobs per queue
and state, the busiest queues, processes and throughput charts."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from goodjob.core import admin, insights
from goodjob.core.admin import TABS, JobFilter
from goodjob.dashboard.bars import QUEUE_STATES, queue_state_svg
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
        sizes = await insights.tab_sizes(conn, JobFilter(), counts, now=now)
        queue_rows = await admin.queues(conn, now=now, cap=OVERVIEW_QUEUE_CAP)
        await insights.settle_queue_sizes(conn, queue_rows, OVERVIEW_QUEUE_CAP, now=now)
        process_rows = await admin.processes(conn)
        hour, day = await dashboard.throughput.charts(conn, now)
    busiest = sorted(queue_rows, key=lambda q: -(q["waiting"] + q["scheduled"] + q["running"]))[:12]
    return render(request, "overview.html", {
        "page": "overview", "tabs": TABS, "counts": counts, "sizes": sizes,
        "queues": sorted(queue_rows, key=lambda q: -(q["latency"] or 0))[:10], "queue_count": len(queue_rows),
        "processes": process_rows, "charts": [(c, render_svg(c)) for c in (hour, day)], "series": SERIES,
        "queue_chart": queue_state_svg(busiest) if busiest else None, "queue_states": QUEUE_STATES,
        "paused_count": sum(1 for q in queue_rows if q["paused"]),
    })
