"""Persist outcomes: finish, delete, retry with backoff, discard, give back interrupted jobs.

Outcomes are written in batches: a worker draining thousands of jobs a second cannot afford one
commit per job, so results that arrive while a write is in flight go out together in the next one
(one UPDATE, one DELETE and one INSERT of history, in a single transaction). Every write is guarded
by ``locked_by_id = <this process>``: if another process recovered a job because it believed this one
dead, the late result is dropped (and logged) rather than overwriting the newer state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from goodjob.core.features import batches
from goodjob.core.storage import store
from goodjob.core.storage.db import Connection, Database, Executor, is_connection, is_connection_error
from goodjob.core.types import Outcome, OutcomeKind

log = logging.getLogger("goodjob")

Preserve = bool | Literal["on_unhandled_error"]


def keeps_row(outcome: Outcome, preserve: Preserve) -> bool:
    """Whether a finished job's row stays in the table (the seed's preserve_job_records rules)."""
    kind = outcome.kind
    if kind in (OutcomeKind.RETRIED, OutcomeKind.INTERRUPTED, OutcomeKind.THROTTLED):
        return True  # it runs again: never deleted
    if outcome.job.batch_id is not None:
        return True  # a batch's progress, job list and retry read its rows (core/batches.py)
    if preserve is True:
        return True
    if preserve == "on_unhandled_error":
        return kind is OutcomeKind.DISCARDED and outcome.unhandled
    return False


_STATE = {
    OutcomeKind.SUCCEEDED: "succeeded",
    OutcomeKind.HANDLED: "succeeded",
    OutcomeKind.DISCARDED: "discarded",
    OutcomeKind.RETRIED: "queued",
    OutcomeKind.INTERRUPTED: "queued",
    OutcomeKind.THROTTLED: "queued",
}


def result_columns(outcomes: Sequence[Outcome]) -> tuple[list[Any], ...]:
    ids, states, finished, errors, events, scheduled, deltas = [], [], [], [], [], [], []
    for o in outcomes:
        state = _STATE[o.kind]
        ids.append(o.job.id)
        states.append(state)
        finished.append(o.finished_at if state in ("succeeded", "discarded") else None)
        errors.append(o.error if o.error is not None else None)
        events.append(_event(o))
        scheduled.append(o.retry_at if state == "queued" else None)
        # A throttled attempt did not run: it does not count as an execution.
        deltas.append(-1 if o.kind is OutcomeKind.THROTTLED else 0)
    return ids, states, finished, errors, events, scheduled, deltas


def _event(o: Outcome) -> str | None:
    if o.kind is OutcomeKind.SUCCEEDED:
        return None
    if o.kind is OutcomeKind.DISCARDED:
        return "unhandled" if o.unhandled else "discarded"
    if o.kind is OutcomeKind.RETRIED:
        return "unhandled" if o.unhandled else "retried"
    return str(o.kind)


def execution_columns(outcomes: Sequence[Outcome]) -> tuple[list[Any], ...]:
    cols: tuple[list[Any], ...] = tuple([] for _ in range(12))
    for o in outcomes:
        j = o.job
        values = (
            j.id, j.executions_count, j.queue_name, j.job_class, j.scheduled_at, o.started_at,
            o.finished_at, o.duration_ms, str(o.kind), o.error_class, o.error, o.error_backtrace,
        )
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    return cols


class Recorder:
    """Writes outcomes for one process, batching whatever arrives while a write is in flight."""

    def __init__(
        self,
        database: Callable[[], Awaitable[Database]],
        process_id: UUID,
        preserve: Preserve,
        *,
        on_recorded: Callable[[Sequence[Outcome]], None] | None = None,
        max_batch: int = 500,
    ) -> None:
        self._database = database
        self.process_id = process_id
        self.preserve = preserve
        self.on_recorded = on_recorded
        self.max_batch = max_batch
        self._pending: list[Outcome] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        self._idle.clear()
        self._wakeup.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="goodjob-recorder")

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                await self._write_with_retry(batch)
            self._idle.set()
            if self._closing:
                return

    async def _write_with_retry(self, batch: list[Outcome]) -> None:
        delay = 0.1
        while True:
            try:
                await self.record(batch)
                return
            except Exception as exc:
                if not is_connection_error(exc) or (self._closing and delay > 5):
                    log.exception("could not record %d job results", len(batch))
                    return
                log.warning("recording results failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def record(self, outcomes: Sequence[Outcome], connection: Executor | None = None) -> None:
        """Write these outcomes now, in one transaction (a savepoint inside a caller's one)."""
        kept = [o for o in outcomes if keeps_row(o, self.preserve)]
        gone = [o.job.id for o in outcomes if not keeps_row(o, self.preserve)]
        now = datetime.now(UTC)
        if not kept and connection is None:  # one statement needs no transaction (two fewer round trips)
            await store.delete_finished((await self._database()).pool, gone, self.process_id)
            if self.on_recorded is not None:
                self.on_recorded(outcomes)
            return
        async with self._transaction(connection) as conn:
            if gone:
                await store.delete_finished(conn, gone, self.process_id)
            if kept:
                updated = set(
                    await store.record_results(conn, result_columns(kept), now, self.process_id)
                )
                if len(updated) != len(kept):
                    lost = [str(o.job.id) for o in kept if o.job.id not in updated]
                    log.warning(
                        "results for %s were not recorded: another process recovered them "
                        "(this process was presumed dead)", ", ".join(lost),
                    )
                    kept = [o for o in kept if o.job.id in updated]
                if kept:
                    await store.insert_executions(conn, self.process_id, execution_columns(kept))
                if any(o.job.batch_id is not None for o in kept):
                    await batches.after_results(conn, kept, now)  # finish batches, enqueue callbacks
        if self.on_recorded is not None:
            self.on_recorded(outcomes)

    @contextlib.asynccontextmanager
    async def _transaction(self, connection: Executor | None) -> AsyncIterator[Connection]:
        if connection is not None and is_connection(connection):
            conn: Connection = connection
            async with conn.transaction():
                yield conn
            return
        db = await self._database()
        async with db.transaction() as conn:
            yield conn

    async def drain(self) -> None:
        """Wait until everything added so far is written."""
        await self._idle.wait()

    async def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
