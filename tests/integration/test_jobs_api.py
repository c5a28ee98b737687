"""goodjob.jobs: get/find/count with every filter and keyset pages, the actions and their errors,
the _sync twins, and a caller's own connection (database=)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import sample_jobs

import goodjob
from goodjob import jobs


async def _enqueue_mix() -> dict[str, uuid.UUID]:
    ids = {}
    ids["mail"] = (await sample_jobs.RecordJob.set(queue="mail", labels=["vip"]).perform_later("a", n=1)).id
    ids["later"] = (await sample_jobs.RecordJob.set(wait=3600).perform_later("b")).id
    ids["func"] = (await sample_jobs.add_numbers.perform_later(1, 2)).id
    return ids


async def test_get_returns_a_frozen_record_with_decoded_arguments(gj: str) -> None:
    ids = await _enqueue_mix()
    record = await jobs.get(ids["mail"])
    assert record is not None
    assert (record.id, record.job_class, record.queue, record.state) == (
        ids["mail"], "sample_jobs.RecordJob", "mail", "queued")
    assert record.arguments == ("a",) and record.kwargs == {"n": 1} and record.labels == ("vip",)
    assert record.attempts == 0 and record.error is None and record.executions is None
    with pytest.raises(AttributeError):
        record.state = "x"  # type: ignore[misc]
    assert (await jobs.get(ids["later"])).state == "scheduled"  # type: ignore[union-attr]
    assert await jobs.get(uuid.uuid4()) is None
    assert jobs.get_sync(str(ids["func"])).queue == "functions"  # type: ignore[union-attr]
    with pytest.raises(goodjob.GoodJobError, match="'nope' is not a job id"):
        await jobs.get("nope")


async def test_find_filters_and_pages_in_a_stable_order(gj: str, conn: asyncpg.Connection) -> None:
    made = [(await sample_jobs.RecordJob.set(queue="bulk").perform_later(i)).id for i in range(7)]
    await _enqueue_mix()
    page1 = await jobs.find(queue="bulk", limit=3)
    page2 = await jobs.find(queue="bulk", limit=3, after=page1[-1])
    page3 = await jobs.find(queue="bulk", limit=3, after=page2[-1])
    seen = [r.id for r in page1 + page2 + page3]
    assert seen == list(reversed(made))  # newest first, each job once
    assert await jobs.find(job_class=sample_jobs.add_numbers) == await jobs.find(job_class="sample_jobs.add_numbers")
    assert [r.queue for r in await jobs.find(label="vip")] == ["mail"]
    assert [r.arguments for r in await jobs.find(state="scheduled")] == [("b",)]
    assert len(await jobs.find(search='"b"')) == 1
    assert await jobs.count() == 10 and await jobs.count(queue="bulk") == 7
    assert await jobs.count(state="scheduled") == 1 and jobs.count_sync(label="vip") == 1
    with pytest.raises(goodjob.GoodJobError, match="state='bogus' is not a job state"):
        await jobs.find(state="bogus")


async def test_find_by_batch_and_cron_key(gj: str, conn: asyncpg.Connection) -> None:
    async with goodjob.Batch(description="b") as batch:
        inside = await sample_jobs.RecordJob.perform_later("in")
    await sample_jobs.RecordJob.perform_later("out")
    await conn.execute("UPDATE good_jobs SET cron_key = 'nightly' WHERE id = $1", inside.id)
    assert [r.id for r in await jobs.find(batch_id=batch.id)] == [inside.id]
    assert [r.id for r in await jobs.find(cron_key="nightly")] == [inside.id]
    assert await jobs.count(batch_id=str(batch.id)) == 1


async def test_actions_change_state_or_name_the_states_they_take(gj: str, conn: asyncpg.Connection) -> None:
    ids = await _enqueue_mix()
    discarded = await jobs.discard(ids["mail"])
    assert discarded.state == "discarded" and discarded.error == "discarded by operator"
    with pytest.raises(goodjob.JobStateError) as err:
        await jobs.discard(ids["mail"])
    assert str(err.value) == (f"job {ids['mail']} is discarded: discard applies to scheduled, queued or "
                              "retried jobs")
    assert (err.value.state, err.value.accepted) == ("discarded", ("scheduled", "queued", "retried"))
    retried = await jobs.retry(ids["mail"])
    assert retried.state == "queued" and retried.error is None
    at = datetime.now(UTC) + timedelta(days=2)
    moved = await jobs.reschedule(ids["mail"], at)
    assert moved.state == "scheduled" and abs((moved.scheduled_at - at).total_seconds()) < 0.01
    assert (await jobs.reschedule(ids["later"])).state == "queued"  # None: now
    cancelled = jobs.cancel_sync(ids["func"])
    assert cancelled.state == "discarded"
    assert cancelled.error is not None and cancelled.error.endswith("cancelled by operator")
    assert cancelled.error_event == "cancelled"
    gone = await jobs.delete(ids["func"])
    assert gone.id == ids["func"] and await jobs.get(ids["func"]) is None
    with pytest.raises(goodjob.JobNotFoundError, match=str(ids["func"])):
        await jobs.delete(ids["func"])
    with pytest.raises(goodjob.GoodJobError, match="no time zone"):
        await jobs.reschedule(ids["mail"], datetime(2030, 1, 1))


async def test_bulk_actions_return_what_changed(gj: str) -> None:
    made = [(await sample_jobs.RecordJob.set(queue="bulk").perform_later(i)).id for i in range(5)]
    other = await sample_jobs.RecordJob.perform_later("x")
    assert await jobs.count(queue="bulk") == 5  # the dry run a CLI shows first
    result = await jobs.discard_all(queue="bulk")
    assert sorted(result.changed_ids) == sorted(made) and result.changed == 5 and not result.skipped
    again = await jobs.discard_all(jobs.Filter(queue="bulk"))
    assert again.changed == 0 and again.skipped == {"discarded": 5}
    assert jobs.retry_all_sync(state="discarded").changed == 5
    assert (await jobs.get(other.id)).state == "queued"  # type: ignore[union-attr]
    later = await jobs.reschedule_all(queue="bulk", at=timedelta(hours=1))
    assert later.changed == 5 and await jobs.count(state="scheduled") == 5
    assert (await jobs.cancel_all(state="scheduled")).changed == 5
    assert (await jobs.delete_all(state="discarded")).changed == 5 and await jobs.count() == 1


async def test_a_callers_connection_sees_and_acts_inside_its_transaction(gj: str, conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        job = await sample_jobs.RecordJob.set(connection=conn).perform_later("tx")
        assert (await jobs.get(job.id, database=conn)) is not None
        await jobs.discard(job.id, database=conn)
        assert await jobs.get(job.id) is None  # not committed: invisible to the pool
    assert (await jobs.get(job.id)).state == "discarded"  # type: ignore[union-attr]
