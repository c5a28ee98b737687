"""Batches: callbacks (finish, success, discard) exactly once, racing last jobs, jobs that add jobs,
retry, preserve_job_records=False, the sweeper, inline and sync use."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from cron_batch_jobs import (
    EVENTS,
    FAIL_ONCE,
    CallbackJob,
    FlakyJob,
    Gate,
    GatedJob,
    ParentJob,
    ParkedCallbackJob,
    WorkJob,
)
from helpers import wait_for
from test_dashboard import client as client
from test_dashboard import make_client as make_client
from test_dashboard_actions import flashes, post

import goodjob
from goodjob.core.features import batches
from goodjob.core.operations import actions
from goodjob.core.runtime import get_runtime
from goodjob.core.worker.launcher import Worker

StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture(autouse=True)
def _reset() -> None:
    EVENTS.clear()
    FAIL_ONCE.clear()
    Gate.event, Gate.running = None, 0


def callbacks(event: str | None = None) -> list[tuple[str, Any]]:
    return [e for e in EVENTS if e[0] in ("finish", "success", "discard") and (event is None or e[0] == event)]


@pytest.mark.pgbouncer
async def test_success_fires_finish_and_success_once_with_the_batch(start_worker: StartWorker) -> None:
    await start_worker(poll_interval=0.2)
    async with goodjob.Batch({"user": 7}, description="import", on_finish=CallbackJob, on_success=CallbackJob,
                             on_discard=CallbackJob) as batch:
        for i in range(3):
            await WorkJob.perform_later(str(i))
    await wait_for(lambda: len(callbacks()) == 2, timeout=15)
    await asyncio.sleep(0.3)  # nothing else arrives
    assert sorted(e[0] for e in callbacks()) == ["finish", "success"]
    for _, (batch_id, properties, status) in callbacks():
        assert batch_id == batch.id and properties == {"user": 7} and status == "succeeded"
    loaded = await goodjob.Batch.find(batch.id)
    assert loaded is not None and loaded.succeeded and loaded.description == "import"
    assert loaded.jobs_count == 3 and loaded.finished_count == 3 and loaded.discarded_count == 0


async def test_a_discarded_job_fires_discard_and_finish_but_not_success(start_worker: StartWorker) -> None:
    FAIL_ONCE.add("bad")
    await start_worker(poll_interval=0.2)
    async with goodjob.Batch(on_finish=CallbackJob, on_success=CallbackJob, on_discard=CallbackJob) as batch:
        await FlakyJob.perform_later("good")
        await FlakyJob.perform_later("bad")
    await wait_for(lambda: len(callbacks()) == 2, timeout=15)
    await asyncio.sleep(0.3)
    assert sorted(e[0] for e in callbacks()) == ["discard", "finish"]
    await batch.reload()
    assert batch.status == "discarded" and batch.discarded_count == 1 and batch.finished_count == 2


@pytest.mark.pgbouncer
async def test_the_last_jobs_finishing_together_fire_each_callback_once(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    """20 batches of 2 jobs, one job of each on either of two workers (two recorders: two
    transactions), released at the same moment: each batch gets exactly one finish and one success
    callback, and none is missed (each transaction alone sees the other's job still running)."""
    Gate.event = asyncio.Event()
    ids = []
    for _ in range(20):
        async with goodjob.Batch(on_finish=ParkedCallbackJob, on_success=ParkedCallbackJob) as batch:
            await GatedJob.set(queue="qa").perform_later("a")
            await GatedJob.set(queue="qb").perform_later("b")
        ids.append(batch.id)
    for queue in ("qa", "qb"):
        await start_worker(max_threads=20, queues=queue, poll_interval=0.2)
    await wait_for(lambda: Gate.running == 40, timeout=15)
    Gate.event.set()

    async def settled() -> bool:
        return await conn.fetchval("SELECT count(*) FROM good_job_batches WHERE finished_at IS NOT NULL") == 20

    await wait_for(settled, timeout=15)
    rows = await conn.fetch(
        """SELECT serialized_params->'args'->0->>'v' AS batch, serialized_params->'args'->>1 AS event,
                  count(*) AS n
           FROM good_jobs WHERE job_class = $1 GROUP BY 1, 2""", ParkedCallbackJob.job_name)
    fired = {(r["batch"], r["event"]): r["n"] for r in rows}
    assert fired == {(str(i), e): 1 for i in ids for e in ("finish", "success")}
    assert all(r["queue_name"] == "parked" for r in await conn.fetch(
        "SELECT queue_name FROM good_jobs WHERE job_class = $1", ParkedCallbackJob.job_name))


async def test_a_job_can_add_jobs_to_its_batch(start_worker: StartWorker) -> None:
    await start_worker(poll_interval=0.2)
    async with goodjob.Batch(on_finish=CallbackJob) as batch:
        await ParentJob.perform_later("p")
    await wait_for(lambda: callbacks("finish"), timeout=15)
    assert ("work", "child-of-p") in EVENTS and ("parent", "p") in EVENTS
    await batch.reload()
    assert batch.jobs_count == 2 and batch.finished_count == 2
    # The child finished before the callback ran (it was committed before its parent finished).
    assert EVENTS.index(("work", "child-of-p")) < EVENTS.index(callbacks("finish")[0])


async def test_retry_requeues_discarded_jobs_and_callbacks_fire_again(start_worker: StartWorker) -> None:
    FAIL_ONCE.add("x")
    await start_worker(poll_interval=0.2)
    async with goodjob.Batch(on_finish=CallbackJob, on_success=CallbackJob, on_discard=CallbackJob) as batch:
        await FlakyJob.perform_later("x")
        await FlakyJob.perform_later("y")
    await wait_for(lambda: len(callbacks()) == 2, timeout=15)
    assert await batch.retry() == 1
    await batch.reload()
    assert batch.status == "running" and batch.discarded_at is None
    await wait_for(lambda: len(callbacks()) == 4, timeout=15)
    assert sorted(e[0] for e in callbacks()) == ["discard", "finish", "finish", "success"]
    await batch.reload()
    assert batch.succeeded and batch.counts == {"succeeded": 2}
    assert await batch.retry() == 0  # nothing discarded: nothing to do, still finished
    assert (await batch.reload()).succeeded


async def test_progress_survives_preserve_job_records_false(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    assert goodjob.current_config().preserve_job_records is False
    await start_worker(poll_interval=0.2)
    await WorkJob.perform_later("outside")
    batch = await goodjob.Batch.enqueue(WorkJob.new("1"), WorkJob.new("2"), on_finish=CallbackJob)
    await wait_for(lambda: callbacks("finish"), timeout=15)
    await batch.reload()
    assert batch.counts == {"succeeded": 2}
    # Batch jobs are kept (their batch reads them); the job outside the batch was deleted.
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE batch_id IS NULL AND job_class = $1",
                               WorkJob.job_name) == 0
    assert [r["id"] for r in await batches.jobs(conn, batch.id)] == sorted(
        [r["id"] for r in await conn.fetch("SELECT id FROM good_jobs WHERE batch_id = $1", batch.id)])


async def test_a_batch_is_not_finished_while_it_is_being_filled(start_worker: StartWorker) -> None:
    await start_worker(poll_interval=0.1)
    async with goodjob.Batch(on_finish=CallbackJob) as batch:
        await WorkJob.perform_later("early")
        await wait_for(lambda: ("work", "early") in EVENTS, timeout=10)
        await asyncio.sleep(0.3)
        assert not callbacks()  # its only job finished, but the block has not ended
        await WorkJob.perform_later("late")
    await wait_for(lambda: callbacks("finish"), timeout=15)
    assert (await batch.reload()).jobs_count == 2


async def test_an_empty_batch_finishes_when_its_block_ends(conn: asyncpg.Connection) -> None:
    async with goodjob.Batch(on_finish=ParkedCallbackJob, on_success=ParkedCallbackJob) as batch:
        pass
    rows = await conn.fetch("SELECT serialized_params FROM good_jobs WHERE job_class = $1", ParkedCallbackJob.job_name)
    assert sorted(json.loads(r["serialized_params"])["args"][1] for r in rows) == ["finish", "success"]
    assert (await batch.reload()).succeeded


async def test_the_sweeper_settles_batches_finished_by_an_operator(conn: asyncpg.Connection) -> None:
    async with goodjob.Batch(on_finish=ParkedCallbackJob, on_discard=ParkedCallbackJob) as batch:
        queued = await WorkJob.perform_later("never run")
    result = await actions.apply(conn, "discard", [queued.id])
    assert result.changed == 1
    assert await batches.sweep(conn) == 1
    assert await batches.sweep(conn) == 0  # settled once
    events = sorted(json.loads(r["p"])["args"][1] for r in await conn.fetch(
        "SELECT serialized_params AS p FROM good_jobs WHERE job_class = $1", ParkedCallbackJob.job_name))
    assert events == ["discard", "finish"]
    assert (await batch.reload()).status == "discarded"


async def test_inline_mode_runs_the_batch_and_its_callbacks_in_the_caller(gj: str) -> None:
    goodjob.configure(execution_mode="inline")
    async with goodjob.Batch({"k": "v"}, on_finish=CallbackJob, on_success=CallbackJob) as batch:
        await WorkJob.perform_later("inline")
    assert ("work", "inline") in EVENTS
    assert sorted(e[0] for e in callbacks()) == ["finish", "success"]
    assert callbacks()[0][1][1] == {"k": "v"}
    assert (await batch.reload()).succeeded
    await get_runtime().close_database()


def test_sync_batch_block_and_perform_later_sync(gj: str) -> None:
    with goodjob.Batch(on_finish=ParkedCallbackJob) as batch:
        job = WorkJob.perform_later_sync("sync")
    loaded = goodjob.Batch.find_sync(batch.id)
    assert loaded is not None and loaded.counts == {"queued": 1} and loaded.status == "running"

    async def batch_of_job() -> Any:
        db = await get_runtime().database()
        return await db.pool.fetchval("SELECT batch_id FROM good_jobs WHERE id = $1", job.id)

    assert get_runtime().run_sync(batch_of_job) == batch.id
    assert WorkJob.perform_later_sync("outside")  # the block ended: no batch
    assert get_runtime().run_sync(lambda: get_runtime().database()) is not None


async def test_properties_keep_their_types_and_bad_callbacks_fail_early(gj: str) -> None:
    import datetime
    import uuid

    props = {"when": datetime.date(2026, 1, 2), "id": uuid.UUID(int=5), "n": 3}
    async with goodjob.Batch(props, extra="x") as batch:
        pass
    loaded = await goodjob.Batch.find(batch.id)
    assert loaded is not None and loaded.properties == {**props, "extra": "x"}
    with pytest.raises(TypeError, match="on_finish"):
        goodjob.Batch(on_finish=object())
    await get_runtime().close_database()


# --- dashboard ---------------------------------------------------------------------------------------


async def test_the_dashboard_lists_batches_shows_their_jobs_and_retries(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    async with goodjob.Batch({"user": 7}, description="Nightly import", on_finish=ParkedCallbackJob) as batch:
        first = await WorkJob.perform_later("1")
        await WorkJob.perform_later("2")
    await actions.apply(conn, "discard", [first.id])
    html = (await client.get("/batches")).text
    assert "Nightly import" in html and f"/good_job/batches/{batch.id}" in html and "1/2" in html
    page = (await client.get(f"/batches/{batch.id}")).text
    assert str(first.id) in page and "user: 7" in page and "Retry discarded jobs" in page
    assert f"/good_job/batches/{batch.id}" in (await client.get(f"/jobs/{first.id}")).text
    response = await post(client, f"/batches/{batch.id}/retry", page=f"/batches/{batch.id}", confirmed=False)
    assert "1 discarded job queued again" in await flashes(client, response)
    assert await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", first.id) == "queued"
    response = await post(client, f"/batches/{batch.id}/retry", page="/jobs", confirmed=False)
    assert "has no discarded jobs" in await flashes(client, response)
    assert (await client.get("/batches/not-an-id")).status_code == 404
    assert (await client.get(f"/batches/{first.id}")).status_code == 404


async def test_retrying_one_job_from_the_dashboard_reopens_its_batch(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    from goodjob.core.operations import actions

    FAIL_ONCE.add("solo")
    await start_worker(poll_interval=0.2)
    async with goodjob.Batch(on_finish=CallbackJob, on_success=CallbackJob, on_discard=CallbackJob) as batch:
        failing = await FlakyJob.perform_later("solo")
        await FlakyJob.perform_later("fine")
    await wait_for(lambda: len(callbacks()) == 2, timeout=15)  # discard + finish
    result = await actions.apply(conn, "retry", [failing.id])
    assert result.changed == 1
    await batch.reload()
    assert batch.discarded_at is None and batch.finished_at is None
    await wait_for(lambda: len(callbacks()) == 4, timeout=15)
    assert sorted(e[0] for e in callbacks()) == ["discard", "finish", "finish", "success"]
    assert (await batch.reload()).succeeded
