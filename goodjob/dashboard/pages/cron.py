"""Cron: the configured entries, their next and last runs, enabling, disabling and enqueueing now."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from goodjob.core import admin
from goodjob.core.config import current_config
from goodjob.core.errors import ConfigurationError
from goodjob.core.features import cron
from goodjob.dashboard.filters import (
    safe_next,
)
from goodjob.dashboard.forms import MAX_NAME, read_form
from goodjob.dashboard.render import (
    dashboard_of,
    flash,
    path_of,
    render,
    short_id,
)


def _entries() -> tuple[list[cron.CronEntry], str | None]:
    try:
        return cron.entries_from_config(current_config()), None
    except ConfigurationError as err:
        return [], str(err)


async def cron_page(request: Request) -> Response:
    entries, problem = _entries()
    async with admin.reading(await dashboard_of(request).executor()) as conn:
        rows = await cron.status(conn, entries) if entries else []
    return render(request, "cron.html", {"page": "cron", "entries": rows, "problem": problem})


async def cron_action(request: Request) -> Response:
    form = await read_form(request)
    key, action = request.path_params["key"], request.path_params["action"]
    if action not in ("enable", "disable", "enqueue"):
        raise HTTPException(404)
    entry = next((e for e in _entries()[0] if e.key == key), None)
    if entry is None:
        raise HTTPException(404, f"There is no cron entry {key[:MAX_NAME]!r} in this process's configuration.")
    ex = await dashboard_of(request).executor()
    if action == "enqueue":
        result = await cron.enqueue_now(ex, entry)
        if result:
            flash(request, f"Cron entry {key} enqueued now: job {short_id(result.id)}.")
        else:
            flash(request, f"Cron entry {key}: the job refused the enqueue ({result.reason}).", "error")
    else:
        await cron.set_enabled(ex, key, action == "enable")
        flash(request, f"Cron entry {key} {action}d for every process.")
    target = safe_next(form.get("next"), request.scope.get("root_path", ""), path_of(request.url_for("cron")))
    return RedirectResponse(target, status_code=303)
