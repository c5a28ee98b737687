"""Pages for cron, batches, pauses and labels (issue 8), in the patterns of views.py and actions.py:
reads in one read-only transaction, POST forms with a CSRF token answered with 303 and a flash.

They read through goodjob.core.features.cron / batches / pauses / labels, which (like core.admin) are store
and SQL only: the dashboard still never touches the worker engine.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from goodjob.core import admin
from goodjob.core.config import current_config
from goodjob.core.errors import ConfigurationError
from goodjob.core.features import batches, cron, labels, pauses
from goodjob.dashboard.actions import _form
from goodjob.dashboard.filters import BadRequest, parse_uuid, safe_next
from goodjob.dashboard.render import dashboard_of, flash, path_of, render, short_id

__all__ = ["routes"]

PAGE = 50
MAX_NAME = 200


def routes() -> list[BaseRoute]:
    return [
        Route("/cron", cron_page, name="cron"),
        Route("/cron/{key}/{action}", cron_action, methods=["POST"], name="cron_action"),
        Route("/batches", batches_page, name="batches"),
        Route("/batches/{batch_id}", batch_page, name="batch"),
        Route("/batches/{batch_id}/retry", batch_retry, methods=["POST"], name="batch_retry"),
        Route("/labels", labels_page, name="labels"),
        Route("/pauses", pauses_page, name="pauses"),
        Route("/pauses/{action}", pause_action, methods=["POST"], name="pause_action"),
    ]


# --- cron -----------------------------------------------------------------------------------------


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
    form = await _form(request)
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


# --- batches --------------------------------------------------------------------------------------


async def batches_page(request: Request) -> Response:
    after = _uuid_param(request, "after")
    async with admin.reading(await dashboard_of(request).executor()) as conn:
        rows = await batches.list_batches(conn, after=after, limit=PAGE + 1)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    next_url = path_of(request.url_for("batches").include_query_params(after=str(rows[-1].id))) if more else None
    return render(request, "batches.html", {"page": "batches", "batches": rows, "next_url": next_url,
                                            "first_url": path_of(request.url_for("batches")) if after else None})


async def batch_page(request: Request) -> Response:
    batch_id = _batch_id(request)
    after = _uuid_param(request, "after")
    async with admin.reading(await dashboard_of(request).executor()) as conn:
        record = await batches.find(conn, batch_id)
        jobs = await batches.jobs(conn, batch_id, after=after, limit=PAGE + 1) if record else []
    if record is None:
        raise HTTPException(404, f"There is no batch {batch_id}. Finished batches are cleaned up with their jobs.")
    now = datetime.now(UTC)
    for job in jobs:
        job["status"] = admin.job_status(job["state"], job["scheduled_at"], job["error"], now)
    more = len(jobs) > PAGE
    jobs = jobs[:PAGE]
    here = request.url_for("batch", batch_id=str(batch_id))
    next_url = path_of(here.include_query_params(after=str(jobs[-1]["id"]))) if more else None
    return render(request, "batch.html", {
        "page": "batches", "batch": record, "jobs": jobs, "next_url": next_url,
        "first_url": path_of(here) if after else None,
    })


async def batch_retry(request: Request) -> Response:
    form = await _form(request)
    batch_id = _batch_id(request)
    ex = await dashboard_of(request).executor()
    if await batches.find(ex, batch_id) is None:
        raise HTTPException(404, f"There is no batch {batch_id}.")
    retried = await batches.retry(ex, batch_id)
    if retried:
        flash(request, f"Batch {short_id(batch_id)}: {retried} discarded job{'s' if retried != 1 else ''} "
                       "queued again; the batch is open until they finish.")
    else:
        flash(request, f"Batch {short_id(batch_id)} has no discarded jobs. Nothing changed.", "error")
    target = safe_next(form.get("next"), request.scope.get("root_path", ""),
                       path_of(request.url_for("batch", batch_id=str(batch_id))))
    return RedirectResponse(target, status_code=303)


# --- pauses ---------------------------------------------------------------------------------------


async def pauses_page(request: Request) -> Response:
    async with admin.reading(await dashboard_of(request).executor()) as conn:
        paused = await pauses.paused(conn)
    return render(request, "pauses.html", {"page": "queues", "paused": paused})


async def pause_action(request: Request) -> Response:
    form = await _form(request)
    action = request.path_params["action"]
    if action not in ("pause", "resume"):
        raise HTTPException(404)
    queue, job_class = _name(form.get("queue")), _name(form.get("job_class"))
    if (queue is None) == (job_class is None):
        raise BadRequest("give one of queue or job_class (1 to 200 characters)")
    await pauses.set_paused(await dashboard_of(request).executor(), queue=queue, job_class=job_class,
                            paused_=action == "pause")
    what = f"Queue {queue}" if queue else f"Job class {job_class}"
    flash(request, f"{what} {'paused: workers start none of its jobs' if action == 'pause' else 'resumed'}.")
    target = safe_next(form.get("next"), request.scope.get("root_path", ""), path_of(request.url_for("pauses")))
    return RedirectResponse(target, status_code=303)


# --- labels ---------------------------------------------------------------------------------------


async def labels_page(request: Request) -> Response:
    label = (request.query_params.get("label") or "").strip()[:MAX_NAME] or None
    state = request.query_params.get("state") or None
    if state is not None and state not in labels.STATES:
        raise BadRequest(f"state={state[:40]!r}: expected one of {', '.join(labels.STATES)}")
    cursor = _label_cursor(request.query_params.get("after"))
    jobs: list[dict[str, Any]] = []
    if label is not None:
        async with admin.reading(await dashboard_of(request).executor()) as conn:
            jobs = await labels.jobs_with_label(conn, label, state=state, after=cursor, limit=PAGE + 1)
    now = datetime.now(UTC)
    for job in jobs:
        job["status"] = admin.job_status(job["state"], job["scheduled_at"], job["error"], now)
    more = len(jobs) > PAGE
    jobs = jobs[:PAGE]
    base = {"label": label, "state": state}
    next_url = None
    if more:
        last = jobs[-1]
        after = f"{last['created_at'].isoformat()}_{last['id']}"
        next_url = path_of(request.url_for("labels").include_query_params(**_present(base), after=after))
    return render(request, "labels.html", {
        "page": "jobs", "label": label, "state": state, "states": labels.STATES, "jobs": jobs,
        "next_url": next_url, "first_url": path_of(request.url_for("labels").include_query_params(**_present(base)))
        if cursor else None,
    })


def _label_cursor(raw: str | None) -> tuple[datetime, UUID] | None:
    if not raw:
        return None
    at, _, job_id = raw.rpartition("_")
    try:
        parsed = datetime.fromisoformat(at)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)), UUID(job_id)
    except ValueError:
        raise BadRequest(f"after={raw[:80]!r} is not a page cursor") from None


# --- helpers --------------------------------------------------------------------------------------


def _batch_id(request: Request) -> UUID:
    batch_id = parse_uuid(request.path_params["batch_id"])
    if batch_id is None:
        raise HTTPException(404, f"{request.path_params['batch_id'][:80]!r} is not a batch id.")
    return batch_id


def _uuid_param(request: Request, name: str) -> UUID | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    value = parse_uuid(raw)
    if value is None:
        raise BadRequest(f"{name}={raw[:80]!r} is not an id")
    return value


def _name(value: object) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > MAX_NAME:
        raise BadRequest(f"names are at most {MAX_NAME} characters")
    return text or None


def _present(values: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in values.items() if v}
