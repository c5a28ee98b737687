"""Performance: executions, failure rate, p50/p95/max duration and throughput per job class and per
queue over 1 h, 24 h or 7 d, sortable; read from the hourly statistics the workers record."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from goodjob.core import admin, insights, stats
from goodjob.dashboard.bars import hourly_chart
from goodjob.dashboard.charts import render_svg
from goodjob.dashboard.filters import BadRequest
from goodjob.dashboard.render import dashboard_of, render

COLUMNS = (("name", "Name"), ("executions", "Executions"), ("failure_rate", "Failure rate"), ("p50", "p50"),
           ("p95", "p95"), ("max", "Max"), ("per_minute", "Per minute"))


async def performance_page(request: Request) -> Response:
    window = request.query_params.get("window") or "24h"
    if window not in stats.WINDOWS:
        raise BadRequest(f"window={window[:20]!r}: use one of {', '.join(stats.WINDOWS)}")
    sort = request.query_params.get("sort") or "executions"
    if sort not in stats.SORTS:
        raise BadRequest(f"sort={sort[:20]!r}: use one of {', '.join(stats.SORTS)}")
    direction = request.query_params.get("dir") or ("asc" if sort == "name" else "desc")
    if direction not in ("asc", "desc"):
        raise BadRequest(f"dir={direction[:20]!r}: use asc or desc")
    now = datetime.now(UTC)
    async with admin.reading(await dashboard_of(request).executor()) as conn:
        perf = await insights.performance(conn, window, now=now, sort=sort, descending=direction == "desc")
    chart = hourly_chart(perf.hourly, "Executions per day" if perf.span == 24 else "Executions per hour", perf.span)
    return render(request, "performance.html", {
        "page": "performance", "perf": perf, "windows": list(stats.WINDOWS), "window": window, "sort": sort,
        "direction": direction, "columns": COLUMNS, "chart": chart, "chart_svg": render_svg(chart),
    })
