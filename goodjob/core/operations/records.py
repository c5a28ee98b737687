"""What the job API returns: frozen :class:`JobRecord` and :class:`Execution` values, and the
filter every read and bulk action takes (:class:`Filter`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from goodjob.core.admin import TABS, Cursor, JobFilter, job_status
from goodjob.core.errors import GoodJobError
from goodjob.core.serialize import load_arguments

#: The states find() and count() accept: the dashboard's tabs ("all" = None).
STATES: tuple[str, ...] = TABS[1:]


@dataclass(frozen=True, slots=True)
class Execution:
    """One attempt of a job (a row of good_job_executions)."""

    id: int
    attempt: int
    outcome: str  # succeeded, retried, discarded, handled, interrupted, throttled, snoozed
    queue: str
    process_id: UUID | None
    scheduled_at: datetime | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    error_class: str | None
    error: str | None
    error_backtrace: str | None


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as stored, at the moment it was read. ``state`` is one of :data:`STATES` (a queued row
    is "scheduled", "queued" or "retried"); ``executions`` is None unless asked for."""

    id: UUID
    job_class: str
    queue: str
    priority: int
    state: str
    arguments: tuple[Any, ...]
    kwargs: dict[str, Any]
    labels: tuple[str, ...]
    attempts: int
    scheduled_at: datetime
    created_at: datetime
    performed_at: datetime | None
    finished_at: datetime | None
    error: str | None
    error_event: str | None  # retried, discarded, unhandled, interrupted, cancelled, snoozed, ...
    batch_id: UUID | None
    cron_key: str | None
    process_id: UUID | None  # the process running it
    cancel_requested: bool  # cancel() was called while it ran
    executions: tuple[Execution, ...] | None = None

    def cursor(self, state: str | None) -> Cursor:
        """This record's position in find(state=...)'s order (what ``after=`` needs)."""
        at = self.scheduled_at if state in ("scheduled", "queued") else self.created_at
        return Cursor(at, self.id)


def record_from_row(row: Any, now: datetime, executions: list[Any] | None = None) -> JobRecord:
    params = row["params"]
    try:
        args, kwargs = load_arguments(json.loads(params))
    except (GoodJobError, ValueError):  # arguments this process cannot decode: show them as stored
        data = json.loads(params) if isinstance(params, str) else {}
        args, kwargs = tuple(data.get("args") or ()), dict(data.get("kwargs") or {})
    return JobRecord(
        id=row["id"], job_class=row["job_class"], queue=row["queue_name"], priority=row["priority"],
        state=job_status(row["state"], row["scheduled_at"], row["error"], now),
        arguments=tuple(args), kwargs=dict(kwargs), labels=tuple(row["labels"] or ()),
        attempts=row["executions_count"], scheduled_at=row["scheduled_at"], created_at=row["created_at"],
        performed_at=row["performed_at"], finished_at=row["finished_at"], error=row["error"],
        error_event=row["error_event"], batch_id=row["batch_id"], cron_key=row["cron_key"],
        process_id=row["locked_by_id"] if row["state"] == "running" else None,
        cancel_requested=row["cancelled_at"] is not None,
        executions=None if executions is None else tuple(execution_from_row(e) for e in executions),
    )


def execution_from_row(r: Any) -> Execution:
    return Execution(
        id=r["id"], attempt=r["attempt"], outcome=r["outcome"], queue=r["queue_name"], process_id=r["process_id"],
        scheduled_at=r["scheduled_at"], started_at=r["started_at"], finished_at=r["finished_at"],
        duration_ms=r["duration_ms"], error_class=r["error_class"], error=r["error"],
        error_backtrace=r["error_backtrace"],
    )


def class_name(job_class: Any) -> str:
    """The stored name of a Job subclass, a @goodjob.job function, or a name given as text."""
    if isinstance(job_class, str):
        return job_class
    cls = getattr(job_class, "job_class", job_class)
    name = getattr(cls, "job_name", None)
    if not isinstance(name, str):
        raise GoodJobError(f"job_class={job_class!r}: expected a goodjob.Job subclass, a @goodjob.job function "
                           "or a job class name")
    return name


@dataclass(frozen=True)
class Filter:
    """Which jobs a read or a bulk action means. Every field narrows; None means any.

    ``state`` is one of :data:`STATES`; ``label`` a label the job carries; ``search`` a job id, or
    text found in the arguments or the error (a scan: see the README).
    """

    state: str | None = None
    queue: str | None = None
    job_class: Any = None
    label: str | None = None
    batch_id: UUID | str | None = None
    cron_key: str | None = None
    search: str | None = None

    def __post_init__(self) -> None:
        state = None if self.state in (None, "all") else str(self.state)
        if state is not None and state not in STATES:
            raise GoodJobError(f"state={self.state!r} is not a job state; use one of {', '.join(STATES)}")
        object.__setattr__(self, "state", state)
        if self.job_class is not None:
            object.__setattr__(self, "job_class", class_name(self.job_class))
        if isinstance(self.batch_id, str):
            object.__setattr__(self, "batch_id", parse_id(self.batch_id, "batch_id"))

    def job_filter(self) -> JobFilter:
        batch = self.batch_id if isinstance(self.batch_id, UUID) else None
        return JobFilter(state=self.state or "all", queue=self.queue, job_class=self.job_class,
                         search=self.search, label=self.label, batch_id=batch, cron_key=self.cron_key)


def parse_id(value: Any, name: str = "id") -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise GoodJobError(f"{name}={value!r} is not a job id (a UUID such as 0190b3d2-...)") from None
