"""Pauses: running workers stop claiming paused queues and job classes, the jobs wait, and resuming
starts them at once; the dashboard's setting format; the claim plan with the class filter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from cron_batch_jobs import EVENTS, FlakyJob, WorkJob
from helpers import prepared_plan, wait_for
from test_dashboard import client as client
from test_dashboard import make_client as make_client
from test_dashboard_actions import flashes, post

import goodjob
from goodjob.core import admin
from goodjob.core.storage import store
from goodjob.core.worker.launcher import Worker

StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture(autouse=True)
def _reset() -> None:
    EVENTS.clear()


async def _state(conn: asyncpg.Connection, job_id: object) -> str:
    return str(await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", job_id))


async def test_a_paused_queue_waits_and_resuming_starts_it_at_once(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    goodjob.configure(preserve_job_records=True)
    worker = await start_worker(poll_interval=-1)  # NOTIFY only: resuming must wake it by itself
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    paused = await goodjob.pause(queue="mail")
    assert paused.queues == ("mail",) and paused.job_classes == ()
    await wait_for(lambda: worker.services.pauses.current.queues == ("mail",), timeout=10)
    mail = await WorkJob.set(queue="mail").perform_later("mail")
    await WorkJob.perform_later("default")
    await wait_for(lambda: ("work", "default") in EVENTS, timeout=10)
    await asyncio.sleep(0.5)
    assert ("work", "mail") not in EVENTS and await _state(conn, mail.id) == "queued"
    started = time.monotonic()
    assert not await goodjob.resume(queue="mail")
    await wait_for(lambda: ("work", "mail") in EVENTS, timeout=10)
    assert time.monotonic() - started < 3  # no poll: the resume NOTIFY woke the worker

    async def succeeded() -> bool:  # the result is written just after the job returns
        return await _state(conn, mail.id) == "succeeded"

    await wait_for(succeeded, timeout=10)


@pytest.mark.parametrize("queues", ["*", "default", "-other"])
async def test_a_paused_job_class_waits_in_every_kind_of_pool(
    start_worker: StartWorker, conn: asyncpg.Connection, queues: str
) -> None:
    goodjob.configure(preserve_job_records=True)
    worker = await start_worker(queues=queues, poll_interval=0.2)
    await goodjob.pause(job_class=FlakyJob)
    await wait_for(lambda: worker.services.pauses.current.job_classes == (FlakyJob.job_name,), timeout=10)
    held = await FlakyJob.perform_later("held")
    await WorkJob.perform_later("free")
    await wait_for(lambda: ("work", "free") in EVENTS, timeout=10)
    await asyncio.sleep(0.5)
    assert await _state(conn, held.id) == "queued" and ("flaky", "held") not in EVENTS
    await goodjob.resume(job_class=FlakyJob.job_name)
    await wait_for(lambda: ("flaky", "held") in EVENTS, timeout=10)


@pytest.mark.pgbouncer
async def test_pauses_reach_a_worker_without_listen_through_polling(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    worker = await start_worker(poll_interval=0.2, listen=False)
    await goodjob.pause(queue="default")
    await wait_for(lambda: worker.services.pauses.current.queues == ("default",), timeout=10)
    job = await WorkJob.perform_later("later")
    await asyncio.sleep(0.6)
    assert await _state(conn, job.id) == "queued"
    await goodjob.resume(queue="default")
    await wait_for(lambda: ("work", "later") in EVENTS, timeout=10)


async def test_a_worker_starting_while_paused_claims_nothing_paused(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    await goodjob.pause(queue="default")
    job = await WorkJob.perform_later("waiting")
    await start_worker(poll_interval=0.2)
    await asyncio.sleep(0.6)
    assert await _state(conn, job.id) == "queued"
    await goodjob.resume(queue="default")
    await wait_for(lambda: ("work", "waiting") in EVENTS, timeout=10)


async def test_the_api_and_the_dashboard_share_one_setting(conn: asyncpg.Connection) -> None:
    await goodjob.pause(queue="b")
    await goodjob.pause(queue="a")
    await goodjob.pause(queue="a")  # idempotent
    assert await admin.paused_queues(conn) == ["a", "b"]
    await admin.set_queue_paused(conn, "b", False)  # the dashboard's own action
    assert (await goodjob.paused()).queues == ("a",)
    await goodjob.pause(job_class="app.jobs.Report")
    assert await goodjob.paused() == goodjob.Paused(("a",), ("app.jobs.Report",))
    with pytest.raises(ValueError, match=r"queue=\.\.\. or job_class"):
        await goodjob.pause()


def test_sync_variants(gj: str) -> None:
    assert goodjob.pause_sync(queue="q").queues == ("q",)
    assert goodjob.paused_sync().queues == ("q",)
    assert not goodjob.resume_sync(queue="q")


async def test_the_class_filter_keeps_the_claim_plan(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """INSERT INTO good_jobs (id, queue_name, job_class, serialized_params)
           SELECT gen_random_uuid(), 'q' || (i % 3), 'x.Y', '{}' FROM generate_series(1, 20000) AS i""")
    await conn.execute("ANALYZE good_jobs")
    now = datetime.now(UTC)
    for classes in ([], ["other.Paused"]):  # nothing paused (the usual case), a class with few rows
        skip = "ARRAY[" + ", ".join(f"'{c}'" for c in classes) + "]::text[]"
        async with conn.transaction():  # the first runs' (custom) plans
            star = "\n".join(r[0] for r in await conn.fetch(
                "EXPLAIN " + store.sql("claim_all"), 10, now, None, [], classes))
            one = "\n".join(r[0] for r in await conn.fetch(
                "EXPLAIN " + store.sql("claim_queues"), 10, now, None, ["q1"], False, classes))
        assert "Index Scan using good_jobs_claim_all" in star, star
        assert "Index Scan using good_jobs_claim_queue" in one, one
        async with conn.transaction():
            single = "\n".join(r[0] for r in await conn.fetch(
                "EXPLAIN " + store.sql("claim_queue"), 10, now, None, "q1", classes))
        assert "Index Scan using good_jobs_claim_queue" in single, single
        single = await prepared_plan(conn, store.sql("claim_queue"), f"10, now(), NULL, 'q1', {skip}")
        assert "Index Scan using good_jobs_claim_queue" in single, single
        # ... and the plans the prepared statements settle on (helpers.prepared_plan)
        star = await prepared_plan(conn, store.sql("claim_all"), f"10, now(), NULL, ARRAY[]::text[], {skip}")
        one = await prepared_plan(conn, store.sql("claim_queues"), f"10, now(), NULL, ARRAY['q1'], false, {skip}")
        assert "Index Scan using good_jobs_claim_all" in star, star
        assert "Index Scan using good_jobs_claim_queue" in one, one
    async with conn.transaction():
        assert len(await store.claim_all(conn, 10, now, None, [], ["x.Y"])) == 0  # type: ignore[arg-type]
        assert len(await store.claim_all(conn, 10, now, None, [])) == 10  # type: ignore[arg-type]


async def test_the_dashboard_pauses_and_resumes_job_classes(client: httpx.AsyncClient) -> None:
    # No worker ran app.jobs.Report and this process does not know it: a typo? The page asks first.
    asked = await post(client, "/pauses/pause", {"job_class": "app.jobs.Report"}, page="/pauses", confirmed=False)
    assert asked.status_code == 200 and "No job class &#39;app.jobs.Report&#39; is known" in asked.text
    assert await goodjob.paused() == goodjob.Paused((), ())
    response = await post(client, "/pauses/pause", {"job_class": "app.jobs.Report"}, page="/pauses")
    assert "Job class app.jobs.Report paused" in await flashes(client, response)
    await goodjob.pause(queue="mail")
    html = (await client.get("/pauses")).text
    assert "app.jobs.Report" in html and "mail" in html
    assert "/good_job/pauses" in (await client.get("/queues")).text
    response = await post(client, "/pauses/resume", {"job_class": "app.jobs.Report"}, page="/pauses", confirmed=False)
    assert "resumed" in await flashes(client, response)
    assert await goodjob.paused() == goodjob.Paused(("mail",), ())
    both = await post(client, "/pauses/pause", {"job_class": "a", "queue": "b"}, page="/pauses", confirmed=False)
    assert both.status_code == 400
