"""Tasks of the test project. Side effects go to the table ``effects`` through Django's own
connection (psycopg), so they obey Django transactions and are visible across processes."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from django.db import connection

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task

import goodjob
from goodjob.django import goodjob_options

ORDER: list[str] = []  # in-process run order (inline performs)


def effect(marker: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO effects (marker, pid) VALUES (%s, %s)", [marker, os.getpid()])


@task()
def add(a: int, b: int) -> int:
    return a + b


@task()
def record(marker: str) -> str:
    effect(marker)
    ORDER.append(marker)
    return marker


@task()
async def async_echo(value: Any) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"echo": value, "z": 1, "a": 2}


class Flaky(Exception):
    pass


@task()
def fail(message: str) -> None:
    raise ValueError(message)


@task(takes_context=True)
def context_probe(context: Any, fail_until: int) -> dict[str, Any]:
    if context.attempt < fail_until:
        raise Flaky(f"attempt {context.attempt}")
    return {"attempt": context.attempt, "id": context.task_result.id,
            "errors": [e.exception_class_path for e in context.task_result.errors]}


goodjob_options(error_policy=[goodjob.retry_on(Flaky, wait=0, attempts=5)])(context_probe)


@goodjob_options(labels=["big"])
@task()
def huge(size: int) -> str:
    return "x" * size


@task()
def not_json() -> object:
    return object()


@task(queue_name="emails")
def first_attempt_hangs(marker: str) -> str:
    """Hangs on its first attempt (until the worker is killed); returns on the next."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM effects WHERE marker = %s", [f"start:{marker}"])
        (seen,) = cursor.fetchone()
    effect(f"start:{marker}")
    if seen == 0:
        time.sleep(600)
    return f"done:{marker}"


@task()
@goodjob_options(concurrency=goodjob.Concurrency(key=lambda job: f"report:{job.arguments[0]}", enqueue_limit=1))
def report(account: int) -> int:
    return account


@task()
def batch_done(batch_id: str, event: str) -> str:
    """A batch callback: goodjob performs it with the batch id and the event name."""
    effect(f"{event}:{batch_id}")
    return event


@task()
def pay(marker: str) -> str:
    """Its write and its success commit together: goodjob.current_job().complete_sync(cursor)."""
    from django.db import transaction

    with transaction.atomic():
        effect(f"paid:{marker}")
        with connection.cursor() as cursor:
            goodjob.current_job().complete_sync(cursor)
    return f"paid:{marker}"


@task()
def pay_outside_atomic(marker: str) -> None:
    effect(f"unpaid:{marker}")
    with connection.cursor() as cursor:
        goodjob.current_job().complete_sync(cursor)  # refused: Django autocommits outside atomic()
