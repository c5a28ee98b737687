"""`goodjob start` in a Django project (DJANGO_SETTINGS_MODULE set) as a real subprocess: it runs
Django tasks, keeps their results for get_result, and recovers a task from a SIGKILLed worker."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from djhelpers import rows, worker_env
from helpers import wait_for_sync
from processes import WorkerProcesses

from goodjob.django.compat import TaskResultStatus


class DjangoWorkers(WorkerProcesses):
    def __init__(self, database_url: str, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.database_url = database_url

    def child_env(self, extra: dict[str, str]) -> dict[str, str]:
        return {**worker_env(self.database_url), **extra}


@pytest.fixture
def workers(dj: str, tmp_path: Path) -> Iterator[DjangoWorkers]:
    # The worker takes goodjob's database from DATABASES (OPTIONS["database"]), not from GOOD_JOB_*.
    w = DjangoWorkers(dj, tmp_path)
    yield w
    w.stop_all()


def finished(task: object, result_id: str) -> object:
    result = task.get_result(result_id)  # type: ignore[attr-defined]
    return result if result.is_finished else None


def test_goodjob_start_runs_django_tasks_and_get_result_reads_them(workers: DjangoWorkers) -> None:
    from djproject.tasks import add, async_echo, fail

    ok, echoed, failed = add.enqueue(20, 22), async_echo.enqueue([1, "two"]), fail.enqueue("in the worker")
    proc = workers.start("--max-threads", "2")
    done = wait_for_sync(lambda: finished(add, ok.id), timeout=60)
    assert done.status == TaskResultStatus.SUCCESSFUL and done.return_value == 42, workers.output(proc)
    assert wait_for_sync(lambda: finished(async_echo, echoed.id)).return_value["echo"] == [1, "two"]
    bad = wait_for_sync(lambda: finished(fail, failed.id))
    assert bad.status == TaskResultStatus.FAILED and "in the worker" in bad.errors[0].traceback
    assert bad.attempts == 1, "Django's contract: a task that raises is FAILED, not retried by default"
    [(process_id, pid)] = rows("SELECT id::text, pid FROM good_job_processes")
    assert pid == proc.pid and done.worker_ids == [process_id]
    # The dashboard and filters see the dotted names Django users know.
    names = {name for (name,) in rows("SELECT job_class FROM good_jobs")}
    assert names == {"djproject.tasks.add", "djproject.tasks.async_echo", "djproject.tasks.fail"}


@pytest.mark.slow
def test_a_task_of_a_sigkilled_worker_runs_again_and_its_result_shows_both_attempts(
    workers: DjangoWorkers,
) -> None:
    from djproject.tasks import first_attempt_hangs

    result = first_attempt_hangs.enqueue("crash")
    victim = workers.start("--max-threads", "1", "--queues", "emails")
    wait_for_sync(lambda: rows("SELECT 1 FROM effects WHERE marker = 'start:crash'"), timeout=60)
    running = first_attempt_hangs.get_result(result.id)
    assert running.status == TaskResultStatus.RUNNING and running.attempts == 1
    rescuer = workers.start("--max-threads", "1", "--queues", "emails")
    wait_for_sync(lambda: rows("SELECT 1 FROM good_job_processes WHERE pid = %s", rescuer.pid), timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    done = wait_for_sync(lambda: finished(first_attempt_hangs, result.id), timeout=60)
    print(f"Django task recovered and finished {time.monotonic() - killed_at:.1f}s after SIGKILL")
    assert done.status == TaskResultStatus.SUCCESSFUL, workers.output(rescuer)
    assert done.return_value == "done:crash" and done.attempts == 2
    assert done.worker_ids[0] == "interrupted"
    assert [e.exception_class_path for e in done.errors] == ["goodjob.core.errors.InterruptedJobError"]
