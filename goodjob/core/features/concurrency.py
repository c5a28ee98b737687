"""Concurrency controls by key: how many jobs with one key may wait, run, or start per period.

A job class declares ``concurrency = goodjob.Concurrency(...)`` (GoodJob's
``good_job_control_concurrency_with``). The key is computed once, at enqueue, and stored in
``good_jobs.concurrency_key``; a retry reuses the row, so it keeps its key.

* Enqueue rules (``enqueue_limit``, ``total_limit``, ``enqueue_throttle``) are counted in the
  enqueuing transaction under a transaction-level advisory lock on the key, so concurrent enqueuers
  cannot both take the last place. A refusal returns a falsy :class:`Enqueued`, never raises.
* Perform rules (``perform_limit``, ``perform_throttle``) are stored on the row, and the claim skips
  rows whose key is at its limit (``good_job_concurrency_claimable``, migration 0003): a worker never
  claims a job it may not run, so nothing spins. Rows the claim could not filter (inline mode, rows
  enqueued without stored rules) are checked before perform by :func:`admit`, and a refusal is
  recorded as a THROTTLED execution that comes back after a short backoff.

README.md ("Concurrency controls") explains the design and its costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from goodjob.core import events
from goodjob.core.enqueue import JobRequest
from goodjob.core.enqueue import insert_many as insert_plain_many
from goodjob.core.errors import GoodJobError
from goodjob.core.features.concurrency_rules import Concurrency, PerformRules, class_rules, period_of
from goodjob.core.storage import store
from goodjob.core.storage.db import Connection, Database, Executor, Record, is_connection
from goodjob.core.types import ClaimedJob, Enqueued, Outcome, OutcomeKind

log = logging.getLogger("goodjob")

MAX_THROTTLED_BACKOFF = 10.0  # seconds: a refused job never waits longer than this (plus jitter)


class ConcurrencyExceededError(GoodJobError):
    """Recorded, never raised: a perform rule turned the job away and it will run again later."""


# --- enqueue --------------------------------------------------------------------------------------


async def insert(ex: Executor, req: JobRequest, params: str, now: datetime) -> Enqueued:
    """Insert one job with a key and rules; a falsy Enqueued (and an event) if a rule refuses it.

    Only jobs with enqueue rules pay for a transaction (BEGIN, lock, count, insert, COMMIT); jobs with
    perform rules only are one statement, as any other enqueue.
    """
    rules, key = req.concurrency, req.concurrency_key
    assert rules is not None and key is not None
    if not rules.checks_enqueue:
        return await _insert(ex, req, params, now, rules)
    async with _transaction(ex) as conn:
        return await _checked_insert(conn, req, params, now, rules, key)


async def insert_many(
    ex: Executor, reqs: Sequence[JobRequest], params: Sequence[str], now: datetime
) -> list[Enqueued]:
    """Bulk enqueue: rows without rules in one statement, the others job by job (in key order, in
    one transaction, so that concurrent bulk enqueues take key locks in the same order)."""
    keyed = [i for i, r in enumerate(reqs) if r.concurrency is not None and r.concurrency_key is not None]
    if not keyed:
        return await insert_plain_many(ex, reqs, params, now)
    keyed_set = set(keyed)
    plain = [i for i in range(len(reqs)) if i not in keyed_set]
    results: dict[int, Enqueued] = {}
    async with _transaction(ex) as conn:
        if plain:
            done = await insert_plain_many(conn, [reqs[i] for i in plain], [params[i] for i in plain], now)
            results.update(zip(plain, done, strict=True))
        for i in sorted(keyed, key=lambda i: (reqs[i].concurrency_key or "", i)):
            req = reqs[i]
            assert req.concurrency is not None and req.concurrency_key is not None
            if req.concurrency.checks_enqueue:
                results[i] = await _checked_insert(conn, req, params[i], now, req.concurrency, req.concurrency_key)
            else:
                results[i] = await _insert(conn, req, params[i], now, req.concurrency)
    return [results[i] for i in range(len(reqs))]


async def _checked_insert(
    conn: Connection, req: JobRequest, params: str, now: datetime, rules: Concurrency, key: str
) -> Enqueued:
    await store.concurrency_lock_enqueue(conn, key)
    window = None
    if rules.enqueue_throttle is not None:
        window = now - timedelta(seconds=period_of(rules.enqueue_throttle))
    counts = await store.concurrency_enqueue_counts(conn, key, window, now)
    reason = enqueue_refusal(rules, key, counts)
    if reason is not None:
        return refused(req, reason)
    return await _insert(conn, req, params, now, rules)


def enqueue_refusal(rules: Concurrency, key: str, counts: Record) -> str | None:
    """Why one more job with ``key`` may not be enqueued now, or None. Counts as GoodJob does:
    ``enqueue_limit`` counts waiting jobs (queued, scheduled, retrying), ``total_limit`` waiting plus
    running, ``enqueue_throttle`` enqueues within the window."""
    queued, running, recent = counts["queued"], counts["running"], counts["recent"]
    if rules.enqueue_limit is not None and queued >= rules.enqueue_limit:
        return f"enqueue_limit={rules.enqueue_limit} reached for concurrency key {key!r} ({queued} waiting)"
    if rules.total_limit is not None and queued + running >= rules.total_limit:
        return (
            f"total_limit={rules.total_limit} reached for concurrency key {key!r} "
            f"({queued} waiting, {running} running)"
        )
    if rules.enqueue_throttle is not None and recent >= rules.enqueue_throttle[0]:
        count, period = rules.enqueue_throttle[0], period_of(rules.enqueue_throttle)
        return f"enqueue_throttle={count} per {period:g}s reached for concurrency key {key!r}"
    return None


async def _insert(ex: Executor, req: JobRequest, params: str, now: datetime, rules: Concurrency) -> Enqueued:
    perform = rules.perform_rules or PerformRules(None, None, None)
    scheduled_at = req.scheduled_at or now
    assert req.concurrency_key is not None
    inserted = await store.concurrency_insert_job(
        ex, id=req.id, queue_name=req.queue_name, priority=req.priority, job_class=req.job_class,
        params=params, scheduled_at=scheduled_at, concurrency_key=req.concurrency_key,
        labels=list(req.labels) or None, batch_id=req.batch_id, cron_key=req.cron_key, cron_at=req.cron_at,
        now=now, perform_limit=perform.limit, perform_throttle=perform.throttle, perform_period=perform.period,
        enqueue_event=rules.enqueue_throttle is not None,
        enqueue_period=period_of(rules.enqueue_throttle) if rules.enqueue_throttle is not None else None,
    )
    return Enqueued(
        req.id, req.queue_name, req.priority, scheduled_at, inserted, None if inserted else "duplicate"
    )


def refused(req: JobRequest, reason: str) -> Enqueued:
    events.emit("enqueue_refused", job_id=req.id, job_class=req.job_class, queue_name=req.queue_name,
                reason=reason, concurrency_key=req.concurrency_key)
    return Enqueued(req.id, req.queue_name, req.priority, req.scheduled_at or datetime.now(UTC), False, reason)


@contextlib.asynccontextmanager
async def _transaction(ex: Executor) -> AsyncIterator[Connection]:
    """The caller's connection (a savepoint inside its transaction: the key lock is then held until
    the caller commits, which is what keeps its uncommitted job counted), else one from the pool."""
    if is_connection(ex):
        conn: Connection = ex
        async with conn.transaction():
            yield conn
        return
    async with ex.acquire() as conn, conn.transaction():
        yield conn


# --- perform --------------------------------------------------------------------------------------


async def admit(ex: Executor, job: ClaimedJob, fallback: PerformRules | None) -> Outcome | None:
    """Check a claimed job against its perform rules; a THROTTLED outcome if it may not run now.

    For rows the claim did not filter. The rules stored on the row win; ``fallback`` (the class's)
    applies to rows enqueued without any. Counted under the same advisory lock as the claim's filter.
    """
    key = job.concurrency_key
    if key is None:
        return None
    limit, throttle, period = fallback or PerformRules(None, None, None)
    now = datetime.now(UTC)
    async with _transaction(ex) as conn:
        await store.concurrency_lock_perform(conn, key)
        row = await store.concurrency_admit_counts(conn, key, job.id, limit, throttle, period, now)
        if row is None:
            return None
        reason, delay = perform_refusal(key, row, now)
        if reason is None and row["throttle"] is not None:
            await store.concurrency_record_perform(conn, key, now, row["period"], job.id)
    if reason is None:
        return None
    return throttled(job, reason, delay)


def perform_refusal(key: str, row: Record, now: datetime) -> tuple[str | None, float]:
    """Why a claimed job may not run now, and how long it should wait before trying again.

    Over the limit: a backoff that doubles with each refusal of this job (0.5 s, 1 s, 2 s ... capped),
    with jitter so that refused jobs do not all come back together. Over the throttle: until the
    oldest perform in the window leaves it, plus jitter.
    """
    limit, running = row["perform_limit"], row["running"]
    if limit is not None and running >= limit:
        base = min(0.5 * 2.0 ** min(int(row["throttles"]), 16), MAX_THROTTLED_BACKOFF)
        return (
            f"perform_limit={limit} reached for concurrency key {key!r} ({running} running)",
            base * (1 + random.random() * 0.5),
        )
    throttle, period = row["throttle"], row["period"]
    if throttle is not None and row["recent"] >= throttle:
        free_at = (row["oldest"] or now) + timedelta(seconds=period)  # None: only claims not yet logged
        wait = max((free_at - now).total_seconds(), 0.05)
        return (
            f"perform_throttle={throttle} per {period:g}s reached for concurrency key {key!r}",
            wait + random.random() * min(1.0, 0.1 * period),
        )
    return None, 0.0


def throttled(job: ClaimedJob, reason: str, delay: float) -> Outcome:
    """The outcome of a refused attempt: not an error, runs again after ``delay`` seconds."""
    now = datetime.now(UTC)
    error = ConcurrencyExceededError(reason)
    return Outcome(
        job, OutcomeKind.THROTTLED, now, now, 0.0,
        error_class=f"{__name__}.{ConcurrencyExceededError.__name__}", error=reason,
        retry_at=now + timedelta(seconds=delay), exception=error,
    )


class PerformGate:
    """The scheduler's side of perform rules.

    * :meth:`claimed` notes what the claim could not do itself: rows it claimed under a perform
      throttle (their perform event is written by :meth:`admit` before the job runs, which keeps the
      claim statement as cheap as the plain one), and keyed rows without stored rules (checked by
      :meth:`admit` against their class's rules, GoodJob's way).
    * :meth:`finished` claims again once a keyed job's result is written: the rows its key was
      holding back are claimable only from that moment, and no NOTIFY announces it.
    """

    def __init__(self, database: Callable[[], Awaitable[Database]], drain: Callable[[], Awaitable[None]],
                 wake: Callable[[], None]) -> None:
        self._database = database
        self._drain = drain
        self._wake = wake
        self._unchecked: set[Any] = set()
        self._throttled: dict[Any, float] = {}  # job id -> perform_throttle period
        self._finished = 0
        self._waker: asyncio.Task[None] | None = None

    def claimed(self, rows: Sequence[Record]) -> None:
        for r in rows:
            if r["concurrency_key"] is None:
                continue
            if not r.get("concurrency_checked"):
                self._unchecked.add(r["id"])
            elif r["concurrency_perform_throttle"] is not None:
                self._throttled[r["id"]] = r["concurrency_perform_period"]

    async def admit(self, job: ClaimedJob) -> Outcome | None:
        """None if the job may run now; else its THROTTLED outcome."""
        period = self._throttled.pop(job.id, None)
        unchecked = job.id in self._unchecked
        self._unchecked.discard(job.id)
        rules = class_rules(job.job_class) if unchecked else None
        if period is None and rules is None:
            return None
        try:
            db = await self._database()
            if period is not None:
                assert job.concurrency_key is not None
                await store.concurrency_record_perform(db.pool, job.concurrency_key, datetime.now(UTC), period, job.id)
                return None
            return await admit(db.pool, job, rules)
        except Exception as exc:  # the job must not stay claimed, nor run uncounted: give it back
            log.warning("concurrency check for job %s failed (%s); it will run later", job.id, exc)
            return throttled(job, f"concurrency check failed: {exc}", 1.0 + random.random())

    def finished(self, job: ClaimedJob) -> None:
        if job.concurrency_key is None:
            return
        self._finished += 1
        if self._waker is None:
            self._waker = asyncio.get_running_loop().create_task(self._wake_when_recorded())

    async def _wake_when_recorded(self) -> None:
        try:
            while True:
                seen = self._finished
                await self._drain()
                self._wake()
                if seen == self._finished:
                    return
        finally:
            self._waker = None
