"""Batches in the database: create, close, settle (finish and callbacks), retry, read, sweep.

The public API is :class:`goodjob.Batch` (goodjob/batch.py); this module is what it, the recorder,
the worker and the dashboard share. Design (README.md ("Cron, batches, pauses and labels")):

* A batch's jobs carry its id in ``good_jobs.batch_id``. Their rows are kept when they finish even
  with ``preserve_job_records`` off (the age-based cleanup still removes them), so progress, the
  dashboard's list of a batch's jobs and :func:`retry` (which re-queues discarded rows) all work
  from the rows themselves; no counter has to be kept in step by every path that changes a job.
* A batch finishes when it was *enqueued* (the block that created it ended) and none of its jobs is
  queued or running; a retried job is queued again, so it is not finished. :func:`settle` decides
  that under a row lock on the batch (``batch_lock`` then ``batch_settle`` in one transaction), in
  the recorder's own transaction, so of two workers finishing the last two jobs at once exactly one
  sets ``finished_at`` and enqueues the callbacks, atomically with the result that finished it.
* Callbacks: ``discard`` when the first discarded job is seen, ``finish`` when all jobs finished,
  ``success`` when all finished and none was discarded. A callback job is performed as
  ``perform(batch, event)`` with the loaded :class:`goodjob.Batch` and "finish"/"success"/"discard".
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from goodjob.core import enqueue
from goodjob.core.serialize import dump_arguments, loads_arguments
from goodjob.core.storage import store
from goodjob.core.storage.db import Connection, Executor, is_connection, is_connection_error
from goodjob.core.types import Enqueued, Outcome, OutcomeKind

log = logging.getLogger("goodjob")

EVENTS = ("finish", "success", "discard")
#: Outcomes after which a job is finished (the others leave it queued to run again).
FINISHED = (OutcomeKind.SUCCEEDED, OutcomeKind.HANDLED, OutcomeKind.DISCARDED)
SWEEP_LIMIT = 100


@dataclass(frozen=True)
class CallbackSpec:
    """A callback job class, with the queue and priority its row gets."""

    job_class: str
    queue_name: str = "default"
    priority: int = 0
    labels: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"job_class": self.job_class, "queue_name": self.queue_name, "priority": self.priority,
                "labels": list(self.labels)}


@dataclass(frozen=True)
class BatchRecord:
    """A batch row with its jobs counted by state."""

    id: UUID
    description: str | None
    properties: dict[str, Any]
    callbacks: dict[str, str]  # event -> job class
    enqueued_at: datetime | None
    discarded_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    counts: dict[str, int] = field(default_factory=dict)  # state -> jobs

    @property
    def jobs_count(self) -> int:
        return sum(self.counts.values())

    @property
    def finished_count(self) -> int:
        return self.counts.get("succeeded", 0) + self.counts.get("discarded", 0)

    @property
    def discarded_count(self) -> int:
        return self.counts.get("discarded", 0)

    @property
    def status(self) -> str:
        """open (still being filled), running, succeeded or discarded (finished with discards)."""
        if self.finished_at is not None:
            return "discarded" if self.discarded_at is not None else "succeeded"
        return "running" if self.enqueued_at is not None else "open"

    @property
    def succeeded(self) -> bool:
        return self.finished_at is not None and self.discarded_at is None


def encode_properties(properties: Mapping[str, Any]) -> str:
    """Properties are stored like job keyword arguments, so they come back with their types."""
    return json.dumps(dump_arguments((), properties)["kwargs"], separators=(",", ":"), ensure_ascii=False)


def decode_properties(text: str) -> dict[str, Any]:
    _, kwargs = loads_arguments('{"args":[],"kwargs":' + text + "}")
    return kwargs


def _record(row: Any, counts: dict[str, int]) -> BatchRecord:
    callbacks = json.loads(row["callbacks"]) if row["callbacks"] else {}
    return BatchRecord(
        id=row["id"], description=row["description"], properties=decode_properties(row["properties"]),
        callbacks={event: spec["job_class"] for event, spec in callbacks.items()},
        enqueued_at=row["enqueued_at"], discarded_at=row["discarded_at"], finished_at=row["finished_at"],
        created_at=row["created_at"], counts=counts,
    )


# --- writes ---------------------------------------------------------------------------------------


async def create(
    ex: Executor, batch_id: UUID, *, description: str | None, properties: Mapping[str, Any],
    callbacks: Mapping[str, CallbackSpec], now: datetime | None = None,
) -> None:
    unknown = sorted(set(callbacks) - set(EVENTS))
    if unknown:
        raise ValueError(f"unknown batch callback(s) {', '.join(unknown)}; expected {', '.join(EVENTS)}")
    encoded = encode_properties(properties)  # raises SerializationError before anything is written
    specs = json.dumps({event: spec.as_json() for event, spec in callbacks.items()})
    await store.batch_insert(ex, batch_id, description, encoded, specs, now or datetime.now(UTC))


async def close(conn: Connection, batch_id: UUID, now: datetime | None = None) -> list[Enqueued]:
    """Mark the batch enqueued (its block ended) and settle it: it may already be finished."""
    now = now or datetime.now(UTC)
    async with conn.transaction():
        await store.batch_mark_enqueued(conn, batch_id, now)
        return await settle(conn, [batch_id], now)


async def settle(conn: Connection, batch_ids: Sequence[UUID], now: datetime | None = None) -> list[Enqueued]:
    """Finish (and discard-flag) these batches if due and enqueue their callbacks. Must run inside a
    transaction, after the job results it reacts to were written in it (or committed)."""
    ids = sorted(set(batch_ids))
    if not ids:
        return []
    now = now or datetime.now(UTC)
    await store.batch_lock(conn, ids)
    fired: list[Enqueued] = []
    for row in await store.batch_settle(conn, ids, now):
        specs = json.loads(row["callbacks"]) if row["callbacks"] else {}
        events = []
        if row["newly_discarded"]:
            events.append("discard")
        if row["done"]:
            events.append("finish")
            if not row["any_discarded"]:
                events.append("success")
        for event in events:
            spec = specs.get(event)
            if spec is not None:
                fired.append(await _enqueue_callback(conn, row["id"], event, spec, now))
    return fired


async def _enqueue_callback(conn: Connection, batch_id: UUID, event: str, spec: Mapping[str, Any],
                            now: datetime) -> Enqueued:
    req = enqueue.JobRequest(
        job_class=spec["job_class"], args=(UUID(int=batch_id.int), event),  # asyncpg's UUID: a plain one
        queue_name=spec.get("queue_name") or "default", priority=int(spec.get("priority") or 0),
        labels=tuple(spec.get("labels") or ()),
        meta={"batch_callback": True},
    )
    return await enqueue.insert(conn, req, req.params_json(), now)


async def after_results(conn: Connection, outcomes: Sequence[Outcome], now: datetime | None = None) -> None:
    """The recorder's hook, in its transaction: settle the batches of jobs that just finished.

    In a savepoint: should settling fail, the job results still commit (a job must never stay
    "running" because of its batch) and the sweeper settles the batch later.
    """
    ids = [o.job.batch_id for o in outcomes if o.job.batch_id is not None and o.kind in FINISHED]
    if not ids:
        return
    try:
        async with conn.transaction():
            await settle(conn, [i for i in ids if i is not None], now)
    except Exception as exc:
        if is_connection_error(exc):
            raise
        log.exception("settling batches %s failed; the sweeper will retry", sorted(set(map(str, ids))))


async def retry(ex: Executor, batch_id: UUID, now: datetime | None = None) -> int:
    """Re-queue the batch's discarded jobs (due now) and reopen it; returns how many were re-queued."""
    now = now or datetime.now(UTC)
    async with _connection(ex) as conn, conn.transaction():
        await store.batch_lock(conn, [batch_id])
        return await store.batch_retry(conn, batch_id, now)


@contextlib.asynccontextmanager
async def _connection(ex: Executor) -> AsyncIterator[Connection]:
    if is_connection(ex):
        yield ex
    else:
        async with ex.acquire() as conn:
            yield conn


async def sweep(conn: Connection, *, now: datetime | None = None, cleanup_before: datetime | None = None) -> int:
    """Settle open batches whose jobs finished by other paths (an operator's discard); with
    ``cleanup_before``, also delete finished batches older than that whose jobs are gone."""
    now = now or datetime.now(UTC)
    settled = 0
    ids = await store.batch_unsettled(conn, SWEEP_LIMIT)
    for batch_id in ids:  # one short transaction each: a sweep never holds many locks
        async with conn.transaction():
            await settle(conn, [batch_id], now)
        settled += 1
    if cleanup_before is not None:
        await store.batch_cleanup(conn, cleanup_before, 1000)
    return settled


# --- reads ----------------------------------------------------------------------------------------


async def find(ex: Executor, batch_id: UUID) -> BatchRecord | None:
    row = await store.batch_get(ex, batch_id)
    if row is None:
        return None
    counts = await store.batch_counts(ex, [batch_id])
    return _record(row, counts.get(batch_id, {}))


async def list_batches(ex: Executor, *, after: UUID | None = None, limit: int = 50) -> list[BatchRecord]:
    """Newest first; pass the last id of a page as ``after`` for the next one."""
    rows = await store.batch_list(ex, after, limit)
    counts = await store.batch_counts(ex, [r["id"] for r in rows]) if rows else {}
    return [_record(r, counts.get(r["id"], {})) for r in rows]


async def jobs(ex: Executor, batch_id: UUID, *, after: UUID | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return [dict(r) for r in await store.batch_jobs(ex, batch_id, after, limit)]


def cleanup_cutoff(seconds: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
