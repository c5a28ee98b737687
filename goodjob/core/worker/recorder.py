"""Persist outcomes: finish, delete, retry with backoff, discard, give back interrupted jobs.

Outcomes are written in batches: a worker draining thousands of jobs a second cannot afford one
commit per job, so results that arrive while a write is in flight go out together in the next one
(one UPDATE, one DELETE and one INSERT of history, in a single transaction). Every write is guarded
by ``locked_by_id = <this process>``: if another process recovered a job because it believed this one
dead, the late result is dropped (and logged) rather than overwriting the newer state.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from goodjob.core import stats
from goodjob.core.errors import GoodJobError
from goodjob.core.features import batches
from goodjob.core.storage import dbapi, store, store_stats
from goodjob.core.storage.db import Connection, Database, Executor, is_connection, is_connection_error
from goodjob.core.types import Outcome, OutcomeKind
from goodjob.core.worker.results import (
    Preserve,
    execution_columns,
    keeps_row,
    result_columns,
    return_value_columns,
)

log = logging.getLogger("goodjob")

STATS_EVERY = 1.0  # seconds: the hot path's Performance statistics are written at most this often


class Recorder:
    """Writes outcomes for one process, batching whatever arrives while writes are in flight.

    A result waits for no more than the writes already under way: up to ``max_writers`` writes run
    at once (on pool connections), each taking everything pending when it starts, and a write starts
    in the loop iteration after its first result arrived. With a single writer a result arriving
    just after a write began waited for that write *and* its own, and the time from a job's end to
    its commit is how long a SIGKILL can make a finished job run again (README "Reliability"): on
    two saturated cores three writers were often all busy, and a result then waited for one of them
    to come back (bench/chaos.py's window from a double's finish to the kill: median 18 ms with
    three writers, 14.5 ms with eight).
    """

    def __init__(
        self,
        database: Callable[[], Awaitable[Database]],
        process_id: UUID,
        preserve: Preserve,
        *,
        on_recorded: Callable[[Sequence[Outcome]], None] | None = None,
        max_batch: int = 500,
        max_writers: int = 8,
        close_timeout: float = 30.0,
    ) -> None:
        self._database = database
        self.process_id = process_id
        self.preserve = preserve
        self.on_recorded = on_recorded
        self.max_batch = max_batch
        self.max_writers = max_writers
        self._pending: list[Outcome] = []
        self._added: list[float] = []  # monotonic time each pending outcome arrived
        # Seconds from a result's arrival to the commit of its write. The latest ones only.
        self.write_delays: collections.deque[float] = collections.deque(maxlen=100_000)
        self.close_timeout = close_timeout
        self._give_up_at = float("inf")
        self._idle = asyncio.Event()
        self._idle.set()
        self._writers: set[asyncio.Task[None]] = set()
        self._closing = False
        self.stats_every = STATS_EVERY
        self._stats: list[tuple[datetime, str, str, str, float]] = []
        self._stats_timer: asyncio.TimerHandle | None = None
        self._stats_tasks: set[asyncio.Task[None]] = set()
        self._stats_lock = asyncio.Lock()
        # Jobs that wrote their own success in their transaction (complete_in), until their result
        # comes: that write then finds the row finished, which is not a lost result.
        self._completed: set[UUID] = set()

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        self._added.append(time.monotonic())
        self._idle.clear()
        if len(self._writers) < self.max_writers:
            self._spawn()

    def recorded_elsewhere(self, finished: Sequence[tuple[Outcome, float]]) -> None:
        """Deleted rows another statement wrote (a pool's claim, see scheduler.py), with the
        monotonic time each job finished: counted, measured and reported like the recorder's own."""
        if not finished:
            return
        done = time.monotonic()
        self.write_delays.extend(done - t for _, t in finished)
        outcomes = [o for o, _ in finished]
        if self._completed:
            self._forget_completed(outcomes)
        self._count(outcomes, set())
        self._recorded(outcomes)

    def _spawn(self) -> None:
        task = asyncio.get_running_loop().create_task(self._write_pending(), name="goodjob-recorder")
        self._writers.add(task)
        task.add_done_callback(self._writer_done)

    async def _write_pending(self) -> None:
        while self._pending:
            n = self.max_batch
            batch, self._pending = self._pending[:n], self._pending[n:]
            added, self._added = self._added[:n], self._added[n:]
            try:
                await self._write_with_retry(batch)
            except asyncio.CancelledError:
                # Cancelled mid-write (the loop is being torn down): put the batch back for another
                # writer rather than forget it (a forgotten result makes a finished job run again).
                self._pending[:0], self._added[:0] = batch, added
                raise
            done = time.monotonic()
            self.write_delays.extend(done - t for t in added)

    def _writer_done(self, task: asyncio.Task[None]) -> None:
        self._writers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("result writer failed", exc_info=task.exception())
        self._settle()

    def _settle(self) -> None:
        """A writer ended: idle if nothing is left, else make sure a writer takes what is."""
        if not self._writers:
            if self._pending:  # a writer died: never leave results behind
                self._spawn()
                return
            self._idle.set()

    async def _write_with_retry(self, batch: list[Outcome]) -> None:
        """Write ``batch``; on any failure try again (with backoff) until it is written.

        A result that is not written leaves its row `running` under this live process, which
        would otherwise have forgotten it: nobody would run it again until this process stopped.
        Every error is retried, not only the ones asyncpg names as connection errors (a cut
        connection also surfaces as InternalClientError, "cannot switch to state"). When a batch
        fails for another reason, its outcomes are retried one by one so that a single outcome
        that cannot be written does not hold back the others. Only at shutdown, once
        ``close_timeout`` has passed, is a result given up: its row is then recovered (and the
        job run again) by the orphan rule, as if this process had been killed.
        """
        delay = 0.1
        while True:
            try:
                await self.record(batch)
                return
            except Exception as exc:
                if self._closing and time.monotonic() > self._give_up_at:
                    log.error("gave up recording %d job result(s) at shutdown (%s); their jobs "
                              "will run again: %s", len(batch), exc, ", ".join(str(o.job.id) for o in batch))
                    return
                if is_connection_error(exc):
                    log.warning("recording results failed (%s); retrying in %.1fs", exc, delay)
                else:
                    log.exception("could not record %d job result(s); retrying in %.1fs",
                                  len(batch), delay)
                    if len(batch) > 1:
                        for outcome in batch:
                            await self._write_with_retry([outcome])
                        return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def record(
        self, outcomes: Sequence[Outcome], connection: Executor | None = None, *, completing: bool = False
    ) -> set[UUID]:
        """Write these outcomes now, in one transaction (a savepoint inside a caller's one).

        Returns the ids whose rows were no longer this process's (nothing was written for them).
        ``completing`` (complete_in, for a batch's job): a job's success inside its own transaction:
        no savepoint, no statistics (counted once, when the job's result comes, and not under the
        caller's locks), no after-record hook, no warning for a lost row (the caller is told).
        """
        kept = [o for o in outcomes if keeps_row(o, self.preserve)]
        gone = [o.job.id for o in outcomes if not keeps_row(o, self.preserve)]
        now = datetime.now(UTC)
        lost_ids: set[UUID] = set()
        if (connection is None and not any(o.job.batch_id is not None for o in kept)
                and not any(o.return_value is not None for o in kept)):
            # The hot path: one statement, one round trip (see record_outcomes in queries.sql).
            db = await self._database()
            updated = set(await store.record_outcomes(
                db.pool, gone, self.process_id, result_columns(kept), now, execution_columns(kept)
            ))
            if len(updated) != len(kept):
                lost_ids = self._lost([o for o in kept if o.job.id not in updated])
            if self._completed:
                self._forget_completed(outcomes)
            self._count(outcomes, lost_ids)
            self._recorded(outcomes)
            return lost_ids
        async with self._transaction(connection, savepoint=not completing) as conn:
            if gone:
                await store.delete_finished(conn, gone, self.process_id)
            if kept:
                updated = set(
                    await store.record_results(conn, result_columns(kept), now, self.process_id)
                )
                if len(updated) != len(kept):
                    missing = [o for o in kept if o.job.id not in updated]
                    lost_ids |= {o.job.id for o in missing} if completing else self._lost(missing)
                    kept = [o for o in kept if o.job.id in updated]
                    # A job that completed in its transaction returned its value only afterwards.
                    late = [o for o in missing if o.return_value is not None and o.job.id in self._completed]
                    if late:
                        await store.record_return_values(conn, *return_value_columns(late))
                if kept:
                    await store.insert_executions(conn, self.process_id, execution_columns(kept))
                    if any(o.return_value is not None for o in kept):
                        await store.record_return_values(conn, *return_value_columns(kept))
                if any(o.job.batch_id is not None for o in kept):
                    await batches.after_results(conn, kept, now)  # finish batches, enqueue callbacks
            if not completing:
                # The Performance page's statistics, in the same transaction as the results they count.
                await store_stats.stats_record(conn, _rollup(outcomes, lost_ids))
        if not completing:
            if self._completed:
                self._forget_completed(outcomes)
            self._recorded(outcomes)
        return lost_ids

    async def complete_in(self, connection: Executor, outcome: Outcome) -> None:
        """Write ``outcome`` (a success) inside the caller's open transaction: current_job().complete().

        The row is updated (or deleted) under the same guard as every result, so it also takes the
        row's lock until the caller's transaction ends: a recovery racing it waits, then finds the
        row finished. When the job's own result comes later, its write finds the row already
        finished (the caller committed) and is not a lost result, or finds it still running (the
        caller rolled back) and writes it as usual.
        """
        if not is_connection(connection) or not connection.is_in_transaction():
            raise GoodJobError(
                f"current_job().complete() needs an asyncpg connection inside an open transaction "
                f"(async with conn.transaction(): ...), got {connection!r}"
            )
        job = outcome.job
        if job.batch_id is not None:  # finishing a batch needs the transaction path's statements
            written = not await self.record([outcome], connection, completing=True)
        elif keeps_row(outcome, self.preserve):
            # The hot path's one statement, on the caller's connection: one round trip in their
            # transaction (no savepoint: a failure aborts it anyway, and a lost row is raised).
            written = bool(await store.record_outcomes(
                connection, [], self.process_id, result_columns([outcome]), datetime.now(UTC),
                execution_columns([outcome]),
            ))
        else:
            written = bool(await store.delete_finished(connection, [job.id], self.process_id))
        self._completed_or_raise(outcome, written)

    def complete_in_sync(self, cursor: Any, outcome: Outcome) -> None:
        """:meth:`complete_in` on a DB-API cursor (psycopg 2 or 3, Django), from a ``def`` job's thread.

        Refused before anything is written: a cursor outside a transaction (it would commit at
        once) and a batch's job (finishing a batch takes the asyncpg transaction path). The set of
        completed ids is only added to here, before the job returns, and read on the loop after.
        """
        if not _in_transaction(cursor):
            raise GoodJobError(
                f"current_job().complete_sync() needs a DB-API cursor inside an open transaction (Django: "
                f"transaction.atomic(); psycopg: not in autocommit, or conn.transaction()), got {cursor!r}"
            )
        job = outcome.job
        if job.batch_id is not None:
            raise GoodJobError(f"job {job.id} belongs to batch {job.batch_id}: finishing a batch needs "
                               f"await current_job().complete(conn) on an asyncpg connection")
        if keeps_row(outcome, self.preserve):
            written = bool(dbapi.record_outcomes(cursor, [], self.process_id, result_columns([outcome]),
                                                 datetime.now(UTC), execution_columns([outcome])))
        else:
            written = bool(dbapi.delete_finished(cursor, [job.id], self.process_id))
        self._completed_or_raise(outcome, written)

    def _completed_or_raise(self, outcome: Outcome, written: bool) -> None:
        """After a completion's statement: remember it, or tell the caller to roll back."""
        if not written:
            raise GoodJobError(
                f"job {outcome.job.id} is no longer running under this worker (it was completed already, "
                f"or another process recovered it): roll back this transaction"
            )
        self._completed.add(outcome.job.id)

    def _lost(self, missing: Sequence[Outcome]) -> set[UUID]:
        """Results whose rows were not this process's any more, except those the job completed itself."""
        lost = [o for o in missing if o.job.id not in self._completed]
        if lost:
            self._warn_lost(lost)
        for o in missing:
            if o.job.id in self._completed and o.kind is not OutcomeKind.SUCCEEDED:
                log.warning("job %s (%s) ended as %s after it completed in its transaction: it stays "
                            "succeeded (its error: %s)", o.job.id, o.job.job_class, o.kind.value, o.error)
        return {o.job.id for o in lost}

    def _forget_completed(self, outcomes: Sequence[Outcome]) -> None:
        for o in outcomes:
            self._completed.discard(o.job.id)

    def _count(self, outcomes: Sequence[Outcome], lost_ids: set[UUID]) -> None:
        """Queue the hot path's statistics for the next flush (at most one statement a second).

        They are counts for the Performance page: writing them after every batch would add a
        statement per batch to the drain and to the time a finished result waits for its write;
        a SIGKILL loses at most the last ``STATS_EVERY`` seconds of counts, never a result.
        """
        self._stats.extend(_stat_rows(outcomes, lost_ids))
        if self._stats_timer is None and self._stats:
            self._stats_timer = asyncio.get_running_loop().call_later(self.stats_every, self._stats_due)

    def _stats_due(self) -> None:
        self._stats_timer = None
        task = asyncio.get_running_loop().create_task(self.flush_stats(), name="goodjob-stats")
        self._stats_tasks.add(task)
        task.add_done_callback(self._stats_tasks.discard)

    async def flush_stats(self) -> None:
        """Write the counted statistics now (a failure is logged: they are best effort)."""
        async with self._stats_lock:
            rows, self._stats = self._stats, []
            if not rows:
                return
            try:
                db = await self._database()
                await store_stats.stats_record(db.pool, stats.rollup(rows))
            except Exception as exc:
                log.warning("could not add %d result(s) to the performance statistics (%s)", len(rows), exc)

    @staticmethod
    def _warn_lost(lost: Sequence[Outcome]) -> None:
        log.warning(
            "results for %s were not recorded: another process recovered them "
            "(this process was presumed dead)", ", ".join(str(o.job.id) for o in lost),
        )

    def _recorded(self, outcomes: Sequence[Outcome]) -> None:
        if self.on_recorded is not None:
            try:
                self.on_recorded(outcomes)
            except Exception:  # written is written: a failing hook must not cause a second write
                log.exception("after-record hook failed")

    @contextlib.asynccontextmanager
    async def _transaction(self, connection: Executor | None, savepoint: bool = True) -> AsyncIterator[Connection]:
        if connection is not None and is_connection(connection):
            conn: Connection = connection
            if not savepoint:
                yield conn
                return
            async with conn.transaction():
                yield conn
            return
        db = await self._database()
        async with db.transaction() as conn:
            yield conn

    async def drain(self) -> None:
        """Wait until everything added so far is written."""
        await self._idle.wait()

    def delay_percentiles(self) -> tuple[int, float, float, float]:
        """(results, p50, p99, max) of :attr:`write_delays`, in milliseconds."""
        values = sorted(self.write_delays)
        if not values:
            return 0, 0.0, 0.0, 0.0
        def pick(q: float) -> float:
            return values[min(len(values) - 1, int(q * len(values)))] * 1000.0
        return len(values), pick(0.5), pick(0.99), values[-1] * 1000.0

    async def close(self) -> None:
        """Write everything pending (giving up only after ``close_timeout``), then return."""
        self._closing = True
        self._give_up_at = time.monotonic() + self.close_timeout
        await self._idle.wait()
        if self._stats_timer is not None:
            self._stats_timer.cancel()
            self._stats_timer = None
        await self.flush_stats()


def _in_transaction(cursor: Any) -> bool:
    """Whether a DB-API cursor's statements run inside a transaction that the caller commits.

    Django: inside ``transaction.atomic()``. psycopg 3 and 2: not in autocommit, or inside an
    explicit transaction block. Another driver's cursor is taken at its word (documented)."""
    db = getattr(cursor, "db", None)
    if db is not None and hasattr(db, "in_atomic_block"):  # Django's CursorWrapper
        return bool(db.in_atomic_block)
    conn = getattr(cursor, "connection", None)
    if conn is None or not getattr(conn, "autocommit", False):
        return True
    info = getattr(conn, "info", None)
    if info is not None and hasattr(info, "transaction_status"):  # psycopg 3: IDLE is 0
        return int(info.transaction_status) != 0
    status = getattr(conn, "get_transaction_status", None)  # psycopg 2: TRANSACTION_STATUS_IDLE is 0
    return status is None or int(status()) != 0


def _stat_rows(
    outcomes: Sequence[Outcome], lost_ids: set[UUID]
) -> Iterator[tuple[datetime, str, str, str, float]]:
    """What core.stats.rollup() counts of each written outcome."""
    return (
        (o.finished_at, o.job.queue_name, o.job.job_class, str(o.kind), o.duration_ms)
        for o in outcomes if o.job.id not in lost_ids
    )


def _rollup(outcomes: Sequence[Outcome], lost_ids: set[UUID]) -> Any:
    return stats.rollup(_stat_rows(outcomes, lost_ids))
