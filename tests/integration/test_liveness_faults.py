"""Liveness under faults with one cluster sweeper (issues 11 and 12 together).

issue 12 moved recovery into one sweeper chosen by the heartbeat statement; issue 11's rules must
hold inside it: a row locked by a process id with no process row is recovered within seconds (not
by a slow orphan sweep), an inline caller's row (no lock, no heartbeat) is not taken for a dead
worker, and a process that just took its lock again after losing it declares nobody dead until
the others had time to come back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from helpers import wait_for

import goodjob
from goodjob.core.worker import liveness

RAN: list[str] = []


class MarkJob(goodjob.Job):
    async def perform(self, marker: str) -> None:
        RAN.append(marker)


async def _running_job(conn: asyncpg.Connection, marker: str, owner: uuid.UUID, age: float) -> uuid.UUID:
    job_id = uuid.uuid4()
    locked = datetime.now(UTC) - timedelta(seconds=age)
    await conn.execute(
        "INSERT INTO good_jobs (id, job_class, serialized_params, state, scheduled_at, locked_by_id, locked_at, "
        "performed_at, executions_count) VALUES ($1, $2, $3::jsonb, 'running', $4, $5, $4, $4, 1)",
        job_id, MarkJob.job_name, f'{{"args": ["{marker}"], "kwargs": {{}}}}', locked, owner,
    )
    return job_id


async def _process_row(conn: asyncpg.Connection, mode: str, age: float) -> uuid.UUID:
    pid = uuid.uuid4()
    await conn.execute(
        "INSERT INTO good_job_processes (id, hostname, pid, queues, max_threads, lock_key, execution_mode,"
        " heartbeat_at) VALUES ($1, 'elsewhere', 1, '*', 1, 4242, $2,"
        " clock_timestamp() - make_interval(secs => $3))", pid, mode, age,
    )
    return pid


async def _settled(process: liveness.ProcessRecord) -> None:
    """One heartbeat (as the sweeper) and the recovery it started, if any."""
    await process.heartbeat()
    assert process.leader
    task = process._recovering
    if task is not None:
        await task


async def test_an_orphan_that_appears_while_workers_run_is_recovered_within_seconds(
    start_worker: Any, conn: asyncpg.Connection
) -> None:
    RAN.clear()
    worker = await start_worker()
    assert worker.process is not None
    await wait_for(lambda: worker.process.leader, timeout=10)
    # After the start-up recovery: only the sweeper's periodic work can find this one.
    await _running_job(conn, "orphan", uuid.uuid4(), age=30)
    started = time.monotonic()
    await wait_for(lambda: "orphan" in RAN, timeout=liveness.HEARTBEAT_INTERVAL + 6)
    assert time.monotonic() - started < liveness.HEARTBEAT_INTERVAL + 5


async def test_the_sweeper_leaves_an_inline_perform_alone_until_its_row_is_an_hour_old(
    start_worker: Any, conn: asyncpg.Connection
) -> None:
    RAN.clear()
    worker = await start_worker()
    process = worker.process
    assert process is not None
    await wait_for(lambda: process.leader, timeout=10)
    busy = await _process_row(conn, "inline", 60)  # a long inline perform: lockless, no heartbeat
    held = await _running_job(conn, "inline-busy", busy, age=60)
    gone = await _process_row(conn, "inline", liveness.INLINE_AGE + 60)  # its caller died long ago
    await _running_job(conn, "inline-gone", gone, age=liveness.INLINE_AGE + 60)
    await _settled(process)
    await wait_for(lambda: "inline-gone" in RAN, timeout=10)
    await _settled(process)
    assert await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", held) == "running"
    assert await conn.fetchval("SELECT count(*) FROM good_job_processes WHERE id = $1", busy) == 1
    assert await process.recover() == []
    # Inline rows are not wake-up routing members (nor sweeper candidates).
    assert worker.router is not None and worker.router.size == 1


@pytest.mark.slow
async def test_after_taking_its_lock_again_a_process_declares_nobody_dead_at_once(
    start_worker: Any, conn: asyncpg.Connection
) -> None:
    RAN.clear()
    worker = await start_worker()
    process = worker.process
    assert process is not None
    await wait_for(lambda: process.leader, timeout=10)
    killed = await conn.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'goodjob-session' AND datname = current_database()"
    )
    assert killed == 1
    await wait_for(lambda: process._reconnected and process._lock_conn is not None, timeout=15)
    relocked = time.monotonic()
    # Looks dead (lock free, heartbeat stale), as every live process does right after a restart.
    stale = await _process_row(conn, "external", 60)
    await _running_job(conn, "stale", stale, age=60)
    assert not process.trusts_others()
    assert await process.recover() == []
    await wait_for(lambda: "stale" in RAN, timeout=liveness.RESWEEP_AFTER_RECONNECT + 20)
    assert time.monotonic() - relocked >= liveness.RESWEEP_AFTER_RECONNECT - 0.5


async def test_without_its_own_lock_a_process_declares_nobody_dead(
    start_worker: Any, conn: asyncpg.Connection
) -> None:
    RAN.clear()
    worker = await start_worker()
    process = worker.process
    assert process is not None and process._lock_conn is not None
    for task in process._tasks:  # no heartbeat meanwhile: it would take the lock again itself
        task.cancel()
    stale = await _process_row(conn, "external", 60)
    job = await _running_job(conn, "lockless", stale, age=60)
    lock_conn = process._lock_conn
    process._lock_conn = None  # as between the drop of the session connection and the relock
    try:
        assert not process.trusts_others()
        assert await process.recover() == []
    finally:
        process._lock_conn = lock_conn
    assert await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", job) == "running"
    assert [r["id"] for r in await asyncio.wait_for(process.recover(), timeout=10)] == [job]
    await wait_for(lambda: "lockless" in RAN, timeout=10)
