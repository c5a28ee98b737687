"""Enqueue through the public API against a real database."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
import sample_jobs
from sample_jobs import AsyncRecordJob, FailingJob, RecordJob, add_numbers, sync_function

import goodjob
from goodjob.core.storage import store


async def _row(conn: asyncpg.Connection, job_id: uuid.UUID) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM good_jobs WHERE id = $1", job_id)
    assert row is not None, f"no row for {job_id}"
    return row


@pytest.mark.pgbouncer
async def test_defaults(conn: asyncpg.Connection) -> None:
    before = datetime.now(UTC)
    result = await RecordJob.perform_later(1, "two", three=3)
    assert result and isinstance(result.id, uuid.UUID)
    row = await _row(conn, result.id)
    assert row["queue_name"] == "default"
    assert row["priority"] == 0
    assert row["state"] == "queued"
    assert row["job_class"] == "sample_jobs.RecordJob"
    assert before - timedelta(seconds=1) <= row["scheduled_at"] <= datetime.now(UTC) + timedelta(seconds=1)
    assert json.loads(row["serialized_params"]) == {"args": [1, "two"], "kwargs": {"three": 3}}


async def test_class_attributes_and_set_options(conn: asyncpg.Connection) -> None:
    a = await AsyncRecordJob.perform_later()
    row = await _row(conn, a.id)
    assert (row["queue_name"], row["priority"]) == ("async", 3)
    b = await AsyncRecordJob.set(queue="mail", priority=-5, labels=["x", "y"]).perform_later()
    row = await _row(conn, b.id)
    assert (row["queue_name"], row["priority"], row["labels"]) == ("mail", -5, ["x", "y"])


async def test_wait_and_wait_until(conn: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    a = await RecordJob.set(wait=300).perform_later()
    b = await RecordJob.set(wait=timedelta(hours=1)).perform_later()
    when = now + timedelta(days=2)
    c = await RecordJob.set(wait_until=when).perform_later()
    assert abs(((await _row(conn, a.id))["scheduled_at"] - now).total_seconds() - 300) < 5
    assert abs(((await _row(conn, b.id))["scheduled_at"] - now).total_seconds() - 3600) < 5
    assert (await _row(conn, c.id))["scheduled_at"] == when
    with pytest.raises(ValueError, match="time zone"):
        await RecordJob.set(wait_until=datetime(2030, 1, 1)).perform_later()
    with pytest.raises(TypeError, match="unknown option"):
        RecordJob.set(colour="red")


async def test_function_jobs(conn: asyncpg.Connection) -> None:
    result = await add_numbers.perform_later(1, 2)
    row = await _row(conn, result.id)
    assert (row["queue_name"], row["priority"], row["job_class"]) == ("functions", 7, "sample_jobs.add_numbers")
    assert await add_numbers(2, 3) == 5  # still a plain (async) function
    assert await add_numbers.perform_now(4, 5) == 9


@pytest.mark.pgbouncer
async def test_transaction_rollback_leaves_no_row_and_no_notify(gj: str) -> None:
    listener = await asyncpg.connect(gj)
    received: list[str] = []
    await listener.add_listener("good_job", lambda *a: received.append(a[3]))
    writer = await asyncpg.connect(gj)
    try:
        await writer.execute("CREATE TABLE orders (id int)")
        tx = writer.transaction()
        await tx.start()
        await writer.execute("INSERT INTO orders VALUES (1)")
        result = await RecordJob.set(connection=writer).perform_later("order", 1)
        await tx.rollback()
        async with writer.transaction():
            await writer.execute("INSERT INTO orders VALUES (2)")
            committed = await RecordJob.set(connection=writer).perform_later("order", 2)
        await listener.execute("SELECT 1")  # flush pending notifications
        await asyncio.sleep(0.05)
        assert await writer.fetchval("SELECT count(*) FROM good_jobs WHERE id = $1", result.id) == 0
        assert await writer.fetchval("SELECT count(*) FROM good_jobs WHERE id = $1", committed.id) == 1
        assert len(received) == 1 and json.loads(received[0])["queue"] == "default"
    finally:
        await writer.close()
        await listener.close()
        await goodjob.get_runtime().close_database()


@pytest.mark.pgbouncer
async def test_bulk_enqueue_one_notify_per_queue(gj: str, conn: asyncpg.Connection) -> None:
    listener = await asyncpg.connect(gj)
    received: list[str] = []
    await listener.add_listener("good_job", lambda *a: received.append(a[3]))
    try:
        jobs = [RecordJob.new(i) for i in range(500)]
        jobs += [AsyncRecordJob.set(queue="other", wait=60).new(i) for i in range(100)]
        results = await goodjob.perform_all_later(jobs)
        assert len(results) == 600 and all(results)
        counts = dict(await conn.fetch("SELECT queue_name, count(*) FROM good_jobs GROUP BY 1"))
        assert counts == {"default": 500, "other": 100}
        await listener.execute("SELECT 1")
        await asyncio.sleep(0.05)
        payloads = sorted((json.loads(p)["queue"], json.loads(p)["count"]) for p in received)
        assert payloads == [("default", 500), ("other", 100)]
        params = await conn.fetchval("SELECT serialized_params FROM good_jobs WHERE id = $1", results[7].id)
        assert json.loads(params)["args"] == [7]
    finally:
        await listener.close()


async def test_round_trip_arguments_through_the_table(conn: asyncpg.Connection) -> None:
    value = {
        "when": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        "price": Decimal("12.3400"),
        "id": uuid.UUID(int=5),
        "pair": (1, "a"),
    }
    result = await RecordJob.perform_later(value, flag=True)
    row = await store.get_job(conn, result.id)
    assert row is not None
    from goodjob.core.serialize import load_arguments

    args, kwargs = load_arguments(json.loads(row["params"]))
    assert args == (value,) and kwargs == {"flag": True}
    assert type(args[0]["pair"]) is tuple


async def test_a_job_without_arguments_reads_back_as_the_text_the_worker_skips_parsing(
    conn: asyncpg.Connection,
) -> None:
    # The worker compares the claimed params text with NO_ARGUMENTS_TEXT instead of parsing it: if
    # Postgres printed jsonb differently, the shortcut would silently never apply (or, worse, a
    # changed constant would match rows it should not).
    from goodjob.core.serialize import NO_ARGUMENTS_TEXT

    single = await AsyncRecordJob.perform_later()
    [bulk] = await goodjob.perform_all_later([AsyncRecordJob.new()])
    with_args = await AsyncRecordJob.perform_later(1)
    texts = {r["id"]: r["t"] for r in await conn.fetch(
        "SELECT id, serialized_params::text AS t FROM good_jobs WHERE id = ANY($1)", [single.id, bulk.id, with_args.id]
    )}
    assert texts[single.id] == texts[bulk.id] == NO_ARGUMENTS_TEXT
    assert texts[with_args.id] != NO_ARGUMENTS_TEXT


async def test_serialization_error_writes_nothing(conn: asyncpg.Connection) -> None:
    with pytest.raises(goodjob.SerializationError) as info:
        await RecordJob.perform_later(1, user=object())
    assert "user" in str(info.value) and "object" in str(info.value)
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 0
    # the same in bulk, on the uniform path (jobs of one set(...), no request built) and the general one
    configured = RecordJob.set(queue="bulk")
    for jobs in ([configured.new(1), configured.new(2, user=object())],
                 [RecordJob.new(1), RecordJob.set(queue="b").new(user=object())]):
        with pytest.raises(goodjob.SerializationError):
            await goodjob.perform_all_later(jobs)
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 0


@pytest.mark.pgbouncer
def test_sync_api_from_plain_code_and_a_thread_beside_a_loop(gj: str) -> None:
    result = RecordJob.perform_later_sync("from sync")
    assert result

    found: list[goodjob.Enqueued] = []

    async def beside_a_loop() -> None:
        # A blocking call from inside a running loop's thread still works (it does not use this loop).
        found.append(sync_function.perform_later_sync("x"))

    asyncio.run(beside_a_loop())
    thread = threading.Thread(target=lambda: found.append(RecordJob.perform_later_sync("thread")))
    thread.start()
    thread.join()
    assert len(found) == 2 and all(found)

    async def count() -> int:
        c = await asyncpg.connect(gj)
        try:
            return int(await c.fetchval("SELECT count(*) FROM good_jobs"))
        finally:
            await c.close()

    assert asyncio.run(count()) == 3


async def test_inline_mode_performs_now_and_propagates_errors(conn: asyncpg.Connection) -> None:
    goodjob.configure(execution_mode="inline")
    sample_jobs.CALLS.clear()
    await RecordJob.perform_later("now")
    assert sample_jobs.CALLS == [("RecordJob", ("now",), {})]
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 0  # not preserved by default

    with pytest.raises(sample_jobs.BoomError):
        await FailingJob.perform_later("inline boom")

    later = await RecordJob.set(wait=3600).perform_later("later")
    assert sample_jobs.CALLS == [("RecordJob", ("now",), {})]
    assert (await _row(conn, later.id))["state"] == "queued"
    await conn.execute("UPDATE good_jobs SET scheduled_at = now() - interval '1 second' WHERE id = $1", later.id)
    assert await goodjob.perform_inline() >= 1
    assert ("RecordJob", ("later",), {}) in sample_jobs.CALLS


async def test_inline_preserved_records(conn: asyncpg.Connection) -> None:
    goodjob.configure(execution_mode="inline", preserve_job_records=True, retry_on_unhandled_error=False)
    ok = await RecordJob.perform_later()
    with pytest.raises(sample_jobs.BoomError):
        await FailingJob.perform_later("kept")
    rows = {r["job_class"]: r for r in await conn.fetch("SELECT * FROM good_jobs")}
    assert rows["sample_jobs.RecordJob"]["state"] == "succeeded"
    assert rows["sample_jobs.RecordJob"]["id"] == ok.id
    failed = rows["sample_jobs.FailingJob"]
    assert failed["state"] == "discarded" and "kept" in failed["error"]
    execs = await conn.fetch("SELECT * FROM good_job_executions WHERE job_id = $1", failed["id"])
    assert len(execs) == 1 and execs[0]["error_class"] == "sample_jobs.BoomError"
    assert "Traceback" in execs[0]["error_backtrace"]


async def test_unknown_job_class_is_recorded_not_crashed(conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True, retry_on_unhandled_error=False)
    job_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO good_jobs (id, job_class, serialized_params) VALUES ($1, 'nowhere.Missing', '{}')", job_id
    )
    rt = goodjob.get_runtime()
    with pytest.raises(goodjob.UnknownJobError, match=r"nowhere\.Missing"):
        await rt.perform_inline_job(job_id)
    row = await _row(conn, job_id)
    assert row["state"] == "discarded" and "nowhere.Missing" in row["error"]


async def test_logger_option_routes_records(conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from goodjob.core.runtime import route_logs

    mine = logging.getLogger("myapp.jobs")
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    mine.addHandler(Collect())
    mine.setLevel(logging.INFO)
    try:
        goodjob.configure(logger=mine)
        route_logs(goodjob.current_config().logger)
        logging.getLogger("goodjob").warning("hello from goodjob")
        assert [r.getMessage() for r in records] == ["hello from goodjob"]
    finally:
        route_logs(logging.getLogger("goodjob"))
