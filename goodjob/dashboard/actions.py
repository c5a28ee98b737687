"""The buttons: POST forms answered with 303 and a flash message.

Every POST carries a CSRF token; a read-only dashboard refuses them all. Destructive actions, and
every bulk action, need a confirmation: the page's script asks with ``confirm()`` and adds
``confirmed=1``; without JavaScript the server answers with a confirmation page instead. The state
check happens in the UPDATE itself (see core.admin), so a job that changed meanwhile is reported, and
left alone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from goodjob.core import admin
from goodjob.core.admin import ActionResult
from goodjob.dashboard.filters import (
    MAX_IDS,
    BadRequest,
    parse_action,
    parse_ids,
    parse_job_query,
    parse_time,
    parse_uuid,
    safe_next,
)
from goodjob.dashboard.render import ACTION_LABELS, ACTION_PAST, dashboard_of, flash, path_of, render, short_id

__all__ = ["bulk", "job_action", "queue_action"]

#: Single-job actions that need a confirmation (bulk actions always do).
CONFIRM = ("discard", "delete")
_APPLIES = {
    "retry": "only discarded jobs can be retried",
    "discard": "only scheduled, queued or retried jobs can be discarded",
    "run_now": "only jobs waiting for a later time (scheduled or retried) can be run now",
    "delete": "only finished (succeeded or discarded) jobs can be deleted",
}


async def job_action(request: Request) -> Response:
    form = await _form(request)
    action = request.path_params["action"]
    job_id = parse_uuid(request.path_params["job_id"])
    if action not in admin.ACTIONS or job_id is None:
        raise HTTPException(404)
    job_path = path_of(request.url_for("job", job_id=str(job_id)))
    default = path_of(request.url_for("jobs")) if action == "delete" else job_path
    target = safe_next(form.get("next"), request.scope.get("root_path", ""), default)
    if action in CONFIRM and form.get("confirmed") != "1":
        return _confirm(request, form, f"{ACTION_LABELS[action]} job {job_id}?", target)
    dashboard = dashboard_of(request)
    result = await admin.perform(await dashboard.executor(), action, [job_id])
    if result.missing:
        raise HTTPException(404, f"There is no job {job_id}; nothing changed.")
    if result.changed:
        flash(request, f"Job {short_id(job_id)} {ACTION_PAST[action]}.")
        if action == "delete" and target.startswith(job_path):
            target = path_of(request.url_for("jobs"))
    else:
        status = next(iter(result.skipped), "in another state")
        flash(request, f"Job {short_id(job_id)} is {status}: {_APPLIES[action]}. Nothing changed.", "error")
    return RedirectResponse(target, status_code=303)


async def bulk(request: Request) -> Response:
    form = await _form(request)
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
            return _confirm(request, form, f"{label} {_jobs(len(ids))} (the selected ones)?", target)
        result = await admin.perform(await dashboard.executor(), action, ids)
    else:
        until = parse_time(_str(form.get("until")), "until")
        if form.get("confirmed") != "1" or until is None:
            ex = await dashboard.executor()
            async with admin.reading(ex) as conn:
                counts = await admin.count_tabs(conn, query.filter)
            count = counts[query.filter.state]
            amount = "every job" if count.n is None else f"all {count.n:,}{'+' if count.capped else ''} jobs"
            return _confirm(request, form, f"{label} {amount} matching this filter?", target,
                            until=datetime.now(UTC).isoformat(), filter_text=_describe(query.filter))
        result = await admin.perform_matching(await dashboard.executor(), action, query.filter,
                                              created_before=until)
    _flash_result(request, result)
    return RedirectResponse(target, status_code=303)


async def queue_action(request: Request) -> Response:
    form = await _form(request)
    action = request.path_params["action"]
    if action not in ("pause", "resume"):
        raise HTTPException(404)
    name = _str(form.get("queue")).strip()
    if not name or len(name) > 200:
        raise BadRequest("queue must be a queue name (1 to 200 characters)")
    dashboard = dashboard_of(request)
    await admin.set_queue_paused(await dashboard.executor(), name, action == "pause")
    flash(request, f"Queue {name} {'paused: workers take no new jobs from it' if action == 'pause' else 'resumed'}.")
    target = safe_next(form.get("next"), request.scope.get("root_path", ""), path_of(request.url_for("queues")))
    return RedirectResponse(target, status_code=303)


async def _form(request: Request) -> FormData:
    """The POSTed form, once the dashboard's write rules allow it: not read-only, valid CSRF token."""
    dashboard = dashboard_of(request)
    if dashboard.read_only:
        raise HTTPException(403, "This dashboard is read-only: it shows jobs but cannot change them.")
    form = await request.form(max_fields=MAX_IDS + 50)
    if dashboard.csrf is None or not dashboard.csrf.valid(request.session, form.get("csrf")):
        raise HTTPException(403, "The form's security token is missing, expired or from another session. "
                                 "Reload the page and try again.")
    return form


def _confirm(request: Request, form: FormData, question: str, back: str, **extra: str) -> Response:
    skip = {"csrf", "confirmed", *extra}
    fields = [(k, v) for k, v in form.multi_items() if k not in skip and isinstance(v, str)]
    return render(request, "confirm.html", {
        "page": None, "question": question, "fields": fields, "back": back, "action_url": str(request.url.path),
        "filter_text": extra.pop("filter_text", ""), "extra": extra,
    })


def _flash_result(request: Request, result: ActionResult) -> None:
    past = ACTION_PAST[result.action]
    parts = [f"{_jobs(result.changed).capitalize()} {past}."]
    kind = "ok" if result.changed else "error"
    if result.skipped:
        detail = ", ".join(f"{n:,} {status}" for status, n in sorted(result.skipped.items()))
        parts.append(f"Skipped {_jobs(sum(result.skipped.values()))} ({detail}): {_APPLIES[result.action]}.")
    if result.missing:
        parts.append(f"{_jobs(result.missing).capitalize()} no longer existed.")
    if result.more:
        parts.append("Stopped at the time limit with more to do: run it again to continue.")
        kind = "error"
    flash(request, " ".join(parts), kind)


def _describe(f: admin.JobFilter) -> str:
    parts = [f"state {f.state}"]
    parts += [f"queue {f.queue}"] if f.queue else []
    parts += [f"class {f.job_class}"] if f.job_class else []
    parts += [f"search {f.search!r}"] if f.search else []
    return ", ".join(parts)


def _jobs(n: int) -> str:
    return f"{n:,} job" + ("" if n == 1 else "s")


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""
