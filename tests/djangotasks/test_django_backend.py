"""GoodJobBackend with a real Django (the backport on 3.11, Django 6 on 3.12) and the real Postgres:
enqueue from views, transactions, run_after, priority, results, errors, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from djhelpers import jobs, rows

import goodjob
from goodjob.django.compat import InvalidTask, TaskResultDoesNotExist, TaskResultStatus


@pytest.fixture
def listener(dj: str) -> Iterator[psycopg.Connection[Any]]:
    from goodjob.django.options import database_url_for

    conn = psycopg.connect(database_url_for("default"), autocommit=True)
    conn.execute("LISTEN good_job")
    yield conn
    conn.close()


def test_sync_view_writes_one_row_and_a_notify_and_the_result_reads_back(
    dj: str, listener: psycopg.Connection[Any]
) -> None:
    from django.test import Client
    from djproject.tasks import add

    response = Client().get("/enqueue-sync?a=2&b=3")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "READY"
    assert jobs() == [("djproject.tasks.add", "default", 0, "queued")]
    notes = list(listener.notifies(timeout=10, stop_after=1))
    assert notes and json.loads(notes[0].payload)["queue"] == "default"

    waiting = add.get_result(body["id"])
    assert waiting.status == TaskResultStatus.READY and waiting.args == [2, 3] and waiting.attempts == 0
    assert goodjob.perform_inline_sync() == 1
    done = add.get_result(body["id"])
    assert done.status == TaskResultStatus.SUCCESSFUL and done.return_value == 5
    assert done.attempts == 1 and done.errors == []
    assert done.enqueued_at <= done.started_at == done.last_attempted_at <= done.finished_at
    [(process_id,)] = rows("SELECT DISTINCT process_id::text FROM good_job_executions")
    assert done.worker_ids == [process_id]
    waiting.refresh()  # Django's refresh() goes through get_result too
    assert waiting.status == TaskResultStatus.SUCCESSFUL and waiting.return_value == 5


async def test_async_view_enqueues_with_aenqueue_and_reads_with_aget_result(dj: str) -> None:
    from django.test import AsyncClient
    from djproject.tasks import async_echo

    response = await AsyncClient().get("/enqueue-async?value=hi")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "READY"
    assert await goodjob.perform_inline() == 1
    result = await async_echo.aget_result(response.json()["id"])
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert list(result.return_value.items()) == [("echo", "hi"), ("z", 1), ("a", 2)]  # order kept


def test_a_rolled_back_transaction_leaves_no_job_and_a_committed_one_writes_it_on_commit(dj: str) -> None:
    from django.db import transaction
    from django.test import Client
    from djproject.tasks import effect, record

    assert Client().get("/rollback").status_code == 200
    assert rows("SELECT count(*) FROM effects") == [(0,)]
    assert jobs() == []

    with transaction.atomic():
        effect("committed")
        result = record.enqueue("after-commit")
        assert jobs() == [], "the job must wait for the transaction"
        with pytest.raises(TaskResultDoesNotExist, match="has not committed yet"):
            record.get_result(result.id)
    assert jobs() == [("djproject.tasks.record", "default", 0, "queued")]
    assert record.get_result(result.id).status == TaskResultStatus.READY


def test_enqueue_on_commit_false_writes_inside_the_transaction_at_once(dj: str) -> None:
    from django.db import transaction
    from django.test.utils import override_settings
    from djproject.tasks import record

    tasks = {"default": {"BACKEND": "goodjob.django.GoodJobBackend", "OPTIONS": {"enqueue_on_commit": False}}}
    with override_settings(TASKS=tasks):
        with transaction.atomic():
            record.enqueue("now")
            assert len(jobs()) == 1


def test_run_after_becomes_the_scheduled_time(dj: str) -> None:
    from djproject.tasks import add

    at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    result = add.using(run_after=at).enqueue(1, 1)
    assert rows("SELECT scheduled_at FROM good_jobs") == [(at,)]
    assert goodjob.perform_inline_sync() == 0, "not due yet"
    later = add.get_result(result.id)
    assert later.status == TaskResultStatus.READY and later.task.run_after == at


def test_larger_django_priority_runs_sooner(dj: str) -> None:
    from djproject import tasks

    tasks.ORDER.clear()
    ids = {}
    for marker, priority in (("low", -10), ("mid", 0), ("high", 50), ("top", 100)):
        ids[marker] = tasks.record.using(priority=priority).enqueue(marker).id
    assert sorted(p for _, _, p, _ in jobs()) == [-100, -50, 0, 10]  # goodjob: smaller runs first
    assert goodjob.perform_inline_sync() == 4
    assert tasks.ORDER == ["top", "high", "mid", "low"]
    assert tasks.record.get_result(ids["high"]).task.priority == 50


def test_a_failing_task_is_failed_with_its_error_and_traceback(dj: str) -> None:
    from djproject.tasks import fail

    result = fail.enqueue("card declined")
    with pytest.raises(ValueError, match="card declined"):
        goodjob.perform_inline_sync()  # inline mode re-raises in the caller; a worker records it
    failed = fail.get_result(result.id)
    assert failed.status == TaskResultStatus.FAILED and failed.is_finished
    assert failed.attempts == 1 and len(failed.errors) == 1
    error = failed.errors[0]
    assert error.exception_class_path == "builtins.ValueError" and error.exception_class is ValueError
    assert "card declined" in error.traceback and "djproject/tasks.py" in error.traceback
    assert failed.finished_at is not None
    with pytest.raises(ValueError, match="Task failed"):
        failed.return_value  # noqa: B018  (Django's contract: no value for a failed task)


def test_context_sees_the_attempt_and_goodjob_retry_rules_apply(dj: str) -> None:
    from djproject.tasks import context_probe

    result = context_probe.enqueue(3)
    for _ in range(3):
        goodjob.perform_inline_sync()
    done = context_probe.get_result(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL, done.errors
    assert done.return_value == {"attempt": 3, "id": result.id,
                                 "errors": ["djproject.tasks.Flaky", "djproject.tasks.Flaky"]}
    assert done.attempts == 3 and [e.exception_class_path for e in done.errors] == ["djproject.tasks.Flaky"] * 2


def test_return_values_over_the_limit_or_not_json_fail_the_task_with_a_message(dj: str) -> None:
    from djproject.tasks import huge, not_json

    from goodjob.django import UnstorableResult

    big = huge.enqueue(2 * 1024 * 1024)
    with pytest.raises(UnstorableResult, match=r"returned 2097154 bytes of JSON, over result_max_bytes=1048576"):
        goodjob.perform_inline_sync()
    assert huge.get_result(big.id).status == TaskResultStatus.FAILED
    assert rows("SELECT labels FROM good_jobs") == [(["big"],)]
    odd = not_json.enqueue()
    with pytest.raises(UnstorableResult, match=r"djproject.tasks.not_json returned <object object"):
        goodjob.perform_inline_sync()
    assert "UnstorableResult" in not_json.get_result(odd.id).errors[0].exception_class_path


def test_worker_threads_close_django_connections_after_each_task(dj: str) -> None:
    from djproject.tasks import record

    record.enqueue("hygiene")
    assert goodjob.perform_inline_sync() == 1
    idle = rows("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'INSERT INTO effects%%' AND pid <> pg_backend_pid()")
    assert idle == [(0,)], "the task's Django connection outlived the task (CONN_MAX_AGE=0)"


def test_bad_input_raises_djangos_exceptions_with_goodjobs_message(dj: str) -> None:
    from djproject.tasks import add

    from goodjob import GoodJobError

    with pytest.raises(InvalidTask, match=r"queue_name='nope' of task djproject.tasks.add is not in "
                                          r"TASKS\['default'\]\['QUEUES'\] \(default, emails\)"):
        add.using(queue_name="nope")
    with pytest.raises(InvalidTask, match=r"run_after=datetime.datetime\(2030, 1, 1, 0, 0\) of task "
                                          r"djproject.tasks.add has no time zone"):
        add.using(run_after=datetime(2030, 1, 1))
    with pytest.raises(InvalidTask, match=r"priority=101 of task djproject.tasks.add must be a whole number"):
        add.using(priority=101)
    with pytest.raises(InvalidTask, match=r"argument args\[0\]=<object object at .*> \(object\) of task "
                                          r"djproject.tasks.add is not JSON") as caught:
        add.enqueue(object(), 1)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, GoodJobError)
    with pytest.raises(InvalidTask, match=r"argument kwargs\['b'\]=nan \(float\)"):
        add.enqueue(1, b=float("nan"))
    assert jobs() == []
    with pytest.raises(TaskResultDoesNotExist, match="'not-a-uuid' is not a goodjob job id"):
        add.get_result("not-a-uuid")
    with pytest.raises(TaskResultDoesNotExist, match="never enqueued"):
        add.get_result("01a2310a-19ac-757f-8ebf-a18cfd289cea")


def test_backend_options_are_checked_with_a_message(dj: str) -> None:
    from django.test.utils import override_settings

    from goodjob.django.compat import InvalidTaskBackend, task_backends

    cases = [
        ({"max_thread": 3}, r"unknown option 'max_thread'.*did you mean 'max_threads'"),
        ({"database": "other"}, r"\['database'\]='other' is not in DATABASES \(aliases: default\)"),
        ({"result_max_bytes": 0}, r"result_max_bytes'\]=0 must be a whole number of bytes"),
    ]
    for options, message in cases:
        with override_settings(TASKS={"default": {"BACKEND": "goodjob.django.GoodJobBackend", "OPTIONS": options}}):
            with pytest.raises(InvalidTaskBackend, match=message):
                task_backends["default"]


def test_supports_flags_are_truthful(dj: str) -> None:
    from django.test.utils import override_settings

    from goodjob.django.compat import task_backends

    backend = task_backends["default"]
    assert (backend.supports_defer, backend.supports_async_task, backend.supports_get_result,
            backend.supports_priority) == (True, True, True, True)
    tasks = {"default": {"BACKEND": "goodjob.django.GoodJobBackend", "OPTIONS": {"preserve_job_records": False}}}
    with override_settings(TASKS=tasks):
        assert task_backends["default"].supports_get_result is False  # finished rows are deleted


def test_inline_execution_mode_runs_the_task_inside_enqueue(dj: str) -> None:
    from django.test.utils import override_settings
    from djproject.tasks import add

    tasks = {"default": {"BACKEND": "goodjob.django.GoodJobBackend", "OPTIONS": {"execution_mode": "inline"}}}
    with override_settings(TASKS=tasks):
        result = add.enqueue(4, 5)
        assert add.get_result(result.id).return_value == 9
