"""Concurrency controls by key: enqueue limits, perform limits, throttles, races, retries, bulk."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from helpers import wait_for

import goodjob
from goodjob.core.enqueue import JobRequest
from goodjob.core.events import Event
from goodjob.core.runtime import get_runtime
from goodjob.core.storage import store
from goodjob.core.worker.launcher import Worker

SPANS: list[tuple[str, float, float]] = []  # (label, start, end), monotonic clock
KEY_CALLS: list[Any] = []


class UniqueJob(goodjob.Job):
    concurrency = goodjob.Concurrency(key=lambda job: f"Unique-{job.arguments[0]}", enqueue_limit=2)

    async def perform(self, name: str) -> None:
        return None


class TotalJob(goodjob.Job):
    concurrency = goodjob.Concurrency(key="total", total_limit=2)

    async def perform(self) -> None:
        return None


class EnqueueThrottledJob(goodjob.Job):
    concurrency = goodjob.Concurrency(key="enqueue-throttle", enqueue_throttle=(2, 0.6))

    async def perform(self) -> None:
        return None


class DefaultKeyJob(goodjob.Job):
    concurrency = goodjob.Concurrency(enqueue_limit=1)

    async def perform(self) -> None:
        return None


class MaybeKeyJob(goodjob.Job):
    concurrency = goodjob.Concurrency(key=lambda job: job.kwargs.get("key"), enqueue_limit=1)

    async def perform(self, **kwargs: Any) -> None:
        return None


class SpanBase(goodjob.Job):
    async def perform(self, label: str, seconds: float = 0.05) -> None:
        start = time.monotonic()
        await asyncio.sleep(seconds)
        SPANS.append((label, start, time.monotonic()))


class OneAtATimeJob(SpanBase):
    concurrency = goodjob.Concurrency(key="one", perform_limit=1)


class TwoAtATimeJob(SpanBase):
    concurrency = goodjob.Concurrency(key="two", perform_limit=2)


class PerformThrottledJob(SpanBase):
    concurrency = goodjob.Concurrency(key="perform-throttle", perform_throttle=(2, timedelta(seconds=0.5)))


class PlainSpanJob(SpanBase):
    pass


class BlockingJob(goodjob.Job):
    """Holds the key "blocked" (perform_limit=1) until released."""

    concurrency = goodjob.Concurrency(key="blocked", perform_limit=1)
    release: asyncio.Event | None = None

    async def perform(self, label: str) -> None:
        SPANS.append((f"start:{label}", time.monotonic(), 0.0))
        assert BlockingJob.release is not None
        await BlockingJob.release.wait()


def _key_of_job(job: Any) -> str:
    KEY_CALLS.append(job.arguments)
    return f"retry-{len(KEY_CALLS)}"  # would change if it were computed again


class RetriedJob(goodjob.Job):
    concurrency = goodjob.Concurrency(key=_key_of_job, perform_limit=1)
    error_policy = (goodjob.retry_on(RuntimeError, attempts=3, wait=0),)
    attempts: list[int] = []

    async def perform(self) -> None:
        RetriedJob.attempts.append(self.executions)
        if self.executions < 3:
            raise RuntimeError("again")


@goodjob.job(concurrency=goodjob.Concurrency(key="fn", enqueue_limit=1))
async def limited_function(x: int) -> None:
    return None


StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def start_worker(gj: str) -> AsyncIterator[StartWorker]:
    workers: list[Worker] = []
    runtime = get_runtime()

    async def url() -> str:
        return gj

    async def start(**options: Any) -> Worker:
        config = dataclasses.replace(goodjob.current_config(), **options)
        worker = Worker(config, database=runtime.database, url=url)
        await worker.start()
        workers.append(worker)
        return worker

    SPANS.clear()
    yield start
    for worker in workers:
        await worker.shutdown(timeout=5)
    await runtime.close_database()


@pytest.fixture
def refusals() -> list[Event]:
    seen: list[Event] = []
    unsubscribe = goodjob.subscribe("enqueue_refused", seen.append)
    yield seen  # type: ignore[misc]
    unsubscribe()


def max_overlap(spans: list[tuple[str, float, float]]) -> int:
    points = sorted([(s, 1) for _, s, _ in spans] + [(e, -1) for _, _, e in spans])
    running = peak = 0
    for _, delta in points:
        running += delta
        peak = max(peak, running)
    return peak


# --- declaring rules and keys ---------------------------------------------------------------------


def test_declaration_errors_name_the_offending_value() -> None:
    with pytest.raises(TypeError, match="int"):
        goodjob.Concurrency(key=5)  # type: ignore[arg-type]
    with pytest.raises(goodjob.ConfigurationError, match="perform_limit=-1"):
        goodjob.Concurrency(perform_limit=-1)
    with pytest.raises(goodjob.ConfigurationError, match="enqueue_limit=True"):
        goodjob.Concurrency(enqueue_limit=True)
    with pytest.raises(goodjob.ConfigurationError, match="perform_throttle"):
        goodjob.Concurrency(perform_throttle=(0, 1))
    with pytest.raises(goodjob.ConfigurationError, match="enqueue_throttle"):
        goodjob.Concurrency(enqueue_throttle=(1, -2))  # type: ignore[arg-type]
    rules = goodjob.Concurrency(perform_throttle=(3, timedelta(minutes=1)))
    assert rules.perform_throttle == (3, 60.0)


async def test_a_key_that_is_not_a_string_is_a_type_error(conn: asyncpg.Connection) -> None:
    class BadKeyJob(goodjob.Job):
        concurrency = goodjob.Concurrency(key=lambda job: job.arguments[0], perform_limit=1)

        async def perform(self, x: Any) -> None:
            return None

    with pytest.raises(TypeError, match=r"BadKeyJob must be a str .*got int: 42"):
        await BadKeyJob.perform_later(42)
    with pytest.raises(TypeError, match="got tuple"):
        BadKeyJob.new(("a", "b"))
    await BadKeyJob.perform_later("fine")
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 1

    class NotRulesJob(goodjob.Job):
        concurrency = {"perform_limit": 1}  # type: ignore[assignment]

    with pytest.raises(TypeError, match=r"must be a goodjob\.Concurrency, got dict"):
        await NotRulesJob.perform_later()


async def test_keys_default_callable_and_none(conn: asyncpg.Connection) -> None:
    a = await DefaultKeyJob.perform_later()
    assert await conn.fetchval("SELECT concurrency_key FROM good_jobs WHERE id = $1", a.id) == DefaultKeyJob.job_name
    assert not await DefaultKeyJob.perform_later()  # enqueue_limit=1 on the class name
    b = await UniqueJob.perform_later("Alice")
    assert await conn.fetchval("SELECT concurrency_key FROM good_jobs WHERE id = $1", b.id) == "Unique-Alice"
    # A key of None means no limit for that job: the column stays NULL and nothing is counted.
    for _ in range(3):
        assert await MaybeKeyJob.perform_later()
    assert await conn.fetchval(
        "SELECT count(*) FROM good_jobs WHERE job_class = $1 AND concurrency_key IS NULL", MaybeKeyJob.job_name
    ) == 3
    assert await MaybeKeyJob.perform_later(key="k")
    assert not await MaybeKeyJob.perform_later(key="k")


# --- enqueue rules --------------------------------------------------------------------------------


async def test_enqueue_limit_counts_waiting_jobs_only(conn: asyncpg.Connection, refusals: list[Event]) -> None:
    first = await UniqueJob.perform_later("Alice")
    assert first and await UniqueJob.perform_later("Alice")
    third = await UniqueJob.perform_later("Alice")
    assert not third and third.enqueued is False
    assert third.reason is not None and "enqueue_limit=2" in third.reason and "Unique-Alice" in third.reason
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE id = $1", third.id) == 0
    assert [e.payload["reason"] for e in refusals] == [third.reason]
    assert refusals[0].payload["job_id"] == third.id and refusals[0].payload["concurrency_key"] == "Unique-Alice"
    assert await UniqueJob.perform_later("Bob")  # another key is not affected
    # A running job no longer waits: it does not count against enqueue_limit.
    await conn.execute("UPDATE good_jobs SET state = 'running' WHERE id = $1", first.id)
    assert await UniqueJob.perform_later("Alice")
    assert not await UniqueJob.perform_later("Alice")
    # Finished jobs do not count either.
    await conn.execute("UPDATE good_jobs SET state = 'succeeded' WHERE concurrency_key = 'Unique-Alice'")
    assert await UniqueJob.perform_later("Alice")


async def test_total_limit_counts_waiting_and_running(conn: asyncpg.Connection) -> None:
    first = await TotalJob.perform_later()
    assert await TotalJob.perform_later()
    assert not await TotalJob.perform_later()
    await conn.execute("UPDATE good_jobs SET state = 'running' WHERE id = $1", first.id)
    assert not await TotalJob.perform_later()  # still 1 waiting + 1 running
    await conn.execute("UPDATE good_jobs SET state = 'discarded' WHERE id = $1", first.id)
    assert await TotalJob.perform_later()
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE concurrency_key = 'total'") == 3


async def test_enqueue_throttle_slides_and_survives_deleted_rows(conn: asyncpg.Connection) -> None:
    assert await EnqueueThrottledJob.perform_later()
    assert await EnqueueThrottledJob.perform_later()
    refused = await EnqueueThrottledJob.perform_later()
    assert not refused and "enqueue_throttle=2 per 0.6s" in (refused.reason or "")
    # Finished rows are deleted when preserve_job_records is off: the window must not forget them.
    await conn.execute("DELETE FROM good_jobs")
    assert not await EnqueueThrottledJob.perform_later()
    await asyncio.sleep(0.65)
    assert await EnqueueThrottledJob.perform_later()
    assert await EnqueueThrottledJob.perform_later()
    assert not await EnqueueThrottledJob.perform_later()
    # Expired events (of any key) are pruned a few at a time by the next throttled write.
    assert await conn.fetchval("SELECT count(*) FROM good_job_concurrency_events") == 2
    await conn.execute(
        "INSERT INTO good_job_concurrency_events (concurrency_key, kind, at, expires_at) "
        "SELECT 'stale-' || i, 'perform', now() - interval '2 hours', now() - interval '1 hour' "
        "FROM generate_series(1, 5) AS i"
    )
    await asyncio.sleep(0.65)
    assert await EnqueueThrottledJob.perform_later()
    assert await conn.fetchval("SELECT count(*) FROM good_job_concurrency_events") == 1


async def test_function_jobs_take_concurrency_too(conn: asyncpg.Connection) -> None:
    assert await limited_function.perform_later(1)
    assert not await limited_function.perform_later(2)


@pytest.mark.parametrize("own_connection", [False, True])
@pytest.mark.pgbouncer
async def test_twenty_concurrent_enqueuers_leave_exactly_the_limit(gj: str, own_connection: bool) -> None:
    conns = [await asyncpg.connect(gj) for _ in range(20)]
    gate = asyncio.Event()

    async def enqueue(c: asyncpg.Connection) -> bool:
        await gate.wait()
        if own_connection:  # inside the caller's transaction: the lock is held until it commits
            async with c.transaction():
                result = await UniqueJob.set(connection=c).perform_later("race")
                await asyncio.sleep(0.01)
                return bool(result)
        return bool(await UniqueJob.perform_later("race"))

    try:
        goodjob.configure(database_pool_size=20)
        get_runtime().reset()
        tasks = [asyncio.create_task(enqueue(c)) for c in conns]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(*tasks)
        assert sum(results) == 2
        assert await conns[0].fetchval("SELECT count(*) FROM good_jobs WHERE concurrency_key = 'Unique-race'") == 2
    finally:
        for c in conns:
            await c.close()
        await get_runtime().close_database()


async def test_bulk_enqueue_applies_the_rules_job_by_job(conn: asyncpg.Connection, refusals: list[Event]) -> None:
    jobs = [
        UniqueJob.new("Alice"), UniqueJob.new("Alice"), UniqueJob.new("Alice"),  # the third is refused
        PlainSpanJob.new("plain"), UniqueJob.new("Bob"), TotalJob.new(), TotalJob.new(), TotalJob.new(),
    ]
    results = await goodjob.perform_all_later(jobs)
    assert [bool(r) for r in results] == [True, True, False, True, True, True, True, False]
    assert [r.id for r in results] == [j.request.id for j in jobs]
    rows = {r["id"] for r in await conn.fetch("SELECT id FROM good_jobs")}
    assert rows == {r.id for r in results if r}
    assert len(refusals) == 2 and all(e.payload["reason"] for e in refusals)
    # Bulk rows carry their perform rules as single enqueues do; total_limit doubles as the perform
    # limit when there is no perform_limit (as in GoodJob).
    await goodjob.perform_all_later([OneAtATimeJob.new("x")])
    limits = dict(await conn.fetch(
        "SELECT DISTINCT concurrency_key, concurrency_perform_limit FROM good_jobs WHERE concurrency_key IS NOT NULL"
    ))
    assert limits == {"one": 1, "total": 2, "Unique-Alice": None, "Unique-Bob": None}


# --- perform rules --------------------------------------------------------------------------------


class ThreeAtATimeJob(SpanBase):
    concurrency = goodjob.Concurrency(key="three", perform_limit=3)


@pytest.mark.pgbouncer
async def test_concurrent_claimers_never_exceed_the_perform_limit(gj: str, conn: asyncpg.Connection) -> None:
    """Twenty claim statements at once, on twenty connections, over rows of one key spread over two
    queues: claimers of different queues see different rows, so only the key's lock keeps them from
    each taking the last places."""
    await goodjob.perform_all_later([ThreeAtATimeJob.set(queue=q).new(q) for q in ("a", "b") * 15])
    conns = [await asyncpg.connect(gj) for _ in range(20)]

    async def claim(c: asyncpg.Connection) -> list[Any]:
        queue = "a" if conns.index(c) % 2 else "b"
        return await store.claim_queues(c, 5, datetime.now(UTC), uuid4(), [queue], False)

    async def running() -> int:
        return int(await conn.fetchval("SELECT count(*) FROM good_jobs WHERE concurrency_key = 'three' "
                                       "AND state = 'running'"))

    try:
        for finished in range(4):
            for _ in range(5):
                await asyncio.gather(*(claim(c) for c in conns))
                assert await running() <= 3
            assert await running() == 3, f"round {finished}"
            await conn.execute("UPDATE good_jobs SET state = 'succeeded' WHERE id = (SELECT id FROM good_jobs "
                               "WHERE concurrency_key = 'three' AND state = 'running' LIMIT 1)")
    finally:
        for c in conns:
            await c.close()


class ThrottledThreeJob(SpanBase):
    concurrency = goodjob.Concurrency(key="throttled-three", perform_throttle=(3, 60))


async def test_concurrent_claimers_never_exceed_the_perform_throttle(gj: str, conn: asyncpg.Connection) -> None:
    """As above for perform_throttle=(3, 60 s); the perform events are written after each claim, as
    the scheduler does, and a finished job keeps counting until its event leaves the window."""
    await goodjob.perform_all_later([ThrottledThreeJob.set(queue=q).new(q) for q in ("a", "b") * 10])
    conns = [await asyncpg.connect(gj) for _ in range(20)]

    async def claim(c: asyncpg.Connection) -> None:
        queue = "a" if conns.index(c) % 2 else "b"
        now = datetime.now(UTC)
        for row in await store.claim_queues(c, 5, now, uuid4(), [queue], False):
            await store.concurrency_record_perform(c, row["concurrency_key"], now, 60.0, row["id"])

    try:
        for _ in range(5):
            await asyncio.gather(*(claim(c) for c in conns))
        await conn.execute("UPDATE good_jobs SET state = 'succeeded' WHERE state = 'running'")
        for _ in range(3):
            await asyncio.gather(*(claim(c) for c in conns))
        assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state <> 'queued'") == 3
        assert await conn.fetchval("SELECT count(*) FROM good_job_concurrency_events") == 3
    finally:
        for c in conns:
            await c.close()


async def test_perform_limit_one_runs_strictly_one_at_a_time_without_throttling(
    start_worker: StartWorker, conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="goodjob")
    goodjob.configure(preserve_job_records=True)
    await goodjob.perform_all_later([OneAtATimeJob.new(str(i), 0.03) for i in range(20)])
    started = time.monotonic()
    await start_worker(max_threads=10, poll_interval=30)
    await wait_for(lambda: len(SPANS) == 20, timeout=20)
    took = time.monotonic() - started
    assert max_overlap(SPANS) == 1
    assert took < 5, f"{took:.1f}s: the next job should start as soon as the previous one is recorded"
    # The claim never takes a job it may not run: no throttled attempts, no errors, in order.
    assert await conn.fetchval("SELECT count(*) FROM good_job_executions WHERE outcome <> 'succeeded'") == 0
    in_claim_order = await conn.fetch(
        "SELECT serialized_params->'args'->>0 AS label FROM good_jobs ORDER BY priority, scheduled_at, id"
    )
    assert [label for label, _, _ in SPANS] == [r["label"] for r in in_claim_order]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.pgbouncer
async def test_perform_limit_two_runs_two_at_once(start_worker: StartWorker) -> None:
    await goodjob.perform_all_later([TwoAtATimeJob.new(str(i), 0.1) for i in range(8)])
    await start_worker(max_threads=6, poll_interval=30)
    await wait_for(lambda: len(SPANS) == 8, timeout=20)
    assert max_overlap(SPANS) == 2


@pytest.mark.pgbouncer
async def test_blocked_keys_do_not_hold_up_other_jobs(start_worker: StartWorker) -> None:
    BlockingJob.release = asyncio.Event()
    await BlockingJob.set(priority=-2).perform_later("a")
    await BlockingJob.set(priority=-1).perform_later("b")  # same key: waits behind "a"
    await PlainSpanJob.set(priority=5).perform_later("plain", 0.0)
    await start_worker(max_threads=3, poll_interval=30)
    await wait_for(lambda: any(label == "plain" for label, _, _ in SPANS))
    assert [s[0] for s in SPANS if s[0].startswith("start:")] == ["start:a"]
    BlockingJob.release.set()
    await wait_for(lambda: any(label == "start:b" for label, _, _ in SPANS), timeout=10)


async def test_perform_throttle_limits_starts_per_sliding_period(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    goodjob.configure(preserve_job_records=False)
    await goodjob.perform_all_later([PerformThrottledJob.new(str(i), 0.0) for i in range(6)])
    await start_worker(max_threads=6, poll_interval=0.1)
    await wait_for(lambda: len(SPANS) == 6, timeout=20)
    starts = sorted(s for _, s, _ in SPANS)
    for i in range(len(starts) - 2):
        assert starts[i + 2] - starts[i] >= 0.45, starts  # never 3 starts within one period
    assert starts[-1] - starts[0] < 3.0
    # Finished rows are deleted when the recorder writes the results, a moment after the job ran.
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 0 FROM good_jobs"), timeout=10)


async def test_rows_without_stored_rules_are_throttled_before_perform(
    start_worker: StartWorker, conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """A row enqueued with a key but no rules (older code, another enqueue path) is checked against
    its class's rules after the claim; a refusal is a THROTTLED execution, not an error."""
    caplog.set_level(logging.DEBUG, logger="goodjob")
    goodjob.configure(preserve_job_records=True)
    throttles: list[Event] = []
    unsubscribe = goodjob.subscribe("throttle", throttles.append)
    BlockingJob.release = asyncio.Event()
    try:
        await BlockingJob.perform_later("holder")
        await start_worker(max_threads=3, poll_interval=0.2)
        await wait_for(lambda: SPANS)
        bare = JobRequest(job_class=BlockingJob.job_name, args=("bare",), concurrency_key="blocked")
        await get_runtime().enqueue(bare)
        await wait_for(lambda: throttles, timeout=10)
        await wait_for(lambda: conn.fetchval(
            "SELECT count(*) FROM good_job_executions WHERE job_id = $1", bare.id), timeout=10)
        row = await conn.fetchrow("SELECT * FROM good_jobs WHERE id = $1", bare.id)
        assert row["state"] == "queued" and row["executions_count"] == 0
        assert row["error_event"] == "throttled" and "perform_limit=1" in row["error"]
        assert row["scheduled_at"] > row["updated_at"]  # backed off
        executions = await store.job_executions(conn, bare.id)
        assert [e["outcome"] for e in executions][:1] == ["throttled"]
        assert [label for label, _, _ in SPANS] == ["start:holder"]
        BlockingJob.release.set()
        await wait_for(lambda: any(label == "start:bare" for label, _, _ in SPANS), timeout=10)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        unsubscribe()


@pytest.mark.pgbouncer
async def test_key_and_rules_are_kept_across_retries(start_worker: StartWorker, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)
    KEY_CALLS.clear()
    RetriedJob.attempts = []
    job = await RetriedJob.perform_later()
    assert KEY_CALLS == [()]
    await start_worker(max_threads=2, poll_interval=0.1)

    async def succeeded() -> bool:
        return await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", job.id) == "succeeded"

    await wait_for(succeeded, timeout=20)
    assert RetriedJob.attempts == [1, 2, 3]
    assert KEY_CALLS == [()]  # computed once, at enqueue
    row = await conn.fetchrow("SELECT concurrency_key, concurrency_perform_limit FROM good_jobs WHERE id = $1", job.id)
    assert (row["concurrency_key"], row["concurrency_perform_limit"]) == ("retry-1", 1)


async def test_inline_mode_throttles_a_job_whose_key_is_busy(conn: asyncpg.Connection) -> None:
    goodjob.configure(execution_mode="inline", preserve_job_records=True)
    inner: list[goodjob.Enqueued] = []

    class OuterJob(goodjob.Job):
        concurrency = goodjob.Concurrency(key="inline", perform_limit=1)

        async def perform(self, depth: int) -> None:
            SPANS.append((f"run:{depth}", 0.0, 0.0))
            if depth == 0:
                inner.append(await OuterJob.perform_later(1))  # same key while this one runs

    SPANS.clear()
    await OuterJob.perform_later(0)
    assert inner and inner[0]  # enqueued, but not performed now
    assert [label for label, _, _ in SPANS] == ["run:0"]
    row = await conn.fetchrow("SELECT state, error_event FROM good_jobs WHERE id = $1", inner[0].id)
    assert (row["state"], row["error_event"]) == ("queued", "throttled")
    await conn.execute("UPDATE good_jobs SET scheduled_at = now() WHERE id = $1", inner[0].id)
    assert await goodjob.perform_inline() == 1
    assert [label for label, _, _ in SPANS] == ["run:0", "run:1"]


async def test_inline_mode_applies_perform_throttles(conn: asyncpg.Connection) -> None:
    goodjob.configure(execution_mode="inline", preserve_job_records=False)

    class InlineThrottledJob(goodjob.Job):
        concurrency = goodjob.Concurrency(key="inline-throttle", perform_throttle=(1, 60))

        async def perform(self, label: str) -> None:
            SPANS.append((label, 0.0, 0.0))

    SPANS.clear()
    await InlineThrottledJob.perform_later("first")
    second = await InlineThrottledJob.perform_later("second")
    assert [label for label, _, _ in SPANS] == ["first"]
    row = await conn.fetchrow("SELECT state, error, scheduled_at - now() AS wait FROM good_jobs WHERE id = $1",
                              second.id)
    assert row["state"] == "queued" and "perform_throttle=1 per 60s" in row["error"]
    assert timedelta(seconds=55) < row["wait"] < timedelta(seconds=70)  # when the window frees up


async def test_perform_now_ignores_perform_limit(start_worker: StartWorker) -> None:
    BlockingJob.release = asyncio.Event()
    await BlockingJob.perform_later("holder")
    await start_worker(max_threads=2, poll_interval=30)
    await wait_for(lambda: SPANS)
    BlockingJob.release.set()  # the next perform returns at once
    await OneAtATimeJob.perform_now("now", 0.0)
    await BlockingJob.perform_now("now")
    assert [label for label, _, _ in SPANS][-2:] == ["now", "start:now"]


async def test_plain_claim_plan_is_unchanged(conn: asyncpg.Connection) -> None:
    """Rows without rules: the concurrency claim uses the same index as the plain claim, with one
    more filter on a column (no function call unless a row carries rules)."""
    await goodjob.perform_all_later([PlainSpanJob.new(str(i)) for i in range(50)])
    await conn.execute("ANALYZE good_jobs")
    args = (10, datetime.now(UTC), None, [], [])
    plain = await conn.fetch("EXPLAIN " + store.sql("claim_all"), *args)
    keyed = await conn.fetch("EXPLAIN " + store.sql("claim_all"), *args)
    for plan in (plain, keyed):
        assert "Index Scan using good_jobs_claim_all on good_jobs" in "\n".join(r[0] for r in plan)
    assert "good_job_concurrency_claimable" in "\n".join(r[0] for r in keyed)  # the filter, after the NULL tests
