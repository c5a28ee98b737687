"""Queues: waiting counts and latency per queue, and pausing or resuming one."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from goodjob.core import admin, insights
from goodjob.core.admin import COUNT_CAP
from goodjob.dashboard.filters import (
    BadRequest,
    safe_next,
)
from goodjob.dashboard.forms import read_form, text_of
from goodjob.dashboard.render import (
    dashboard_of,
    flash,
    path_of,
    render,
)


async def queues(request: Request) -> Response:
    dashboard = dashboard_of(request)
    async with admin.reading(await dashboard.executor()) as conn:
        rows = await admin.queues(conn)
        await insights.settle_queue_sizes(conn, rows, COUNT_CAP)
        figures = await insights.queue_figures(conn)
    return render(request, "queues.html", {"page": "queues", "queues": rows, "cap": COUNT_CAP, "figures": figures})


async def queue_action(request: Request) -> Response:
    form = await read_form(request)
    action = request.path_params["action"]
    if action not in ("pause", "resume"):
        raise HTTPException(404)
    name = text_of(form.get("queue")).strip()
    if not name or len(name) > 200:
        raise BadRequest("queue must be a queue name (1 to 200 characters)")
    dashboard = dashboard_of(request)
    await admin.set_queue_paused(await dashboard.executor(), name, action == "pause")
    flash(request, f"Queue {name} {'paused: workers take no new jobs from it' if action == 'pause' else 'resumed'}.")
    target = safe_next(form.get("next"), request.scope.get("root_path", ""), path_of(request.url_for("queues")))
    return RedirectResponse(target, status_code=303)
