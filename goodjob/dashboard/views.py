"""The pages: request -> core.admin reads -> template. Also the routes and the error pages.

Every read runs in one read-only transaction (admin.reading) so that a page's counts and rows agree
with each other, and with a statement timeout so that no page can hang on a pathological search.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from goodjob.core import admin
from goodjob.core.admin import COUNT_CAP, TABS, JobFilter, JobPage
from goodjob.core.errors import GoodJobError
from goodjob.core.storage.db import CONNECTION_ERRORS, PostgresError
from goodjob.dashboard import actions, views_extra
from goodjob.dashboard.charts import SERIES, render_svg
from goodjob.dashboard.filters import BadRequest, format_cursor, parse_job_query, parse_uuid
from goodjob.dashboard.live import event_stream
from goodjob.dashboard.render import dashboard_of, error_page, path_of, render

__all__ = ["exception_handlers", "refuse", "routes"]

STALE_HEARTBEAT_SECONDS = 30
OVERVIEW_QUEUE_CAP = 1000


def routes() -> list[BaseRoute]:
    return [
        Route("/", overview, name="overview"),
        Route("/jobs", jobs, name="jobs"),
        Route("/jobs/bulk", actions.bulk, methods=["POST"], name="jobs_bulk"),
        Route("/jobs/{job_id}", job, name="job"),
        Route("/jobs/{job_id}/{action}", actions.job_action, methods=["POST"], name="job_action"),
        Route("/queues", queues, name="queues"),
        Route("/queues/{action}", actions.queue_action, methods=["POST"], name="queue_action"),
        Route("/processes", processes, name="processes"),
        Route("/events", events, name="events"),
        *views_extra.routes(),  # cron, batches, pauses, labels
        Mount("/static", StaticFiles(packages=[("goodjob.dashboard", "static")]), name="static"),
    ]


async def overview(request: Request) -> Response:
    dashboard = dashboard_of(request)
    now = datetime.now(UTC)
    async with admin.reading(await dashboard.executor()) as conn:
        counts = await admin.count_tabs(conn, JobFilter(), now=now)
        estimates = await admin.state_estimates(conn) if counts["all"].capped else {}
        queue_rows = await admin.queues(conn, now=now, cap=OVERVIEW_QUEUE_CAP)
        process_rows = await admin.processes(conn)
        hour, day = await dashboard.throughput.charts(conn, now)
    return render(request, "overview.html", {
        "page": "overview", "tabs": TABS, "counts": counts, "estimates": _estimates(estimates),
        "queues": sorted(queue_rows, key=lambda q: -(q["latency"] or 0))[:10], "queue_count": len(queue_rows),
        "processes": process_rows, "charts": [(c, render_svg(c)) for c in (hour, day)], "series": SERIES,
    })


async def jobs(request: Request) -> Response:
    query = parse_job_query(request.query_params)
    dashboard = dashboard_of(request)
    now = datetime.now(UTC)
    notice = None
    async with admin.reading(await dashboard.executor()) as conn:
        try:
            async with conn.transaction():
                page = await admin.list_jobs(conn, query.filter, after=query.after, before=query.before,
                                             limit=query.limit, now=now)
        except PostgresError as err:
            if not admin.is_timeout(err):
                raise
            page = JobPage([], None, None)
            notice = ("The search took too long and was stopped. A search reads every job of the tab "
                      "until a page is full: narrow it with a state, queue or class, or search for a job id.")
        counts = await admin.count_tabs(conn, query.filter, now=now)
        queue_names = await admin.queue_names(conn)
    f = query.filter
    return render(request, "jobs.html", {
        "page": "jobs", "query": query, "filter": f, "tabs": TABS, "counts": counts, "jobs": page.jobs,
        "notice": notice, "cap": COUNT_CAP, "queue_names": queue_names,
        "next_url": _page_url(request, query, after=format_cursor(page.next)) if page.next else None,
        "prev_url": _page_url(request, query, before=format_cursor(page.prev)) if page.prev else None,
        "first_url": _page_url(request, query) if query.after or query.before else None,
        "bulk_actions": [a for a, statuses in admin.ACTIONS.items() if f.state == "all" or f.state in statuses],
    })


async def job(request: Request) -> Response:
    job_id = parse_uuid(request.path_params["job_id"])
    if job_id is None:
        raise HTTPException(404, f"{request.path_params['job_id'][:80]!r} is not a job id.")
    dashboard = dashboard_of(request)
    async with admin.reading(await dashboard.executor()) as conn:
        detail = await admin.job_detail(conn, job_id)
    if detail is None:
        raise HTTPException(404, f"There is no job {job_id}. It may have been deleted, or cleaned up "
                                 "after it finished (preserve_job_records).")
    available = [a for a, statuses in admin.ACTIONS.items() if detail["status"] in statuses]
    return render(request, "job.html", {"page": "jobs", "job": detail, "available": available})


async def queues(request: Request) -> Response:
    dashboard = dashboard_of(request)
    async with admin.reading(await dashboard.executor()) as conn:
        rows = await admin.queues(conn)
    return render(request, "queues.html", {"page": "queues", "queues": rows, "cap": COUNT_CAP})


async def processes(request: Request) -> Response:
    dashboard = dashboard_of(request)
    async with admin.reading(await dashboard.executor()) as conn:
        rows = await admin.processes(conn)
    return render(request, "processes.html", {"page": "processes", "processes": rows,
                                              "stale_after": STALE_HEARTBEAT_SECONDS})


async def events(request: Request) -> Response:
    dashboard = dashboard_of(request)
    await dashboard.executor()  # fail here (503 page) rather than inside the stream
    return event_stream(dashboard.hub())


# --- errors -------------------------------------------------------------------------------------

_HEADINGS = {400: "Bad request", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}


async def refuse(request: Request, reason: str) -> Response:
    """The closed-by-default gate's answer: 403, and how to open the dashboard."""
    return render(request, "forbidden.html", {"page": None, "reason": reason}, status_code=403)


def exception_handlers() -> dict[Any, Any]:
    async def bad_request(request: Request, exc: Exception) -> Response:
        return error_page(request, 400, "Bad request", str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (301, 302, 303, 307, 308) and exc.headers:
            return RedirectResponse(exc.headers["location"], exc.status_code)
        heading = _HEADINGS.get(exc.status_code, "Error")
        detail = exc.detail if exc.detail and exc.detail != heading else _default_message(exc.status_code)
        return error_page(request, exc.status_code, heading, str(detail))

    async def database_error(request: Request, exc: Exception) -> Response:
        return error_page(request, 503, "Database unavailable",
                          f"The dashboard could not read the job database ({type(exc).__name__}: {exc}). "
                          "Check that Postgres is reachable and migrated (goodjob migrate).")

    handlers: dict[Any, Any] = {BadRequest: bad_request, HTTPException: http_error, PostgresError: database_error,
                                GoodJobError: database_error}
    handlers.update(dict.fromkeys(CONNECTION_ERRORS, database_error))
    return handlers


def _default_message(status_code: int) -> str:
    if status_code == 404:
        return "There is no such page in the dashboard."
    if status_code == 405:
        return "This address does not accept that method. Actions are buttons on the pages."
    return "The request could not be answered."


def _page_url(request: Request, query: Any, **cursor: str) -> str:
    return path_of(request.url_for("jobs").replace_query_params(**query.params(**cursor)))


def _estimates(raw: dict[str, int]) -> dict[str, int]:
    """Planner estimates per tab where a tab is one state; "all" is their sum."""
    out = {state: n for state, n in raw.items() if state in ("running", "succeeded", "discarded")}
    if raw:
        out["all"] = sum(raw.values())
    return out
