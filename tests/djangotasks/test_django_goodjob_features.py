"""goodjob's own features reached from Django tasks: concurrency limits, batches, cron entries."""

from __future__ import annotations

import pytest
from djhelpers import rows

import goodjob
from goodjob.django import EnqueueRefused
from goodjob.django.compat import TaskResultStatus


def test_an_enqueue_concurrency_limit_refuses_with_a_message(dj: str) -> None:
    from djproject.tasks import report

    first = report.enqueue(7)
    with pytest.raises(EnqueueRefused, match=r"goodjob refused task djproject.tasks.report .*report:7"):
        report.enqueue(7)
    report.enqueue(8)  # another key
    assert rows("SELECT concurrency_key FROM good_jobs ORDER BY created_at") == [("report:7",), ("report:8",)]
    assert goodjob.perform_inline_sync() == 2
    assert report.get_result(first.id).return_value == 7


def test_tasks_enqueued_in_a_batch_block_belong_to_it_and_its_callback_can_be_a_task(dj: str) -> None:
    from djproject.tasks import add

    with goodjob.Batch(on_finish="djproject.tasks.batch_done") as batch:
        add.enqueue(1, 2)
        add.enqueue(3, 4)
    assert rows("SELECT count(*) FROM good_jobs WHERE batch_id = %s", batch.id) == [(2,)]
    for _ in range(3):
        goodjob.perform_inline_sync()
    assert rows("SELECT marker FROM effects") == [(f"finish:{batch.id}",)]


def test_a_cron_entry_names_a_task_by_its_dotted_path(dj: str) -> None:
    from djproject.tasks import add

    from goodjob.core.features.cron import parse_entries
    from goodjob.core.runtime import get_runtime

    [entry] = parse_entries({"sum": {"cron": "*/5 * * * *", "class": "djproject.tasks.add", "args": [5, 6]}},
                            resolve=True)

    async def enqueue() -> str:
        db = await get_runtime().database()
        async with db.pool.acquire() as conn:
            return str((await entry.enqueue(conn, cron_at=None)).id)

    job_id = get_runtime().run_sync(enqueue)
    assert goodjob.perform_inline_sync() == 1
    result = add.get_result(job_id)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 11




def test_a_task_completes_in_its_atomic_block_together_with_its_writes(dj: str) -> None:
    from djproject.tasks import pay, pay_outside_atomic

    result = pay.enqueue("order-1")
    assert goodjob.perform_inline_sync() == 1
    done = pay.get_result(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL and done.return_value == "paid:order-1"
    assert rows("SELECT marker FROM effects") == [("paid:order-1",)]
    assert rows("SELECT outcome FROM good_job_executions WHERE job_id = %s", result.id) == [("succeeded",)]

    bad = pay_outside_atomic.enqueue("x")
    with pytest.raises(goodjob.GoodJobError, match="needs a DB-API cursor inside an open transaction"):
        goodjob.perform_inline_sync()
    failed = pay_outside_atomic.get_result(bad.id)
    assert failed.status == TaskResultStatus.FAILED
