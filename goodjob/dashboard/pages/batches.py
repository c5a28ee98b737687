"""Batches: the list, one batch with its jobs, and retrying a batch's discarded jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from goodjob.core import admin, insights
from goodjob.core.features import batches
from goodjob.dashboard.filters import (
    parse_uuid,
    safe_next,
)
from goodjob.dashboard.forms import PAGE_SIZE, read_form, uuid_param
from goodjob.dashboard.render import (
    dashboard_of,
    flash,
    path_of,
    render,
    short_id,
)


async def batches_page(request: Request) -> Response:
    after = uuid_param(request, "after")
    async with admin.reading(await dashboard_of(request).executor()) as conn:
        rows = await batches.list_batches(conn, after=after, limit=PAGE_SIZE + 1)
        status = await insights.batch_labels(conn, rows)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_url = path_of(request.url_for("batches").include_query_params(after=str(rows[-1].id))) if more else None
    return render(request, "batches.html", {"page": "batches", "batches": rows, "next_url": next_url, "status": status,
                                            "first_url": path_of(request.url_for("batches")) if after else None})


async def batch_page(request: Request) -> Response:
    batch_id = _batch_id(request)
    after = uuid_param(request, "after")
    async with admin.reading(await dashboard_of(request).executor()) as conn:
        record = await batches.find(conn, batch_id)
        jobs = await batches.jobs(conn, batch_id, after=after, limit=PAGE_SIZE + 1) if record else []
        status = (await insights.batch_labels(conn, [record]))[record.id] if record else ""
    if record is None:
        raise HTTPException(404, f"There is no batch {batch_id}. Finished batches are cleaned up with their jobs.")
    now = datetime.now(UTC)
    for job in jobs:
        job["status"] = admin.job_status(job["state"], job["scheduled_at"], job["error"], now)
    more = len(jobs) > PAGE_SIZE
    jobs = jobs[:PAGE_SIZE]
    here = request.url_for("batch", batch_id=str(batch_id))
    next_url = path_of(here.include_query_params(after=str(jobs[-1]["id"]))) if more else None
    return render(request, "batch.html", {
        "page": "batches", "batch": record, "jobs": jobs, "next_url": next_url, "status": status,
        "first_url": path_of(here) if after else None,
    })


async def batch_retry(request: Request) -> Response:
    form = await read_form(request)
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


def _batch_id(request: Request) -> UUID:
    batch_id = parse_uuid(request.path_params["batch_id"])
    if batch_id is None:
        raise HTTPException(404, f"{request.path_params['batch_id'][:80]!r} is not a batch id.")
    return batch_id
