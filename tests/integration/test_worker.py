"""The worker engine in-process: wake-ups, ordering, isolation, reconnects, unknown classes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
import sample_jobs
from helpers import wait_for

import goodjob
from goodjob.core.runtime import get_runtime
from goodjob.core.worker.launcher import Worker

StartWorker = Callable[..., Awaitable[Worker]]

ORDER: list[str] = []


class OrderJob(goodjob.Job):
    async def perform(self, label: str) -> None:
        ORDER.append(label)


class BlockJob(goodjob.Job):
    release: asyncio.Event | None = None

    async def perform(self, label: str) -> None:
        ORDER.append(f"start:{label}")
        assert BlockJob.release is not None
        await BlockJob.release.wait()
        ORDER.append(f"end:{label}")


@pytest.fixture(autouse=True)
def _clear_order() -> None:
    ORDER.clear()
    sample_jobs.CALLS.clear()


async def test_notify_wakes_an_idle_worker_without_polling(start_worker: StartWorker) -> None:
    worker = await start_worker(poll_interval=-1)
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    started = time.monotonic()
    await OrderJob.perform_later("notified")
    await wait_for(lambda: ORDER == ["notified"], timeout=10)
    assert time.monotonic() - started < 5  # no poll: only NOTIFY could have woken it


@pytest.mark.pgbouncer
async def test_polling_finds_jobs_when_listen_is_off(start_worker: StartWorker) -> None:
    await start_worker(poll_interval=0.2, listen=False)
    await OrderJob.perform_later("polled")
    await wait_for(lambda: ORDER == ["polled"], timeout=10)


async def test_scheduled_cache_fires_on_time(start_worker: StartWorker, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)
    worker = await start_worker(poll_interval=-1)
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    result = await OrderJob.set(wait=1.0).perform_later("scheduled")
    await wait_for(lambda: ORDER == ["scheduled"], timeout=10)
    await wait_for(lambda: conn.fetchval("SELECT performed_at FROM good_jobs WHERE id = $1", result.id))
    performed = await conn.fetchval("SELECT performed_at FROM good_jobs WHERE id = $1", result.id)
    late = (performed - result.scheduled_at).total_seconds()
    assert 0 <= late < 0.5, f"started {late:.3f}s after its scheduled time"


async def test_cache_is_warmed_at_start(start_worker: StartWorker) -> None:
    await OrderJob.set(wait=1.0).perform_later("warm")
    worker = await start_worker(poll_interval=-1)
    assert worker._cache, "the future job should be in the cache"
    await wait_for(lambda: ORDER == ["warm"], timeout=10)


@pytest.mark.pgbouncer
async def test_priority_then_time_order(start_worker: StartWorker) -> None:
    await OrderJob.set(priority=5).perform_later("p5")
    await OrderJob.set(priority=-1).perform_later("p-1")
    await OrderJob.set(priority=0).perform_later("p0-first")
    await OrderJob.set(priority=0).perform_later("p0-second")
    await start_worker(max_threads=1, queues="*:1")
    await wait_for(lambda: len(ORDER) == 4)
    assert ORDER == ["p-1", "p0-first", "p0-second", "p5"]


async def test_plus_queues_come_in_order_before_priority(start_worker: StartWorker) -> None:
    await OrderJob.set(queue="low", priority=-10).perform_later("low")
    await OrderJob.set(queue="high", priority=10).perform_later("high")
    await OrderJob.set(queue="mid", priority=0).perform_later("mid")
    await start_worker(queues="+high,mid,low:1")
    await wait_for(lambda: len(ORDER) == 3)
    assert ORDER == ["high", "mid", "low"]


@pytest.mark.pgbouncer
async def test_exclusion_pool_skips_excluded_queues(start_worker: StartWorker, conn: asyncpg.Connection) -> None:
    await OrderJob.set(queue="mail").perform_later("mail")
    await OrderJob.set(queue="batch").perform_later("batch")
    await OrderJob.set(queue="other").perform_later("other")
    await start_worker(queues="-mail,batch:2")
    await wait_for(lambda: ORDER == ["other"])
    await asyncio.sleep(0.3)
    assert ORDER == ["other"]
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state = 'queued'") == 2


async def test_a_busy_pool_never_starves_another(start_worker: StartWorker) -> None:
    BlockJob.release = asyncio.Event()
    await start_worker(queues="slow:1;fast:1")
    await BlockJob.set(queue="slow").perform_later("a")
    await BlockJob.set(queue="slow").perform_later("b")
    await wait_for(lambda: "start:a" in ORDER)
    await OrderJob.set(queue="fast").perform_later("fast")
    await wait_for(lambda: "fast" in ORDER)
    assert "start:b" not in ORDER  # the slow pool has one slot and it is taken
    BlockJob.release.set()
    await wait_for(lambda: "end:b" in ORDER)


@pytest.mark.pgbouncer
async def test_pool_runs_at_most_n_jobs_at_once(start_worker: StartWorker) -> None:
    BlockJob.release = asyncio.Event()
    worker = await start_worker(queues="*:3")
    for i in range(6):
        await BlockJob.perform_later(str(i))
    await wait_for(lambda: sum(1 for x in ORDER if x.startswith("start:")) == 3)
    await asyncio.sleep(0.2)
    assert sum(1 for x in ORDER if x.startswith("start:")) == 3
    assert worker.running_count == 3
    BlockJob.release.set()
    await wait_for(lambda: sum(1 for x in ORDER if x.startswith("end:")) == 6)


async def test_listener_reconnects_after_terminate(start_worker: StartWorker, conn: asyncpg.Connection) -> None:
    worker = await start_worker(poll_interval=-1)
    assert worker.notifier is not None
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    killed = await conn.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'goodjob-session' AND datname = current_database()"
    )
    assert killed == 1
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connections >= 2, timeout=20)
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    await OrderJob.perform_later("after reconnect")
    await wait_for(lambda: ORDER == ["after reconnect"], timeout=10)


@pytest.mark.pgbouncer
async def test_unknown_job_class_is_recorded_and_worker_keeps_going(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    goodjob.configure(preserve_job_records=True, retry_on_unhandled_error=False)
    bad = uuid.uuid4()
    await conn.execute(
        "INSERT INTO good_jobs (id, job_class, serialized_params) VALUES ($1, 'gone.Away', '{}')", bad
    )
    await start_worker()
    await OrderJob.perform_later("still works")
    await wait_for(lambda: ORDER == ["still works"])

    async def discarded() -> bool:
        return await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", bad) == "discarded"

    await wait_for(discarded)
    row = await conn.fetchrow("SELECT error, error_event FROM good_jobs WHERE id = $1", bad)
    assert "gone.Away" in row["error"] and row["error_event"] == "unhandled"


@pytest.mark.pgbouncer
async def test_process_row_registered_and_removed(start_worker: StartWorker, conn: asyncpg.Connection) -> None:
    worker = await start_worker(queues="a:2;b:1")
    row = await conn.fetchrow("SELECT * FROM good_job_processes")
    assert row["queues"] == "a:2;b:1" and row["max_threads"] == 3 and row["pid"] > 0
    await worker.shutdown(timeout=5)
    assert await conn.fetchval("SELECT count(*) FROM good_job_processes") == 0


def test_missing_schema_is_a_clear_error(gj: str, make_database: Callable[..., str]) -> None:
    url = make_database(migrated=False)
    goodjob.configure(database_url=url)
    get_runtime().reset()
    runtime = get_runtime()

    async def get_url() -> str:
        return url

    async def main() -> None:
        worker = Worker(goodjob.current_config(), database=runtime.database, url=get_url)
        try:
            with pytest.raises(goodjob.SchemaMissingError, match="goodjob migrate"):
                await worker.start()
        finally:
            await runtime.close_database()

    asyncio.run(main())


async def test_a_dropped_liveness_connection_does_not_make_a_job_run_twice(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    BlockJob.release = asyncio.Event()
    busy = await start_worker(queues="*:1")
    other = await start_worker(queues="*:1")
    job = await BlockJob.perform_later("long")
    await wait_for(lambda: busy.running_count + other.running_count == 1)
    owner = busy if busy.running_count else other
    rescuer = other if owner is busy else busy
    assert owner.process is not None and rescuer.process is not None
    # Drop the owner's liveness connection (a network hiccup): its advisory lock is released.
    killed = await conn.fetchval(
        "SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
        "WHERE l.locktype = 'advisory' AND l.objid = ($1::bigint & 4294967295)::oid "
        "AND l.classid = (($1::bigint >> 32) & 4294967295)::oid",
        owner.process.lock_key,
    )
    assert killed == 1
    # The lock is free, but the heartbeat (on other connections) is fresh: nobody recovers the job.
    assert await rescuer.process.recover() == []
    # The owner takes its lock again on its next heartbeat...
    async def relocked() -> bool:
        return bool(await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objid = ($1::bigint & 4294967295)::oid", owner.process.lock_key))

    await wait_for(relocked, timeout=15)
    assert await rescuer.process.recover() == []
    # ...and the job finishes once, on its first attempt, where it started.
    BlockJob.release.set()
    await wait_for(lambda: "end:long" in ORDER)
    assert ORDER.count("start:long") == 1
    assert await conn.fetchval("SELECT count(*) FROM good_job_executions WHERE outcome = 'interrupted'") == 0
    del job
