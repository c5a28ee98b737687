"""Labels: jobs carrying a label, by state, with keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from goodjob.core import admin
from goodjob.core.features import labels
from goodjob.dashboard.filters import (
    BadRequest,
)
from goodjob.dashboard.forms import MAX_NAME, PAGE_SIZE, present
from goodjob.dashboard.render import (
    dashboard_of,
    path_of,
    render,
)


async def labels_page(request: Request) -> Response:
    label = (request.query_params.get("label") or "").strip()[:MAX_NAME] or None
    state = request.query_params.get("state") or None
    if state is not None and state not in labels.STATES:
        raise BadRequest(f"state={state[:40]!r}: expected one of {', '.join(labels.STATES)}")
    cursor = _label_cursor(request.query_params.get("after"))
    jobs: list[dict[str, Any]] = []
    if label is not None:
        async with admin.reading(await dashboard_of(request).executor()) as conn:
            jobs = await labels.jobs_with_label(conn, label, state=state, after=cursor, limit=PAGE_SIZE + 1)
    now = datetime.now(UTC)
    for job in jobs:
        job["status"] = admin.job_status(job["state"], job["scheduled_at"], job["error"], now)
    more = len(jobs) > PAGE_SIZE
    jobs = jobs[:PAGE_SIZE]
    base = {"label": label, "state": state}
    next_url = None
    if more:
        last = jobs[-1]
        after = f"{last['created_at'].isoformat()}_{last['id']}"
        next_url = path_of(request.url_for("labels").include_query_params(**present(base), after=after))
    return render(request, "labels.html", {
        "page": "jobs", "label": label, "state": state, "states": labels.STATES, "jobs": jobs,
        "next_url": next_url, "first_url": path_of(request.url_for("labels").include_query_params(**present(base)))
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
