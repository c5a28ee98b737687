"""Jobs: the filtered list with keyset pages, one job's page, and the job actions (one job or a
filter's worth). The state check happens in the UPDATE itself (see core.admin), so a job that
changed meanwhile is reported, and left alone.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from goodjob import jobs as job_api
from goodjob.core import admin, insights
from goodjob.core.admin import COUNT_CAP, SEARCH_WINDOW, TABS, JobPage
from goodjob.core.errors import GoodJobError, JobNotFoundError, JobStateError
from goodjob.core.operations import actions
from goodjob.core.operations.records import Filter
from goodjob.core.progress import Meter
from goodjob.core.storage.db import PostgresError
from goodjob.dashboard.filters import (
    ACTIONS,
    PAGE_SIZES,
    BadRequest,
    format_cursor,
    parse_action,
    parse_ids,
    parse_job_query,
    parse_time,
    parse_uuid,
    safe_next,
)
from goodjob.dashboard.forms import APPLIES, confirm_page, describe_filter, flash_result, jobs_text, read_form, text_of
from goodjob.dashboard.render import (
    ACTION_LABELS,
    ACTION_PAST,
    dashboard_of,
    flash,
    path_of,
    render,
    short_id,
)

log = logging.getLogger("goodjob.dashboard")

#: Single-job actions that need a confirmation (bulk actions always do).
CONFIRM = ("discard", "delete", "cancel")
#: The exact count a bulk confirmation shows may take this long (it is asked for once, on purpose).
EXACT_COUNT_MS = 15_000


async def jobs(request: Request) -> Response:
    query = parse_job_query(request.query_params)
    dashboard = dashboard_of(request)
    now = datetime.now(UTC)
    notice = None
    async with admin.reading(await dashboard.executor()) as conn:
        try:
            async with conn.transaction():
                page = await admin.list_jobs(conn, query.filter, after=query.after, before=query.before,
                                             limit=query.limit, now=now, search_window=SEARCH_WINDOW)
        except PostgresError as err:
            if not admin.is_timeout(err):
                raise
            page = JobPage([], None, None)
            notice = ("The search took too long and was stopped. A search reads every job of the tab "
                      "until a page is full: narrow it with a state, queue or class, or search for a job id.")
        counts = await admin.count_tabs(conn, query.filter, now=now)
        sizes = await insights.tab_sizes(conn, query.filter, counts, now=now)
        queue_choices = await insights.filter_choices(conn, "queue_name", extra=await admin.queue_names(conn))
        class_choices = await insights.filter_choices(conn, "job_class",
                                                      extra=sorted(await insights.known_job_classes(conn, now=now)))
    f = query.filter
    if page.searched:
        notice = _bounded_notice(query, page)
    next_url = _page_url(request, query, after=format_cursor(page.next)) if page.next else None
    prev_url = _page_url(request, query, before=format_cursor(page.prev)) if page.prev else None
    return render(request, "jobs.html", {
        "page": "jobs", "query": query, "filter": f, "tabs": TABS, "counts": counts, "jobs": page.jobs,
        "notice": notice, "cap": COUNT_CAP, "queue_choices": queue_choices, "class_choices": class_choices,
        "sizes": sizes, "page_sizes": PAGE_SIZES, "live_hold": f.filtered, "searched": page.searched,
        "order_url": _page_url(request, query, order="desc" if f.ascending else "asc"),
        "next_url": next_url, "prev_url": prev_url,
        # A bounded search continues in the direction it read.
        "search_more_url": (prev_url if query.before else next_url) if page.searched else None,
        "first_url": _page_url(request, query) if query.after or query.before else None,
        "bulk_actions": [a for a, statuses in ACTIONS.items() if f.state == "all" or f.state in statuses],
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
    available = [a for a, statuses in ACTIONS.items() if detail["status"] in statuses]
    if detail["status"] == "running":
        available.append("cancel")
    return render(request, "job.html", {"page": "jobs", "job": detail, "available": available})


async def _cancel(request: Request, job_id: Any, target: str) -> Response:
    try:
        await job_api.cancel(job_id, database=await dashboard_of(request).executor())
    except GoodJobError as err:
        flash(request, f"Job {short_id(job_id)} was not cancelled: {err}", "error")
    else:
        flash(request, f"Job {short_id(job_id)}: cancel requested; its worker stops it and discards it.")
    return RedirectResponse(target, status_code=303)


def _bounded_notice(query: Any, page: JobPage) -> str:
    """What a bounded search read, said plainly: which jobs were searched, and that older ones were not."""
    f = query.filter
    which = ("first" if f.ascending else "newest") if query.after is None and query.before is None else "next"
    where = "of all states" if f.state == "all" else "of this tab"
    forward = query.before is None
    beyond = {(True, True): "later", (True, False): "older", (False, True): "sooner", (False, False): "newer"}[
        (forward, f.ascending)]
    return (f"Searched only the {which} {page.searched:,} jobs {where}: {len(page.jobs)} match. A text search "
            f"reads jobs one by one, so it stops there and {beyond} jobs were not searched; “Search the next "
            f"{page.searched:,}” continues (or narrow it by queue, class or label, or search for a job id).")


def _page_url(request: Request, query: Any, **cursor: str) -> str:
    return path_of(request.url_for("jobs").replace_query_params(**query.params(**cursor)))


async def job_action(request: Request) -> Response:
    form = await read_form(request)
    action = request.path_params["action"]
    job_id = parse_uuid(request.path_params["job_id"])
    if (action not in ACTIONS and action != "cancel") or job_id is None:
        raise HTTPException(404)
    job_path = path_of(request.url_for("job", job_id=str(job_id)))
    default = path_of(request.url_for("jobs")) if action == "delete" else job_path
    target = safe_next(form.get("next"), request.scope.get("root_path", ""), default)
    if action in CONFIRM and form.get("confirmed") != "1":
        return confirm_page(request, form, f"{ACTION_LABELS[action]} job {job_id}?", target)
    if action == "cancel":
        return await _cancel(request, job_id, target)
    dashboard = dashboard_of(request)
    ex = await dashboard.executor()
    try:
        if action == "run_now":  # reschedule to now, for jobs waiting for a later time only
            await actions.apply_one(ex, action, job_id)
        else:
            await getattr(job_api, action)(job_id, database=ex)
    except JobNotFoundError:
        raise HTTPException(404, f"There is no job {job_id}; nothing changed.") from None
    except JobStateError as err:
        status = getattr(err, "state", "in another state")
        flash(request, f"Job {short_id(job_id)} is {status}: {APPLIES[action]}. Nothing changed.", "error")
    else:
        flash(request, f"Job {short_id(job_id)} {ACTION_PAST[action]}.")
        if action == "delete" and target.startswith(job_path):
            target = path_of(request.url_for("jobs"))
    return RedirectResponse(target, status_code=303)


async def bulk(request: Request) -> Response:
    form = await read_form(request)
    action, _, scope = str(form.get("do") or "").partition(":")
    action = parse_action(action)
    if scope not in ("selected", "all"):
        raise BadRequest(f"do={form.get('do')!r}: expected <action>:selected or <action>:all")
    query = parse_job_query(form)
    target = safe_next(form.get("next"), request.scope.get("root_path", ""),
                       path_of(request.url_for("jobs").include_query_params(**query.params())))
    dashboard = dashboard_of(request)
    label = ACTION_LABELS[action]
    if scope == "selected":
        ids = parse_ids(form)
        if not ids:
            flash(request, "Select one or more jobs first (or use the \"all matching\" button).", "error")
            return RedirectResponse(target, status_code=303)
        if form.get("confirmed") != "1":
            return confirm_page(request, form, f"{label} {jobs_text(len(ids))} (the selected ones)?", target)
        result = await actions.apply(await dashboard.executor(), action, ids)
    else:
        until = parse_time(text_of(form.get("until")), "until")
        if form.get("confirmed") != "1" or until is None:
            # The one confirmation (no script dialog before it): the exact number, counted now, of the
            # jobs created up to this moment that the action will consider.
            until = datetime.now(UTC)
            n: int | None
            try:
                async with admin.reading(await dashboard.executor(), timeout_ms=EXACT_COUNT_MS) as conn:
                    n = await insights.exact_count(conn, query.filter, created_before=until)
            except PostgresError as err:
                if not admin.is_timeout(err):
                    raise
                n = None
            amount = (f"every job (too many to count in {EXACT_COUNT_MS // 1000} s)" if n is None
                      else f"{jobs_text(n)}" if n == 1 else f"all {n:,} jobs")
            return confirm_page(request, form, f"{label} {amount} matching this filter?", target,
                                until=until.isoformat(), filter_text=describe_filter(query.filter))
        meter = Meter(f"dashboard: {action} all matching jobs", unit="jobs", log=log)
        f = query.filter
        result = await actions.apply_matching(
            await dashboard.executor(), action,
            Filter(state=f.state, queue=f.queue, job_class=f.job_class, search=f.search), created_before=until,
            on_progress=meter.update,
        )
        log.info("%s: %d changed, %d skipped (%s)%s", meter.what, result.changed, result.skipped.total(),
                 meter.summary(), " (stopped at the time limit; run it again)" if result.more else "")
    flash_result(request, result)
    return RedirectResponse(target, status_code=303)
