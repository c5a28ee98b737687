"""Processes: every worker process with its heartbeat, queues and threads."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from goodjob.core import admin
from goodjob.dashboard.render import (
    dashboard_of,
    render,
)

STALE_HEARTBEAT_SECONDS = 30


async def processes(request: Request) -> Response:
    dashboard = dashboard_of(request)
    async with admin.reading(await dashboard.executor()) as conn:
        rows = await admin.processes(conn)
    return render(request, "processes.html", {"page": "processes", "processes": rows,
                                              "stale_after": STALE_HEARTBEAT_SECONDS})
