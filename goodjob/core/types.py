"""Plain data that crosses module boundaries: states, claimed rows, outcomes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


class JobState(enum.StrEnum):
    """The ``state`` column. "scheduled" and "retried" are queued rows seen from the dashboard."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DISCARDED = "discarded"


class OutcomeKind(enum.StrEnum):
    """What one attempt ended as; also the ``outcome`` column of an execution row."""

    SUCCEEDED = "succeeded"
    RETRIED = "retried"  # failed, will run again (retry_on, or retry_on_unhandled_error)
    DISCARDED = "discarded"  # failed for good (discard_on, retries exhausted, unhandled and not retried)
    HANDLED = "handled"  # failed, and a rescue/exhausted handler handled it: finished successfully
    INTERRUPTED = "interrupted"  # the worker stopped before the job did; it runs again
    THROTTLED = "throttled"  # a perform limit refused it; it runs again later, not an error
    SNOOZED = "snoozed"  # the job raised goodjob.Snooze: it runs again later, the attempt not counted
    CANCELLED = "cancelled"  # an operator cancelled it while it ran (goodjob.jobs.cancel): discarded


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A row this process has claimed: everything needed to perform it, nothing more."""

    id: UUID
    queue_name: str
    priority: int
    job_class: str
    params: str  # the serialized_params JSON text, decoded by the executor
    scheduled_at: datetime
    executions_count: int  # including this attempt
    concurrency_key: str | None
    batch_id: UUID | None
    labels: tuple[str, ...]
    created_at: datetime

    @classmethod
    def from_record(cls, r: Any) -> ClaimedJob:
        return cls(
            id=r["id"],
            queue_name=r["queue_name"],
            priority=r["priority"],
            job_class=r["job_class"],
            params=r["params"],
            scheduled_at=r["scheduled_at"],
            executions_count=r["executions_count"],
            concurrency_key=r["concurrency_key"],
            batch_id=r["batch_id"],
            labels=tuple(r["labels"] or ()),
            created_at=r["created_at"],
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of performing one claimed job, before it is written back."""

    job: ClaimedJob
    kind: OutcomeKind
    started_at: datetime
    finished_at: datetime
    duration_ms: float
    error_class: str | None = None
    error: str | None = None
    error_backtrace: str | None = None
    retry_at: datetime | None = None  # for RETRIED / INTERRUPTED / THROTTLED
    unhandled: bool = False  # the error escaped the job's own rules
    exception: BaseException | None = field(default=None, compare=False)
    return_value: str | None = None  # JSON text, for jobs that keep it (Django tasks); else None


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What ``perform_later`` returns. Falsy when the enqueue was refused (a limit, a callback)."""

    id: UUID
    queue_name: str
    priority: int
    scheduled_at: datetime
    enqueued: bool = True
    reason: str | None = None  # why it was refused

    def __bool__(self) -> bool:
        return self.enqueued
