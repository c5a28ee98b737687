"""Cron: the entries the workers schedule (as their process rows publish them; this process's own
configuration when no cron worker runs), with arguments, timezone, next and last runs and history;
enabling, disabling and "enqueue now" (confirmed)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from goodjob.core import admin, insights
from goodjob.core.config import current_config
from goodjob.core.errors import ConfigurationError, GoodJobError
from goodjob.core.features import cron
from goodjob.dashboard.calls import call_text
from goodjob.dashboard.filters import (
    safe_next,
)
from goodjob.dashboard.forms import MAX_NAME, confirm_page, read_form
from goodjob.dashboard.render import (
    dashboard_of,
    flash,
    path_of,
    render,
    short_id,
)


def _own_entries() -> tuple[list[cron.CronEntry], str | None]:
    try:
        return cron.entries_from_config(current_config()), None
    except ConfigurationError as err:
        return [], str(err)


async def cron_page(request: Request) -> Response:
    own, problem = _own_entries()
    async with admin.reading(await dashboard_of(request).executor()) as conn:
        published = await insights.published_cron(conn, own)
    for e in published.entries:
        e["call"] = call_text(e["job_class"], _json(e["args"]), _json(e["kwargs"]), limit=120)
    return render(request, "cron.html", {"page": "cron", "entries": published.entries, "source": published.source,
                                         "problem": published.problem or problem})


def _json(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


async def cron_action(request: Request) -> Response:
    form = await read_form(request)
    key, action = request.path_params["key"], request.path_params["action"]
    if action not in ("enable", "disable", "enqueue"):
        raise HTTPException(404)
    ex = await dashboard_of(request).executor()
    async with admin.reading(ex) as conn:
        published = await insights.published_cron(conn, _own_entries()[0], history=0)
    found = next((e for e in published.entries if e["key"] == key), None)
    if found is None:
        raise HTTPException(404, f"There is no cron entry {key[:MAX_NAME]!r}: no running worker publishes one, "
                                 "and this process's configuration has none.")
    target = safe_next(form.get("next"), request.scope.get("root_path", ""), path_of(request.url_for("cron")))
    if action == "enqueue":
        if form.get("confirmed") != "1":
            return confirm_page(request, form, f"Enqueue cron entry {key} ({found['job_class']}) now, once, "
                                               "outside its schedule?", target)
        if found["dynamic"]:
            flash(request, f"Cron entry {key} computes its {', '.join(found['dynamic'])} at each run in the worker; "
                           "it cannot be enqueued from here.", "error")
            return RedirectResponse(target, status_code=303)
        try:
            result = await cron.enqueue_now(ex, found["entry"])
        except GoodJobError as err:
            flash(request, f"Cron entry {key} could not be enqueued from this process: {err}", "error")
            return RedirectResponse(target, status_code=303)
        if result:
            flash(request, f"Cron entry {key} enqueued now: job {short_id(result.id)}.")
        else:
            flash(request, f"Cron entry {key}: the job refused the enqueue ({result.reason}).", "error")
    else:
        await cron.set_enabled(ex, key, action == "enable")
        flash(request, f"Cron entry {key} {action}d for every process.")
    return RedirectResponse(target, status_code=303)
