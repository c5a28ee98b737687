"""Cancelling running jobs (NOTIFY, and the heartbeat when LISTEN is off), goodjob.Snooze, and
goodjob.current_job() in every kind of job."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sample_jobs
from helpers import wait_for

import goodjob
from goodjob import jobs
from goodjob.core.worker.launcher import Worker

StartWorker = Callable[..., Awaitable[Worker]]
SEEN: list[dict[str, Any]] = []
SIDE_EFFECTS = """CREATE TABLE side_effects (id bigserial PRIMARY KEY, job_id uuid, marker text, pid int,
                  attempt int, at timestamptz NOT NULL DEFAULT clock_timestamp())"""


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


async def _has_state(conn: asyncpg.Connection, job_id: Any, state: str) -> bool:
    return await _state(conn, job_id) == state


async def _state(conn: asyncpg.Connection, job_id: Any) -> str:
    return str(await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", job_id))


async def test_cancel_stops_an_async_job_within_a_second(
    start_worker: StartWorker, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, gj: str
) -> None:
    monkeypatch.setenv("GOOD_JOB_DATABASE_URL", gj)
    await conn.execute(SIDE_EFFECTS)
    worker = await start_worker()
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    job = await sample_jobs.CancellableAsyncJob.perform_later("a")
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM side_effects WHERE marker = 'start:a'"))
    started = time.monotonic()
    record = await jobs.cancel(job.id)
    assert record.state == "running" and record.cancel_requested
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM side_effects WHERE marker = 'cancelled:a'"))
    assert time.monotonic() - started < 1.0
    await wait_for(lambda: _has_state(conn, job.id, "discarded"))
    done = await jobs.get(job.id, executions=True)
    assert done is not None and done.state == "discarded" and done.error.endswith("cancelled by operator")
    assert done.error_event == "cancelled" and [e.outcome for e in done.executions or ()] == ["cancelled"]
    assert (done.executions or ())[0].error_class == "goodjob.core.errors.JobCancelledError"
    with pytest.raises(goodjob.JobStateError, match="is discarded: cancel applies to"):
        await jobs.cancel(job.id)


async def test_a_def_job_sees_cancelled_and_the_heartbeat_delivers_it_without_listen(
    start_worker: StartWorker, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    worker = await start_worker(listen=False, poll_interval=0.2)  # as behind a transaction pooler
    worker.process.heartbeat_interval = 0.2  # type: ignore[union-attr]
    job = await sample_jobs.CooperativeThreadJob.perform_later(str(tmp_path))
    await wait_for(lambda: (tmp_path / "start-1").exists())
    assert (tmp_path / "start-1").read_text() == str(job.id)
    await jobs.cancel(job.id)
    await wait_for(lambda: (tmp_path / "saw-cancel").exists())
    assert (tmp_path / "saw-cancel").read_text().startswith("goodjob-pool")  # it ran in a pool thread
    await wait_for(lambda: _has_state(conn, job.id, "discarded"))
    assert (await conn.fetchval("SELECT error FROM good_jobs WHERE id = $1", job.id)).endswith("cancelled by operator")


async def test_a_cancel_the_process_never_heard_of_still_keeps_the_job_from_running_again(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    # The mark reaches the database, the NOTIFY does not (no LISTEN, heartbeat far off), and the
    # worker is shut down: the interrupted job would be queued again; the mark discards it instead.
    worker = await start_worker(listen=False, poll_interval=0.2, shutdown_timeout=0)
    worker.process.heartbeat_interval = 3600  # type: ignore[union-attr]
    job = await sample_jobs.SleepJob.perform_later(300)
    await wait_for(lambda: _has_state(conn, job.id, "running"))
    await jobs.cancel(job.id)
    await worker.shutdown(timeout=0)
    assert await _state(conn, job.id) == "discarded"
    assert await conn.fetchval("SELECT error_event FROM good_jobs WHERE id = $1", job.id) == "cancelled"


class SnoozeJob(goodjob.Job):
    def perform(self, times: int) -> None:
        current = goodjob.current_job()
        SEEN.append({"attempt": current.attempt})
        if len(SEEN) <= times:
            raise goodjob.Snooze(timedelta(seconds=0.2) if len(SEEN) == 1 else 0.1)


async def test_snooze_reschedules_without_an_attempt_or_an_error(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    await start_worker(poll_interval=0.1, preserve_job_records=True)
    job = await SnoozeJob.perform_later(2)
    await wait_for(lambda: _has_state(conn, job.id, "succeeded"))
    record = await jobs.get(job.id, executions=True)
    assert record is not None and record.attempts == 1 and record.error is None
    assert [e.outcome for e in record.executions or ()] == ["snoozed", "snoozed", "succeeded"]
    assert [s["attempt"] for s in SEEN] == [1, 1, 1]
    gaps = [(b.started_at - a.finished_at).total_seconds()  # type: ignore[operator]
            for a, b in zip(record.executions or (), (record.executions or ())[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.1


def test_snooze_names_a_bad_value() -> None:
    with pytest.raises(goodjob.ConfigurationError, match="Snooze\\(seconds='soon'\\)"):
        goodjob.Snooze("soon")  # type: ignore[arg-type]
    with pytest.raises(goodjob.ConfigurationError, match="-1"):
        goodjob.Snooze(-1)


class AsyncIntrospect(goodjob.Job):
    queue_name = "intro"
    priority = 4
    labels = ("x",)

    async def perform(self) -> None:
        c = goodjob.current_job()
        SEEN.append({"kind": "class-async", "id": c.id, "attempt": c.attempt, "queue": c.queue,
                     "priority": c.priority, "labels": c.labels, "cancelled": c.cancelled,
                     "shutting_down": c.shutting_down, "batch": c.batch})


@goodjob.job(queue="intro")
def sync_introspect() -> None:
    c = goodjob.current_job()
    SEEN.append({"kind": "function-def", "id": c.id, "batch_id": c.batch_id, "attempt": c.attempt})


async def test_current_job_in_every_kind_of_job(start_worker: StartWorker) -> None:
    await start_worker(queues="intro")
    first = await AsyncIntrospect.perform_later()
    async with goodjob.Batch() as batch:
        second = await sync_introspect.perform_later()
    await wait_for(lambda: len(SEEN) == 2)
    by_kind = {s["kind"]: s for s in SEEN}
    assert by_kind["class-async"] == {"kind": "class-async", "id": first.id, "attempt": 1, "queue": "intro",
                                      "priority": 4, "labels": ("x",), "cancelled": False,
                                      "shutting_down": False, "batch": None}
    assert by_kind["function-def"] == {"kind": "function-def", "id": second.id, "batch_id": batch.id, "attempt": 1}
    await AsyncIntrospect.perform_now()  # no database: no id, attempt 1
    assert SEEN[-1]["id"] is None and SEEN[-1]["attempt"] == 1
    with pytest.raises(goodjob.GoodJobError, match="outside a job"):
        goodjob.current_job()


async def test_cancelling_a_job_that_raised_cancelled_error_itself_is_not_a_cancel(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    # A job raising CancelledError on its own is not an operator's cancel (issue 11 owns its meaning).
    class RaisesCancelled(goodjob.Job):
        async def perform(self) -> None:
            raise asyncio.CancelledError

    await start_worker(poll_interval=0.1)
    job = await RaisesCancelled.perform_later()
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM good_job_executions WHERE job_id = $1", job.id))
    assert await conn.fetchval("SELECT outcome FROM good_job_executions WHERE job_id = $1", job.id) != "cancelled"
