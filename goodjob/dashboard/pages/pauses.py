"""Pauses: paused queues and job classes, pausing and resuming them."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from goodjob.core import admin, insights, registry
from goodjob.core.features import pauses
from goodjob.dashboard.filters import (
    BadRequest,
    safe_next,
)
from goodjob.dashboard.forms import confirm_page, form_name, read_form
from goodjob.dashboard.render import (
    dashboard_of,
    flash,
    path_of,
    render,
)


async def pauses_page(request: Request) -> Response:
    async with admin.reading(await dashboard_of(request).executor()) as conn:
        paused = await pauses.paused(conn)
    return render(request, "pauses.html", {"page": "pauses", "paused": paused})


async def pause_action(request: Request) -> Response:
    form = await read_form(request)
    action = request.path_params["action"]
    if action not in ("pause", "resume"):
        raise HTTPException(404)
    queue, job_class = form_name(form.get("queue")), form_name(form.get("job_class"))
    if (queue is None) == (job_class is None):
        raise BadRequest("give one of queue or job_class (1 to 200 characters)")
    target = safe_next(form.get("next"), request.scope.get("root_path", ""), path_of(request.url_for("pauses")))
    ex = await dashboard_of(request).executor()
    if job_class is not None and action == "pause" and form.get("confirmed") != "1":
        # A typo pauses nothing and says nothing: ask when no worker has run, and this process does
        # not know, a class of that name.
        async with admin.reading(ex) as conn:
            known = await insights.known_job_classes(conn) | set(registry.registered())
        if job_class not in known:
            return confirm_page(request, form, f"No job class {job_class!r} is known: none ran this week and "
                                               "none is registered here. Pause it anyway?", target)
    await pauses.set_paused(ex, queue=queue, job_class=job_class, paused_=action == "pause")
    what = f"Queue {queue}" if queue else f"Job class {job_class}"
    flash(request, f"{what} {'paused: workers start none of its jobs' if action == 'pause' else 'resumed'}.")
    return RedirectResponse(target, status_code=303)
