"""Claiming ahead (core/worker/scheduler.py): while a backlog of short jobs lasts, a pool claims, beyond
its free slots, what it will start during one claim's round trip, so a freed slot never waits for a claim's round trip.
Those rows are `running` before they start: a stop gives them back untouched, an operator's cancel
records them cancelled without running them, and nothing runs twice. Also: a result writer cancelled
mid-write hands its batch to another writer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from helpers import wait_for

import goodjob
from goodjob import jobs
from goodjob.core.storage import store
from goodjob.core.worker.launcher import Worker

StartWorker = Callable[..., Awaitable[Worker]]
RAN: list[str] = []
GATE: list[asyncio.Event] = []  # one per test: an Event belongs to the loop it was first used on


class QuickJob(goodjob.Job):
    async def perform(self, tag: str) -> None:
        RAN.append(tag)


class GateJob(goodjob.Job):
    async def perform(self, tag: str) -> None:
        RAN.append(tag)
        await GATE[0].wait()


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()
    GATE[:] = [asyncio.Event()]


def _count_claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    limits: list[int] = []
    original = store.claim_queues

    async def counted(ex: Any, limit: int, *args: Any, **kwargs: Any) -> Any:
        limits.append(limit)
        return await original(ex, limit, *args, **kwargs)

    monkeypatch.setattr(store, "claim_queues", counted)
    return limits


async def test_a_drain_of_short_jobs_claims_ahead_and_runs_each_job_once(
    start_worker: StartWorker, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = _count_claims(monkeypatch)
    await goodjob.perform_all_later([QuickJob.new(str(i)) for i in range(300)])
    await start_worker(queues="default:2", poll_interval=30)
    await wait_for(lambda: len(RAN) >= 300, timeout=30)
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 0 FROM good_jobs"), timeout=10)
    assert sorted(RAN) == sorted(str(i) for i in range(300))  # every job once
    # A pool of 2 slots asked for more than 2 rows: the second round, claimed while jobs ran.
    assert max(limits) > 2, limits


async def _blocked_with_jobs_ahead(start_worker: StartWorker, conn: asyncpg.Connection) -> tuple[Worker, Any]:
    """A 1-slot pool drains short jobs, then blocks on GateJob with the next jobs claimed ahead
    (returns the first of them)."""
    await goodjob.perform_all_later([QuickJob.new(f"q{i}") for i in range(40)])
    gate = await GateJob.perform_later("gate")
    await goodjob.perform_all_later([QuickJob.new(f"tail{i}") for i in range(5)])
    worker = await start_worker(queues="default:1", poll_interval=30)
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    scheduler = worker.schedulers[0]
    await wait_for(lambda: "gate" in RAN and scheduler.waiting >= 1, timeout=30)
    ahead = scheduler._ahead[0]
    assert ahead.id != gate.id and await conn.fetchval(
        "SELECT state FROM good_jobs WHERE id = $1", ahead.id) == "running"
    return worker, ahead


async def test_a_stop_gives_jobs_claimed_ahead_back_untouched(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    worker, _ = await _blocked_with_jobs_ahead(start_worker, conn)
    ahead_ids = [job.id for job in worker.schedulers[0]._ahead]
    before = [f"tail{i}" for i in range(5) if f"tail{i}" in RAN]
    await worker.shutdown(timeout=0.2)  # the gate job is interrupted; the jobs claimed ahead never started
    rows = await conn.fetch(
        "SELECT state, locked_by_id, executions_count FROM good_jobs WHERE id = ANY($1::uuid[])", ahead_ids
    )
    assert len(rows) == len(ahead_ids) >= 1
    assert {(r["state"], r["locked_by_id"], r["executions_count"]) for r in rows} == {("queued", None, 0)}
    assert await conn.fetchval(
        "SELECT count(*) FROM good_job_executions WHERE job_id = ANY($1::uuid[])", ahead_ids) == 0
    assert [t for t in RAN if t.startswith("tail")] == before
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state = 'running'") == 0


async def test_cancelling_a_job_claimed_ahead_records_it_cancelled_without_running_it(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    worker, ahead = await _blocked_with_jobs_ahead(start_worker, conn)
    record = await jobs.cancel(ahead.id)
    # The worker hears the cancel and records it at once (nothing to stop): the state cancel()
    # reads back may already be the outcome.
    assert record.cancel_requested and record.state in ("running", "discarded"), record
    await wait_for(lambda: conn.fetchval("SELECT state = 'discarded' FROM good_jobs WHERE id = $1", ahead.id))
    assert ahead.id not in {job.id for job in worker.schedulers[0]._ahead}
    GATE[0].set()
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 1 FROM good_jobs"), timeout=30)  # only the cancelled row
    done = await jobs.get(ahead.id, executions=True)
    assert done is not None and done.error_event == "cancelled"
    assert [e.outcome for e in done.executions or ()] == ["cancelled"]
    ran_tails = [t for t in RAN if t.startswith("tail")]
    assert len(ran_tails) == 4 and len(set(ran_tails)) == 4  # the other four ran, once each


async def test_a_result_writer_cancelled_mid_write_leaves_its_results_to_another(
    start_worker: StartWorker, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer cancelled while its statement is out (a loop being torn down) puts its batch back:
    another writer writes it, so the finished job is not left `running` to run again later."""
    blocked = asyncio.Event()
    original = store.record_outcomes
    calls: list[int] = []

    async def first_call_hangs(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            blocked.set()
            await asyncio.Event().wait()  # until cancelled
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, "record_outcomes", first_call_hangs)
    # Preserved records always go through the recorder (a deleted row may ride the next claim).
    worker = await start_worker(queues="default:1", poll_interval=30, preserve_job_records=True)
    job = await QuickJob.perform_later("once")
    await wait_for(blocked.is_set, timeout=10)
    assert worker.recorder is not None
    writers = list(worker.recorder._writers)
    assert len(writers) == 1
    writers[0].cancel()
    await wait_for(lambda: conn.fetchval("SELECT state = 'succeeded' FROM good_jobs WHERE id = $1", job.id), timeout=10)
    assert RAN == ["once"] and len(calls) == 2
