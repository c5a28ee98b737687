"""Labels: from the class, from set(labels=...), on function jobs and bulk enqueues, visible to the
running job; the label filter and its index."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pytest
from cron_batch_jobs import EVENTS, LabelledJob, WorkJob, labelled_function
from helpers import wait_for
from test_dashboard import client as client
from test_dashboard import make_client as make_client

import goodjob
from goodjob.core.features import labels
from goodjob.core.worker.launcher import Worker

StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture(autouse=True)
def _reset() -> None:
    EVENTS.clear()


async def _labels(conn: asyncpg.Connection, job_id: object) -> list[str] | None:
    value = await conn.fetchval("SELECT labels FROM good_jobs WHERE id = $1", job_id)
    return None if value is None else list(value)


async def test_labels_come_from_the_class_set_functions_and_bulk(conn: asyncpg.Connection) -> None:
    from_class = await LabelledJob.perform_later()
    overridden = await LabelledJob.set(labels=["urgent"]).perform_later()
    cleared = await LabelledJob.set(labels=[]).perform_later()
    plain = await WorkJob.perform_later("x")
    function = await labelled_function.perform_later()
    bulk = await goodjob.perform_all_later([WorkJob.set(labels=["bulk", "eu"]).new("y"), LabelledJob.new()])
    assert await _labels(conn, from_class.id) == ["billing", "eu"]
    assert await _labels(conn, overridden.id) == ["urgent"]
    assert await _labels(conn, cleared.id) is None
    assert await _labels(conn, plain.id) is None
    assert await _labels(conn, function.id) == ["reports"]
    assert [await _labels(conn, r.id) for r in bulk] == [["bulk", "eu"], ["billing", "eu"]]


async def test_a_running_job_sees_its_labels(start_worker: StartWorker) -> None:
    await start_worker(poll_interval=0.2)
    await LabelledJob.set(labels=["a", "b"]).perform_later()
    await wait_for(lambda: EVENTS == [("labels", ("a", "b"))], timeout=10)


async def test_the_label_filter_pages_newest_first_and_filters_by_state(conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)
    ids = [(await WorkJob.set(labels=["eu", f"n{i}"]).perform_later(str(i))).id for i in range(5)]
    await WorkJob.set(labels=["us"]).perform_later("other")
    await WorkJob.perform_later("none")
    await conn.execute("UPDATE good_jobs SET state = 'discarded', finished_at = now() WHERE id = $1", ids[0])
    first = await labels.jobs_with_label(conn, "eu", limit=3)
    assert [j["id"] for j in first] == ids[::-1][:3]
    last = first[-1]
    rest = await labels.jobs_with_label(conn, "eu", after=(last["created_at"], last["id"]), limit=3)
    assert [j["id"] for j in rest] == ids[::-1][3:]
    assert [j["id"] for j in await labels.jobs_with_label(conn, "eu", state="discarded")] == [ids[0]]
    assert [j["id"] for j in await labels.jobs_with_label(conn, "n3")] == [ids[3]]
    assert await labels.jobs_with_label(conn, "nobody") == []
    with pytest.raises(ValueError, match="unknown state"):
        await labels.jobs_with_label(conn, "eu", state="scheduled")


async def test_a_rare_label_is_found_through_the_partial_gin_index(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """INSERT INTO good_jobs (id, job_class, labels)
           SELECT gen_random_uuid(), 'x.Y', CASE WHEN i % 1000 = 0 THEN ARRAY['rare'] WHEN i % 2 = 0
                  THEN ARRAY['common'] END
           FROM generate_series(1, 50000) AS i""")
    await conn.execute("ANALYZE good_jobs")
    from goodjob.core.storage import store

    plan = "\n".join(r[0] for r in await conn.fetch(
        "EXPLAIN " + store.sql("label_jobs"), "rare", None, None, None, 50))
    assert "good_jobs_labels" in plan, plan
    assert len(await labels.jobs_with_label(conn, "rare", limit=100)) == 50


async def test_the_dashboard_filters_jobs_by_label(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    billed = await LabelledJob.perform_later()
    other = await WorkJob.set(labels=["us"]).perform_later("x")
    html = (await client.get("/labels", params={"label": "billing"})).text
    assert str(billed.id)[-8:] in html and str(other.id)[-8:] not in html
    assert "/good_job/labels?label=eu" in html  # every label of a row links to its own filter
    assert str(billed.id)[-8:] not in (await client.get("/labels", params={"label": "billing",
                                                                           "state": "running"})).text
    job_page = (await client.get(f"/jobs/{billed.id}")).text
    assert "/good_job/labels?label=billing" in job_page
    assert "/good_job/labels" in (await client.get("/jobs")).text
    assert (await client.get("/labels")).status_code == 200
    assert (await client.get("/labels", params={"label": "x", "state": "bogus"})).status_code == 400
    assert (await client.get("/labels", params={"label": "x", "after": "nope"})).status_code == 400
