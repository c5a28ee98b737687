"""Run-once under odd exceptions, timeouts, lost claims and lost writes (issue 11).

Each test reproduces one defect of the engine through a real worker and a real Postgres: the fault
is real too (a job that raises BaseException, a thread that outlives its timeout, a claim whose
result cannot reach the client, a result write that Postgres refuses).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from helpers import wait_for

import goodjob

LOG: list[tuple[Any, ...]] = []


class CustomBaseError(BaseException):
    pass


class RaisesBaseExceptionJob(goodjob.Job):
    async def perform(self, kind: str) -> None:
        LOG.append(("base", self.job_id, self.executions))
        if kind == "custom":
            raise CustomBaseError("not an Exception")
        raise GeneratorExit("generator exit from job code")


class RaisesInterruptJob(goodjob.Job):
    """Raises, itself, what a worker's interruption would look like."""

    async def perform(self, kind: str) -> None:
        LOG.append(("interrupt", self.job_id, self.executions))
        if kind == "cancelled":
            raise asyncio.CancelledError()
        if kind == "keyboard":
            raise KeyboardInterrupt()
        raise SystemExit(3)


class ThreadRaisesInterruptJob(goodjob.Job):
    def perform(self, kind: str) -> None:
        LOG.append(("thread-interrupt", self.job_id, self.executions))
        raise KeyboardInterrupt() if kind == "keyboard" else SystemExit(4)


class OverrunThreadJob(goodjob.Job):
    """A `def` job whose first attempt outlives its timeout until the test releases it."""

    timeout = 0.2
    error_policy = (goodjob.retry_on(goodjob.JobTimeoutError, attempts=3, wait=0),)
    release = threading.Event()

    def perform(self) -> None:
        LOG.append(("start", self.executions, time.monotonic()))
        if self.executions == 1:
            OverrunThreadJob.release.wait(30)
        LOG.append(("end", self.executions, time.monotonic()))


class RetryOnceJob(goodjob.Job):
    error_policy = (goodjob.retry_on(RuntimeError, attempts=3, wait=0),)

    async def perform(self, marker: str) -> None:
        LOG.append(("retry", marker, self.executions, time.time()))
        if self.executions == 1:
            raise RuntimeError("first attempt fails")


class RetryLaterJob(goodjob.Job):
    error_policy = (goodjob.retry_on(RuntimeError, attempts=3, wait=1.0),)

    async def perform(self, marker: str) -> None:
        LOG.append(("later", marker, self.executions, time.time()))
        if self.executions == 1:
            raise RuntimeError("first attempt fails")


class UnhandledOnceJob(goodjob.Job):
    async def perform(self) -> None:
        LOG.append(("unhandled", self.job_id, self.executions))
        if self.executions == 1:
            raise RuntimeError("error")


class OrderJob(goodjob.Job):
    async def perform(self, marker: str) -> None:
        LOG.append(("order", marker))


class ErrorJob(goodjob.Job):
    def perform(self) -> None:
        raise RuntimeError("error")


@pytest.fixture(autouse=True)
def _clear() -> None:
    LOG.clear()
    OverrunThreadJob.release.clear()


async def _row(conn: asyncpg.Connection, job_id: uuid.UUID) -> asyncpg.Record:
    return await conn.fetchrow("SELECT * FROM good_jobs WHERE id = $1", job_id)


async def _executions(conn: asyncpg.Connection, job_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM good_job_executions WHERE job_id = $1 ORDER BY id", job_id)


# --- defect 2: BaseException that is not an Exception ---------------------------------------------


@pytest.mark.parametrize("kind", ["custom", "generator_exit"])
async def test_base_exception_is_recorded_as_an_unhandled_error(
    kind: str, start_worker: Any, conn: asyncpg.Connection
) -> None:
    goodjob.configure(preserve_job_records=True, retry_on_unhandled_error=False)
    await start_worker()
    job = await RaisesBaseExceptionJob.perform_later(kind)
    await wait_for(lambda: conn.fetchval("SELECT state = 'discarded' FROM good_jobs WHERE id = $1", job.id),
                   timeout=15)
    (execution,) = await _executions(conn, job.id)
    expected = "test_run_once.CustomBaseError" if kind == "custom" else "GeneratorExit"
    assert execution["error_class"].endswith(expected.rsplit(".", 1)[-1])
    assert "Traceback" in execution["error_backtrace"]
    # the worker goes on
    follow = await OrderJob.perform_later("after")
    await wait_for(lambda: ("order", "after") in LOG)
    assert follow


# --- defect 3: CancelledError / KeyboardInterrupt / SystemExit raised by the job itself -----------


@pytest.mark.parametrize("job_class,kind", [
    (RaisesInterruptJob, "cancelled"), (RaisesInterruptJob, "keyboard"), (RaisesInterruptJob, "exit"),
    (ThreadRaisesInterruptJob, "keyboard"), (ThreadRaisesInterruptJob, "exit"),
])
async def test_interruption_raised_by_the_job_is_a_job_error(
    job_class: type[goodjob.Job], kind: str, start_worker: Any, conn: asyncpg.Connection
) -> None:
    goodjob.configure(preserve_job_records=True)  # default: unhandled errors retry with backoff
    await start_worker()
    job = await job_class.perform_later(kind)
    await wait_for(lambda: conn.fetchval(
        "SELECT state = 'queued' AND error_event = 'unhandled' FROM good_jobs WHERE id = $1", job.id), timeout=15)
    row = await _row(conn, job.id)
    assert row["executions_count"] == 1
    # the retry waits the unhandled-error backoff (seconds), not ~0 s as an interruption would
    assert row["scheduled_at"] > datetime.now(UTC) + timedelta(seconds=1)
    (execution,) = await _executions(conn, job.id)
    assert execution["outcome"] == "retried" and execution["error_class"] in (
        "asyncio.exceptions.CancelledError", "KeyboardInterrupt", "SystemExit")


async def test_shutdown_still_interrupts_and_keeps_the_place(start_worker: Any, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)

    class Forever(goodjob.Job):
        async def perform(self) -> None:
            await asyncio.sleep(60)

    worker = await start_worker()
    job = await Forever.perform_later()
    before = await conn.fetchval("SELECT scheduled_at FROM good_jobs WHERE id = $1", job.id)
    await wait_for(lambda: worker.running_count == 1)
    await worker.shutdown(timeout=0)
    row = await _row(conn, job.id)
    assert row["state"] == "queued" and row["error_event"] == "interrupted"
    assert row["scheduled_at"] == before  # keeps its place in line


# --- defect 4: a `def` job past its timeout ------------------------------------------------------


async def test_thread_job_past_its_timeout_keeps_its_row_and_slot_until_the_thread_ends(
    start_worker: Any, conn: asyncpg.Connection
) -> None:
    goodjob.configure(preserve_job_records=True)
    worker = await start_worker(queues="*:2")
    job = await OverrunThreadJob.perform_later()
    await wait_for(lambda: worker.running_count == 1)
    await asyncio.sleep(0.6)  # well past the 0.2 s timeout
    row = await _row(conn, job.id)
    assert row["state"] == "running" and row["executions_count"] == 1, "retry scheduled while attempt 1 runs"
    assert await _executions(conn, job.id) == []
    assert worker.schedulers[0].free_slots == 1
    OverrunThreadJob.release.set()
    await wait_for(lambda: conn.fetchval("SELECT state = 'succeeded' FROM good_jobs WHERE id = $1", job.id))
    first, second = await _executions(conn, job.id)
    assert first["error_class"] == "goodjob.core.errors.JobTimeoutError"
    assert "could not be stopped" in first["error"]
    starts = {attempt: t for event, attempt, t in LOG if event == "start"}
    ends = {attempt: t for event, attempt, t in LOG if event == "end"}
    assert starts[2] >= ends[1], "attempt 2 started while attempt 1 still ran"
    assert second["outcome"] == "succeeded"


# --- defect 5: the scheduled-time cache drops entries a fraction of a millisecond ahead ---------


async def test_scheduled_cache_routes_an_entry_only_once_it_is_due(
    start_worker: Any, conn: asyncpg.Connection
) -> None:
    worker = await start_worker(poll_interval=-1, listen=False)
    routed: list[tuple[str, float]] = []
    route = worker.route

    def spy(queue: str) -> None:
        routed.append((queue, time.time()))
        route(queue)

    worker.route = spy
    start = datetime.now(UTC) + timedelta(seconds=1)
    due: dict[str, float] = {}
    for i in range(20):
        at = start + timedelta(microseconds=100 * i)  # 0.1 ms apart
        queue = f"q{i}"
        await conn.execute(
            "INSERT INTO good_jobs (id, job_class, queue_name, serialized_params, scheduled_at) "
            "VALUES ($1, $2, $3, $4::jsonb, $5)",
            uuid.uuid4(), OrderJob.job_name, queue, f'{{"args": ["{i}"], "kwargs": {{}}}}', at,
        )
        worker.cache(at.timestamp(), queue)
        due[queue] = at.timestamp()
    # every job starts, with polling and LISTEN off: nothing but the cache wakes the pool
    await wait_for(lambda: len([e for e in LOG if e[0] == "order"]) == 20, timeout=10)
    early = [(queue, round((due[queue] - t) * 1000, 3)) for queue, t in routed if t < due[queue]]
    assert early == [], f"routed before their time (ms early): {early}"


async def test_three_jobs_back_to_back_with_wait_and_polling_off(start_worker: Any) -> None:
    await start_worker(poll_interval=-1)
    for i in range(3):
        await OrderJob.set(wait=1).perform_later(f"w{i}")
    await wait_for(lambda: len([e for e in LOG if e[0] == "order"]) == 3, timeout=10)


# --- defect 6: retries start at their due time in every polling mode -----------------------------


@pytest.mark.parametrize("poll_interval", [-1, 30])
async def test_retry_starts_on_time_with_polling_off_or_slow(
    poll_interval: float, start_worker: Any, conn: asyncpg.Connection
) -> None:
    goodjob.configure(preserve_job_records=True)
    await start_worker(poll_interval=poll_interval)
    await RetryOnceJob.perform_later("now")
    await RetryLaterJob.perform_later("later")
    await wait_for(lambda: len([e for e in LOG if e[2] == 2]) == 2, timeout=10)
    # The second attempts ran; their execution rows are written when they finish, just after.
    async def both_attempts_recorded() -> list[asyncpg.Record] | None:
        rows = await conn.fetch(
            "SELECT job_class, attempt, started_at, finished_at FROM good_job_executions ORDER BY job_class, attempt"
        )
        return rows if len(rows) == 4 else None

    rows = await wait_for(both_attempts_recorded, timeout=10)
    by = {(r["job_class"].rsplit(".", 1)[-1], r["attempt"]): r for r in rows}
    for name, wait in (("RetryOnceJob", 0.0), ("RetryLaterJob", 1.0)):
        late = (by[(name, 2)]["started_at"] - by[(name, 1)]["finished_at"]).total_seconds() - wait
        assert late < 0.5, f"{name} retry started {late:.3f}s after its due time"


async def test_unhandled_error_retry_runs_with_polling_off(start_worker: Any, conn: asyncpg.Connection) -> None:
    await start_worker(poll_interval=-1)
    job = await UnhandledOnceJob.perform_later()
    # default backoff after attempt 1: 1**4 + 2 = 3 s plus jitter
    await wait_for(lambda: ("unhandled", job.id, 2) in LOG, timeout=20)


# --- defect 7 and defect 1 (recovery): interrupted jobs keep their place; orphans in seconds ----


async def test_recovered_job_keeps_its_place_in_a_backlog(start_worker: Any, conn: asyncpg.Connection) -> None:
    dead = uuid.uuid4()
    now = datetime.now(UTC)
    await conn.execute(
        "INSERT INTO good_job_processes (id, hostname, pid, queues, max_threads, lock_key, heartbeat_at) "
        "VALUES ($1, 'gone', 1, '*', 1, 42, $2)", dead, now - timedelta(minutes=5),
    )
    interrupted = uuid.uuid4()
    original = now - timedelta(minutes=10)
    await conn.execute(
        "INSERT INTO good_jobs (id, job_class, serialized_params, state, scheduled_at, locked_by_id, locked_at, "
        "executions_count) VALUES ($1, $2, $3::jsonb, 'running', $4, $5, $6, 1)",
        interrupted, OrderJob.job_name, '{"args": ["interrupted"], "kwargs": {}}', original, dead,
        now - timedelta(minutes=5),
    )
    await conn.executemany(
        "INSERT INTO good_jobs (id, job_class, serialized_params, scheduled_at) VALUES ($1, $2, $3::jsonb, $4)",
        [(uuid.uuid4(), OrderJob.job_name, f'{{"args": ["b{i}"], "kwargs": {{}}}}', now - timedelta(minutes=1))
         for i in range(30)],
    )
    await start_worker(queues="*:1")
    await wait_for(lambda: len(LOG) >= 2)
    assert LOG[0] == ("order", "interrupted")


async def test_row_locked_by_a_process_without_a_row_is_recovered_within_seconds(
    start_worker: Any, conn: asyncpg.Connection
) -> None:
    job_id = uuid.uuid4()
    now = datetime.now(UTC)
    await conn.execute(
        "INSERT INTO good_jobs (id, job_class, serialized_params, state, scheduled_at, locked_by_id, locked_at, "
        "executions_count) VALUES ($1, $2, $3::jsonb, 'running', $4, $5, $4, 1)",
        job_id, OrderJob.job_name, '{"args": ["orphan"], "kwargs": {}}', now - timedelta(seconds=30), uuid.uuid4(),
    )
    await start_worker()
    await wait_for(lambda: ("order", "orphan") in LOG, timeout=10)


async def test_an_inline_perform_holds_a_process_row(gj: str, conn: asyncpg.Connection) -> None:
    goodjob.configure(execution_mode="inline")
    seen: list[Any] = []

    class LooksAround(goodjob.Job):
        async def perform(self) -> None:
            seen.append(await conn.fetchrow(
                "SELECT p.execution_mode FROM good_jobs AS j JOIN good_job_processes AS p ON p.id = j.locked_by_id "
                "WHERE j.id = $1", self.job_id))

    await LooksAround.perform_later()
    assert seen and seen[0]["execution_mode"] == "inline"
    assert await conn.fetchval("SELECT count(*) FROM good_job_processes") == 0


# --- defect 1: results are written whatever the error; a lost claim gives its rows back ----------


async def test_a_result_write_that_fails_is_retried_until_written(start_worker: Any, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)
    await conn.execute("""
        CREATE TABLE refuse_writes (on_ boolean);
        INSERT INTO refuse_writes VALUES (true);
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM refuse_writes) THEN RAISE EXCEPTION 'injected failure'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON good_job_executions FOR EACH ROW EXECUTE FUNCTION refuse();
    """)
    await start_worker()
    job = await OrderJob.perform_later("x")
    await wait_for(lambda: ("order", "x") in LOG)
    await asyncio.sleep(0.5)  # a few failed writes
    assert (await _row(conn, job.id))["state"] == "running"
    await conn.execute("DELETE FROM refuse_writes")
    await wait_for(lambda: conn.fetchval("SELECT state = 'succeeded' FROM good_jobs WHERE id = $1", job.id),
                   timeout=15)
    assert LOG.count(("order", "x")) == 1


async def test_a_claim_whose_result_is_lost_gives_its_rows_back(start_worker: Any, conn: asyncpg.Connection) -> None:
    # The claim commits on the server, then the client cannot decode the returned row (year 10000
    # does not fit a Python datetime): the same situation as a connection cut after the commit.
    poison = uuid.uuid4()
    await conn.execute(
        "INSERT INTO good_jobs (id, job_class, serialized_params, scheduled_at, created_at, updated_at) "
        "VALUES ($1, $2, '{\"args\": [\"poison\"], \"kwargs\": {}}'::jsonb, now() - interval '1 minute', "
        "'10000-01-01', '2000-01-01')", poison, OrderJob.job_name,
    )
    await start_worker()
    # The claim fails, and its row goes back to the queue instead of staying `running` forever.
    await wait_for(lambda: conn.fetchval(
        "SELECT state = 'queued' AND executions_count = 0 AND locked_by_id IS NULL FROM good_jobs "
        "WHERE id = $1 AND updated_at > '2001-01-01'", poison), timeout=10)
    await conn.execute("DELETE FROM good_jobs WHERE id = $1", poison)


# --- smaller items -------------------------------------------------------------------------------


async def test_error_column_holds_class_and_message(start_worker: Any, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True, retry_on_unhandled_error=False)
    await start_worker()
    job = await ErrorJob.perform_later()
    await wait_for(lambda: conn.fetchval("SELECT state = 'discarded' FROM good_jobs WHERE id = $1", job.id))
    assert (await _row(conn, job.id))["error"] == "RuntimeError: error"


async def test_inline_retries_run_inline_immediately(gj: str, conn: asyncpg.Connection) -> None:
    goodjob.configure(execution_mode="inline", preserve_job_records=True)
    job = await RetryLaterJob.perform_later("inline")  # wait=1.0 is skipped inline
    row = await _row(conn, job.id)
    assert row["state"] == "succeeded" and row["executions_count"] == 2
    assert [e["outcome"] for e in await _executions(conn, job.id)] == ["retried", "succeeded"]
