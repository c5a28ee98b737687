"""What every page that takes input shares: the POSTed form behind the write rules (read-only,
CSRF), the no-JavaScript confirmation page, flash texts for an action's result, and the checks on
names and ids typed into forms and query strings.
"""

from __future__ import annotations

from uuid import UUID

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from goodjob.core import admin
from goodjob.dashboard.filters import (
    MAX_IDS,
    BadRequest,
    parse_uuid,
)
from goodjob.dashboard.render import (
    ACTION_PAST,
    dashboard_of,
    flash,
    render,
)
from goodjob.jobs import ActionResult

PAGE_SIZE = 50


MAX_NAME = 200


APPLIES = {
    "retry": "only discarded jobs can be retried",
    "discard": "only scheduled, queued or retried jobs can be discarded",
    "run_now": "only jobs waiting for a later time (scheduled or retried) can be run now",
    "delete": "only finished (succeeded or discarded) jobs can be deleted",
}


async def read_form(request: Request) -> FormData:
    """The POSTed form, once the dashboard's write rules allow it: not read-only, valid CSRF token."""
    dashboard = dashboard_of(request)
    if dashboard.read_only:
        raise HTTPException(403, "This dashboard is read-only: it shows jobs but cannot change them.")
    form = await request.form(max_fields=MAX_IDS + 50)
    if dashboard.csrf is None or not dashboard.csrf.valid(request.session, form.get("csrf")):
        raise HTTPException(403, "The form's security token is missing, expired or from another session. "
                                 "Reload the page and try again.")
    return form


def confirm_page(request: Request, form: FormData, question: str, back: str, **extra: str) -> Response:
    skip = {"csrf", "confirmed", *extra}
    fields = [(k, v) for k, v in form.multi_items() if k not in skip and isinstance(v, str)]
    return render(request, "confirm.html", {
        "page": None, "question": question, "fields": fields, "back": back, "action_url": str(request.url.path),
        "filter_text": extra.pop("filter_text", ""), "extra": extra,
    })


def flash_result(request: Request, result: ActionResult) -> None:
    past = ACTION_PAST[result.action]
    parts = [f"{jobs_text(result.changed).capitalize()} {past}."]
    kind = "ok" if result.changed else "error"
    if result.skipped:
        detail = ", ".join(f"{n:,} {status}" for status, n in sorted(result.skipped.items()))
        parts.append(f"Skipped {jobs_text(sum(result.skipped.values()))} ({detail}): {APPLIES[result.action]}.")
    if result.missing:
        parts.append(f"{jobs_text(result.missing).capitalize()} no longer existed.")
    if result.more:
        parts.append("Stopped at the time limit with more to do: run it again to continue.")
        kind = "error"
    flash(request, " ".join(parts), kind)


def describe_filter(f: admin.JobFilter) -> str:
    parts = [f"state {f.state}"]
    parts += [f"queue {f.queue}"] if f.queue else []
    parts += [f"class {f.job_class}"] if f.job_class else []
    parts += [f"search {f.search!r}"] if f.search else []
    parts += [f"label {f.label}"] if f.label else []
    parts += [f"cron {f.cron_key}"] if f.cron_key else []
    parts += [f"batch {f.batch_id}"] if f.batch_id else []
    parts += [f"process {f.process_id}"] if f.process_id else []
    return ", ".join(parts)


def jobs_text(n: int) -> str:
    return f"{n:,} job" + ("" if n == 1 else "s")


def text_of(value: object) -> str:
    return value if isinstance(value, str) else ""


def uuid_param(request: Request, name: str) -> UUID | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    value = parse_uuid(raw)
    if value is None:
        raise BadRequest(f"{name}={raw[:80]!r} is not an id")
    return value


def form_name(value: object) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > MAX_NAME:
        raise BadRequest(f"names are at most {MAX_NAME} characters")
    return text or None


def present(values: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in values.items() if v}
