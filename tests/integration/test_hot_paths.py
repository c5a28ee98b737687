"""The enqueue and drain hot paths (issue 13): the held single-enqueue connection, the uniform bulk
insert, and claims that delete the rows their pool finished. Each test fails on the code before."""

from __future__ import annotations

import asyncio
import json
import pickle
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from helpers import wait_for
from sample_jobs import AsyncRecordJob, RecordJob

import goodjob
from goodjob.core.enqueue import uuid7
from goodjob.core.runtime import get_runtime
from goodjob.core.storage import store
from goodjob.core.storage.db import QuickLane
from goodjob.core.worker.launcher import Worker
from goodjob.core.worker.recorder import Recorder
from goodjob.core.worker.scheduler import AHEAD_ROUNDS

StartWorker = Callable[..., Awaitable[Worker]]
DONE: list[int] = []


class CountJob(goodjob.Job):
    async def perform(self, n: int) -> None:
        DONE.append(n)


@pytest.fixture(autouse=True)
def _clear() -> None:
    DONE.clear()


def test_uuid7_is_a_valid_time_ordered_uuid() -> None:
    ids = [uuid7() for _ in range(2000)]
    assert len(set(ids)) == 2000
    for value in ids[:50]:
        assert value.version == 7 and value.variant == uuid.RFC_4122
        assert uuid.UUID(str(value)) == value and hash(uuid.UUID(str(value))) == hash(value)
    millis = [v.int >> 80 for v in ids]
    assert millis == sorted(millis)
    # every one of the 74 random bits varies (a wrong mask would pin some), and the object is a
    # uuid.UUID that pickles and compares as one (it is asyncpg's C UUID)
    random_bits = ((1 << 80) - 1) & ~(0xF << 76) & ~(0b11 << 62)
    seen = 0
    for v in ids:
        seen |= v.int & random_bits
    assert seen == random_bits
    assert all(isinstance(v, uuid.UUID) for v in ids[:10])
    assert pickle.loads(pickle.dumps(ids[0])) == ids[0] and ids[0] == uuid.UUID(bytes=ids[0].bytes)


async def test_single_enqueues_reuse_one_held_connection(conn: asyncpg.Connection) -> None:
    for i in range(20):
        assert await RecordJob.perform_later(i)
    db = await get_runtime().database()
    pids = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'goodjob'"
    )
    assert db.quick.enabled and db.quick._held is not None
    assert len(pids) == 1, pids  # twenty enqueues, one connection: the pool was not cycled
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 20


async def test_held_connection_goes_back_to_the_pool_when_idle(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QuickLane, "IDLE_SECONDS", 0.05)
    await RecordJob.perform_later(1)
    db = await get_runtime().database()
    await wait_for(lambda: db.quick._held is None, timeout=10)
    await wait_for(lambda: db.pool.get_idle_size() == db.pool.get_size(), timeout=10)  # none checked out
    assert await RecordJob.perform_later(2)  # and it is taken again on demand


async def test_a_held_connection_killed_by_the_server_is_replaced(conn: asyncpg.Connection) -> None:
    await RecordJob.perform_later(1)
    db = await get_runtime().database()
    held = db.quick._held
    assert held is not None
    await conn.execute("SELECT pg_terminate_backend($1)", held.get_server_pid())
    await wait_for(lambda: not QuickLane.usable(held), timeout=10)
    assert await RecordJob.perform_later(2)  # one line, no error: a fresh pool connection
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 2


async def test_a_failed_statement_returns_the_connection_to_the_pool(conn: asyncpg.Connection) -> None:
    await RecordJob.perform_later(1)
    db = await get_runtime().database()
    with pytest.raises(asyncpg.PostgresError):
        await db.quick.fetchrow("SELECT 1/0")
    assert db.quick._held is None
    assert db.pool.get_idle_size() == db.pool.get_size()


async def test_small_pools_do_not_hold_a_connection(gj: str, conn: asyncpg.Connection) -> None:
    goodjob.configure(database_pool_size=2)
    get_runtime().reset()
    assert await RecordJob.perform_later(1)
    db = await get_runtime().database()
    assert not db.quick.enabled and db.quick._held is None


async def test_uniform_bulk_insert_keeps_every_column(gj: str, conn: asyncpg.Connection) -> None:
    listener = await asyncpg.connect(gj)
    received: list[str] = []
    await listener.add_listener("good_job", lambda *a: received.append(a[3]))
    try:
        at = datetime.now(UTC) + timedelta(minutes=5)
        configured = AsyncRecordJob.set(queue="uniform", priority=3, wait_until=at)
        results = await goodjob.perform_all_later([configured.new(i) for i in range(300)])
        assert [r.queue_name for r in results] == ["uniform"] * 300 and all(results)
        rows = await conn.fetch(
            "SELECT DISTINCT queue_name, priority, job_class, scheduled_at, created_at = updated_at AS same "
            "FROM good_jobs"
        )
        assert [tuple(r) for r in rows] == [("uniform", 3, AsyncRecordJob.job_name, at, True)]
        params = await conn.fetchval("SELECT serialized_params FROM good_jobs WHERE id = $1", results[42].id)
        assert json.loads(params)["args"] == [42]
        await wait_for(lambda: received, timeout=10)
        payload = json.loads(received[0])
        assert (payload["queue"], payload["count"], payload["at"]) == ("uniform", 300, at.timestamp())
    finally:
        await listener.close()


async def test_a_bulk_enqueue_cut_off_mid_statement_writes_nothing_and_the_next_one_works(
    gj: str, conn: asyncpg.Connection
) -> None:
    """The uniform insert's connection is killed while the statement waits inside Postgres (held
    there by a table lock): the caller gets a connection error, no row is written, and the next
    bulk enqueue goes through on a fresh pool connection, each job once."""
    await RecordJob.perform_later(0)  # the pool is open
    locker = await asyncpg.connect(gj)
    try:
        tx = locker.transaction()
        await tx.start()
        await locker.execute("LOCK TABLE good_jobs IN SHARE MODE")  # an INSERT waits for it
        configured = RecordJob.set(queue="cut")
        task = asyncio.ensure_future(goodjob.perform_all_later([configured.new(i) for i in range(50)]))
        pid = await wait_for(lambda: conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO good_jobs%'"
        ), timeout=10)
        await conn.execute("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await task
        await tx.rollback()
    finally:
        await locker.close()
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE queue_name = 'cut'") == 0
    results = await goodjob.perform_all_later([configured.new(i) for i in range(50)])
    assert all(results)
    assert await conn.fetchval("SELECT count(DISTINCT id) FROM good_jobs WHERE queue_name = 'cut'") == 50


async def test_a_bulk_enqueue_too_large_for_one_json_value_takes_the_general_statement(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import goodjob.core.enqueue as enqueue

    statements: list[str] = []
    original = store.insert_jobs
    monkeypatch.setattr(enqueue, "_UNIFORM_MAX_CHARS", 500)  # Postgres caps one jsonb value at 256 MB
    monkeypatch.setattr(store, "insert_jobs", lambda *a: statements.append("general") or original(*a))
    configured = AsyncRecordJob.set(queue="big")
    results = await goodjob.perform_all_later([configured.new("x" * 40, i) for i in range(20)])
    assert statements == ["general"] and all(results)
    rows = await conn.fetch("SELECT id, serialized_params FROM good_jobs WHERE queue_name = 'big'")
    assert {r["id"]: json.loads(r["serialized_params"])["args"][1] for r in rows} == {
        r.id: i for i, r in enumerate(results)
    }
    statements.clear()
    await goodjob.perform_all_later([configured.new("small")])
    assert statements == []  # under the cap: the uniform statement


class OwnInitJob(goodjob.Job):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def perform(self, name: str) -> None:
        DONE.append(len(name))


class RefusingJob(goodjob.Job):
    def before_enqueue(self) -> bool:
        return self.arguments[0] != "no"

    def perform(self, word: str) -> None:
        pass


async def test_a_plain_jobs_instance_is_made_only_when_asked_for(conn: asyncpg.Connection) -> None:
    pending = RecordJob.set(queue="lazy", priority=3).new(1, k=2)
    assert not pending.built  # no callbacks, rules or __init__: the request alone goes to the database
    job = pending.job
    assert pending.built and pending.job is job
    assert (job.job_id, job.arguments, job.kwargs) == (pending.request.id, (1,), {"k": 2})
    assert (job.queue_name, job.priority, job.batch_id) == ("lazy", 3, None)
    # a class with its own __init__ or an enqueue callback is built at once: its errors and refusals
    # happen where they did
    assert OwnInitJob.new("x").built and RefusingJob.new("ok").built
    with pytest.raises(TypeError):
        OwnInitJob.new()
    results = await goodjob.perform_all_later([RecordJob.new(7), RefusingJob.new("no"), RecordJob.new(8)])
    assert [bool(r) for r in results] == [True, False, True]
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 2
    # jobs of one class and options (one set(...) or MyJob.new each time) are written from their
    # arguments alone: no request is made for them
    pendings = [RecordJob.new(i, k=i) for i in range(3)] + [RecordJob.set().new(3)]
    results = await goodjob.perform_all_later(pendings)
    assert not any(p._request is not None for p in pendings)
    assert [r.id for r in results] == [p.request.id for p in pendings]
    rows = {r["id"]: json.loads(r["serialized_params"]) for r in await conn.fetch(
        "SELECT id, serialized_params FROM good_jobs WHERE id = ANY($1)", [r.id for r in results])}
    assert [rows[r.id]["args"] for r in results] == [[0], [1], [2], [3]]
    assert [rows[r.id]["kwargs"] for r in results] == [{"k": 0}, {"k": 1}, {"k": 2}, {}]


async def test_a_deferred_job_added_to_a_batch_carries_its_id(conn: asyncpg.Connection) -> None:
    batch = goodjob.Batch()
    pending = RecordJob.new(1)
    await batch.add(pending)
    assert not pending.built and pending.job.batch_id == batch.id
    inside: list[goodjob.PendingJob] = []
    async with goodjob.Batch() as other:
        inside.append(RecordJob.new(2))
    assert inside[0].job.batch_id == other.id  # from the Batch block, through the request
    rows = await conn.fetch("SELECT batch_id FROM good_jobs")
    assert [r["batch_id"] for r in rows] == [batch.id]


async def test_mixed_bulk_insert_still_takes_the_general_path(conn: asyncpg.Connection) -> None:
    jobs = [RecordJob.set(labels=["x"]).new(1), RecordJob.new(2), RecordJob.set(queue="b").new(3)]
    results = await goodjob.perform_all_later(jobs)
    rows = {r["id"]: r for r in await conn.fetch("SELECT id, queue_name, labels FROM good_jobs")}
    assert rows[results[0].id]["labels"] == ["x"]
    assert rows[results[2].id]["queue_name"] == "b"


async def test_claim_deletes_the_finished_rows_it_is_given(conn: asyncpg.Connection) -> None:
    await goodjob.perform_all_later([RecordJob.new(i) for i in range(4)])
    pid, other = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    first = await store.claim_queues(conn, 2, now, pid, ["default"], False)
    mine = [r["id"] for r in first]
    # another process's claimed row is never deleted, whatever ids it is given
    theirs = [r["id"] for r in await store.claim_all(conn, 1, now, other, [])]
    second = await store.claim_queues(conn, 2, now, pid, ["default"], False, delete_ids=mine + theirs)
    assert len(second) == 1
    left = {r["id"] for r in await conn.fetch("SELECT id FROM good_jobs")}
    assert left == set(theirs) | {r["id"] for r in second}
    third = await store.claim_all(conn, 5, now, pid, [], delete_ids=[r["id"] for r in second])
    assert third == []
    assert {r["id"] for r in await conn.fetch("SELECT id FROM good_jobs")} == set(theirs)


async def test_draining_worker_deletes_finished_jobs_with_its_claims(
    start_worker: StartWorker, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    original = Recorder.record

    async def counted(self: Recorder, outcomes: object, connection: object = None) -> None:
        writes.append(len(outcomes))  # type: ignore[arg-type]
        await original(self, outcomes, connection)  # type: ignore[arg-type]

    monkeypatch.setattr(Recorder, "record", counted)
    await goodjob.perform_all_later([CountJob.new(i) for i in range(200)])
    await start_worker(queues="default:5", poll_interval=30)
    await wait_for(lambda: len(DONE) == 200, timeout=30)
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 0 FROM good_jobs"), timeout=10)
    # Only the tail (the jobs started after a claim found fewer than it asked for: the 5 slots and
    # what was claimed ahead, at most AHEAD_ROUNDS rounds of them) needs separate results writes;
    # every other row went with a claim.
    assert sum(writes) <= 5 * (1 + AHEAD_ROUNDS), writes


async def test_a_cut_claim_hands_its_finished_rows_to_the_next_one(
    start_worker: StartWorker, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim carrying finished rows that fails (its connection cut mid-flight, after or before it
    committed) must not lose them: the next claim deletes them (a no-op if they are gone)."""
    claim_queues = store.claim_queues
    cut = 0

    async def flaky(*args: object, **kwargs: object) -> object:
        nonlocal cut
        delete_ids = kwargs.get("delete_ids") or (args[7] if len(args) > 7 else ())
        if delete_ids and cut < 3:
            cut += 1
            if cut == 2:  # once after the statement ran: it may have committed
                await claim_queues(*args, **kwargs)  # type: ignore[arg-type]
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        return await claim_queues(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "claim_queues", flaky)
    await goodjob.perform_all_later([CountJob.new(i) for i in range(100)])
    await start_worker(queues="default:5", poll_interval=30)
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 0 FROM good_jobs"), timeout=30)
    assert cut == 3
    assert sorted(DONE) == list(range(100))  # each ran exactly once: nothing given back ran again


async def test_finished_rows_are_written_when_the_worker_stops(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    worker = await start_worker(queues="default:2", poll_interval=30)
    await CountJob.perform_later(1)
    await wait_for(lambda: DONE == [1], timeout=10)
    await worker.shutdown()
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 0
    assert await conn.fetchval("SELECT count(*) FROM good_job_processes") == 0
    await asyncio.sleep(0)
