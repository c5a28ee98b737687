"""``goodjob.current_job()``: the job being performed, from inside it (class or function job,
``async def`` or ``def``, worker or inline mode)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from goodjob.batch import Batch
from goodjob.core import context
from goodjob.core.errors import GoodJobError

__all__ = ["CurrentJob", "current_job"]


class CurrentJob:
    """A read-only view of the running attempt. ``cancelled`` and ``shutting_down`` are live: a
    long ``def`` job checks them between steps and returns early (Python cannot stop a thread)."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: context.JobContext) -> None:
        self._ctx = ctx

    @property
    def id(self) -> UUID | None:
        """The job's id (None under ``perform_now``, which does not store the job)."""
        return self._ctx.id

    @property
    def job_class(self) -> str:
        return self._ctx.job_class

    @property
    def attempt(self) -> int:
        """1 for the first attempt; retries count, snoozes and throttled attempts do not."""
        return self._ctx.attempt

    @property
    def queue(self) -> str:
        return self._ctx.queue

    @property
    def priority(self) -> int:
        return self._ctx.priority

    @property
    def labels(self) -> tuple[str, ...]:
        return self._ctx.labels

    @property
    def scheduled_at(self) -> datetime | None:
        return self._ctx.scheduled_at

    @property
    def batch_id(self) -> UUID | None:
        return self._ctx.batch_id

    @property
    def batch(self) -> Batch | None:
        """The job's batch as a handle (``await current_job().batch.reload()``), or None."""
        return Batch._existing(self._ctx.batch_id) if self._ctx.batch_id is not None else None

    @property
    def cancelled(self) -> bool:
        """True once an operator cancelled this job (``goodjob.jobs.cancel``)."""
        return self._ctx.cancelled

    @property
    def shutting_down(self) -> bool:
        """True once the worker is stopping: checkpoint and return; the job runs again later."""
        return bool(self._ctx.shutting_down())

    async def complete(self, connection: Any) -> None:
        """Record this attempt as succeeded inside ``connection``'s open transaction.

        Why: a job's writes and its result are two commits, and a worker killed between them runs
        the job again (at-least-once). Called just before your transaction commits, your writes and
        the job's success commit together: once they did, no crash runs the job again; if the
        transaction rolls back, nothing of it happened and the job's real outcome (its error, or
        success when it returns) is recorded as usual. Raises :class:`GoodJobError`, so that your
        transaction rolls back, when the row is no longer running under this worker (completed
        already, or recovered by another process), outside a transaction, or with no stored job
        (perform_now). Retrying your transaction after a failed commit is safe: if that commit did
        happen, the retry's complete() raises instead of completing twice.
        """
        await self._completer("complete").complete_in(connection, self._success())

    def complete_sync(self, cursor: Any) -> None:
        """:meth:`complete` for synchronous code (a ``def`` job, Django): ``cursor`` is a DB-API
        cursor of psycopg 2 or 3 or of Django's PostgreSQL backend, inside an open transaction
        (``with transaction.atomic(): ... with connection.cursor() as cursor: ...``). The same
        guarantees and errors; a job of a batch needs :meth:`complete` on an asyncpg connection."""
        self._completer("complete_sync").complete_in_sync(cursor, self._success())

    def _completer(self, verb: str) -> Any:
        if self._ctx.completer is None:
            raise GoodJobError(f"current_job().{verb}() needs a stored job performed by a worker or in inline "
                               "mode; under perform_now there is no job row to complete")
        return self._ctx.completer

    def _success(self) -> Any:
        assert self._ctx.success_now is not None  # set with the completer
        return self._ctx.success_now()

    def __repr__(self) -> str:
        return (f"<CurrentJob {self.job_class} id={self.id} attempt={self.attempt} queue={self.queue!r}"
                f"{' cancelled' if self.cancelled else ''}>")


def current_job() -> CurrentJob:
    """The job this code runs in; raises :class:`GoodJobError` outside a job."""
    ctx = context.current()
    if ctx is None:
        raise GoodJobError("goodjob.current_job() was called outside a job: call it from a job's perform "
                           "(or code it calls), in a worker, in inline mode or under perform_now")
    return CurrentJob(ctx)
