"""Query strings and forms -> validated values: a JobFilter, a page cursor, a list of job ids.

Anything malformed raises :class:`BadRequest`, which the app answers with a 400 page naming the
parameter, so no odd URL ever reaches the database or ends in a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from starlette.datastructures import FormData, QueryParams

from goodjob.core.admin import TABS, Cursor, JobFilter
from goodjob.core.operations.actions import ACTIONS as JOB_ACTIONS

__all__ = [
    "MAX_IDS",
    "PAGE_SIZES",
    "BadRequest",
    "JobQuery",
    "format_cursor",
    "parse_cursor",
    "parse_ids",
    "parse_job_query",
    "parse_uuid",
    "safe_next",
]

MAX_TEXT = 200
#: The job actions the dashboard offers (goodjob.jobs has more: cancel, reschedule to a time).
ACTIONS: dict[str, tuple[str, ...]] = {a: JOB_ACTIONS[a] for a in ("retry", "discard", "run_now", "delete")}
MAX_IDS = 1000
PAGE_SIZES = (10, 25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadRequest(Exception):
    """A parameter the dashboard cannot use; the message names it and is shown to the user."""


@dataclass(frozen=True)
class JobQuery:
    filter: JobFilter
    after: Cursor | None
    before: Cursor | None
    limit: int

    def params(self, **overrides: Any) -> dict[str, str]:
        """The query string of this list (filter, page size), with ``overrides``; empties dropped."""
        f = self.filter
        values: dict[str, Any] = {"state": None if f.state == "all" else f.state, "queue": f.queue,
                                  "class": f.job_class, "q": f.search, "label": f.label, "cron": f.cron_key,
                                  "batch": f.batch_id, "process": f.process_id, "order": f.order,
                                  "limit": None if self.limit == DEFAULT_PAGE_SIZE else self.limit}
        values.update(overrides)
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


def parse_job_query(params: QueryParams | FormData | Mapping[str, Any]) -> JobQuery:
    state = _text(params, "state") or "all"
    if state not in TABS:
        raise BadRequest(f"state={state!r} is not a job state; use one of: {', '.join(TABS)}")
    order = _text(params, "order")
    if order not in (None, "asc", "desc"):
        raise BadRequest(f"order={order!r}: use asc or desc")
    job_filter = JobFilter(state=state, queue=_text(params, "queue"), job_class=_text(params, "class"),
                           search=_text(params, "q"), label=_text(params, "label"), cron_key=_text(params, "cron"),
                           batch_id=_uuid_param(params, "batch"), process_id=_uuid_param(params, "process"),
                           order=order)
    after, before = _text(params, "after"), _text(params, "before")
    if after and before:
        raise BadRequest("give either after= or before=, not both")
    limit_text = _text(params, "limit")
    try:
        limit = int(limit_text) if limit_text else DEFAULT_PAGE_SIZE
    except ValueError:
        raise BadRequest(f"limit={limit_text!r} is not a number") from None
    if limit not in PAGE_SIZES:
        raise BadRequest(f"limit={limit} is not a page size; use one of: {', '.join(map(str, PAGE_SIZES))}")
    return JobQuery(job_filter, parse_cursor(after, "after"), parse_cursor(before, "before"), limit)


def format_cursor(cursor: Cursor) -> str:
    """``<microseconds since the epoch>.<uuid>``: exact, and needs no escaping in a URL."""
    return f"{(cursor.at - _EPOCH) // timedelta(microseconds=1)}.{cursor.id}"


def parse_cursor(text: str | None, name: str) -> Cursor | None:
    if not text:
        return None
    micros, _, raw_id = text.partition(".")
    try:
        at = _EPOCH + timedelta(microseconds=int(micros))
        return Cursor(at, UUID(raw_id))
    except (ValueError, OverflowError):
        raise BadRequest(f"{name}={text[:80]!r} is not a page cursor; follow the page links") from None


def parse_uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


def parse_ids(form: FormData) -> list[UUID]:
    raw = form.getlist("id")
    if len(raw) > MAX_IDS:
        raise BadRequest(f"at most {MAX_IDS} jobs can be selected at once; use \"all matching\" instead")
    ids = []
    for value in raw:
        job_id = parse_uuid(value) if isinstance(value, str) else None
        if job_id is None:
            raise BadRequest(f"id={str(value)[:80]!r} is not a job id")
        ids.append(job_id)
    return ids


def parse_action(text: str | None) -> str:
    if text not in ACTIONS:
        raise BadRequest(f"action={text!r} is not an action; use one of: {', '.join(ACTIONS)}")
    return text


def parse_time(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}={text[:80]!r} is not a time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def safe_next(value: object, root_path: str, default: str) -> str:
    """A redirect target from a form: only a path inside this dashboard (no open redirects)."""
    if isinstance(value, str) and value.startswith((root_path + "/", root_path + "?")) \
            and not value.startswith("//") and "\\" not in value and len(value) < 4000:
        return value
    if isinstance(value, str) and value == root_path and root_path:
        return value
    return default


def _uuid_param(params: QueryParams | FormData | Mapping[str, Any], name: str) -> UUID | None:
    text = _text(params, name)
    if text is None:
        return None
    value = parse_uuid(text)
    if value is None:
        raise BadRequest(f"{name}={text[:80]!r} is not an id")
    return value


def _text(params: QueryParams | FormData | Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be text")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise BadRequest(f"{name} is longer than {MAX_TEXT} characters")
    if "\x00" in value:
        raise BadRequest(f"{name} contains a NUL character")
    return value or None
