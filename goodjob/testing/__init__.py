"""``goodjob.testing``: helpers for an application's tests (pytest first, plain unittest too).

* :func:`assert_enqueued` / :func:`refute_enqueued`: what is waiting in the queue, with a diff of
  what was enqueued instead when they fail. Plain functions that raise ``AssertionError``: they work
  in sync and async tests alike (they read through goodjob's sync bridge), so there is no ``await``
  to forget.
* :func:`perform_enqueued_jobs` (async; ``perform_enqueued_jobs_sync``): run, in the test's
  process, everything enqueued so far and whatever those jobs enqueue, with the real retry rules.
* A fresh goodjob schema per test: the pytest plugin (``pytest_plugins = ["goodjob.testing.pytest_plugin"]``,
  fixture ``goodjob_test``), or :class:`GoodJobTestCase` / :class:`TestDatabase` for unittest.
"""

from __future__ import annotations

import unittest
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from goodjob.core.operations.records import JobRecord, class_name, record_from_row
from goodjob.core.runtime import get_runtime
from goodjob.core.storage import store_operations
from goodjob.testing.database import TestDatabase

__all__ = ["GoodJobTestCase", "TestDatabase", "assert_enqueued", "enqueued_jobs", "perform_enqueued_jobs",
           "perform_enqueued_jobs_sync", "refute_enqueued"]

_ANY: Any = object()


def enqueued_jobs(job: Any = None) -> list[JobRecord]:
    """The waiting jobs (scheduled, queued, retried), oldest first; of ``job``'s class if given."""
    name = class_name(job) if job is not None else None

    async def read() -> list[JobRecord]:
        pool = (await get_runtime().database()).pool
        now = datetime.now(UTC)
        return [record_from_row(r, now) for r in await store_operations.testing_enqueued(pool, name)]

    return get_runtime().run_sync(read)


def _differences(r: JobRecord, args: Any, kwargs: Any, queue: Any) -> list[str]:
    out = []
    if args is not _ANY and r.arguments != tuple(args):
        out.append(f"args {r.arguments!r} != {tuple(args)!r}")
    if kwargs is not _ANY and r.kwargs != dict(kwargs):
        out.append(f"kwargs {r.kwargs!r} != {dict(kwargs)!r}")
    if queue is not _ANY and r.queue != queue:
        out.append(f"queue {r.queue!r} != {queue!r}")
    return out


def _describe(name: str, args: Any, kwargs: Any, queue: Any) -> str:
    parts = [f"{k}={v!r}" for k, v in (("args", tuple(args) if args is not _ANY else _ANY),
                                         ("kwargs", kwargs), ("queue", queue)) if v is not _ANY]
    return f"{name}({', '.join(parts)})" if parts else name


def _report(name: str, candidates: list[JobRecord], args: Any, kwargs: Any, queue: Any) -> str:
    if not candidates:
        others = enqueued_jobs()
        if not others:
            return "Nothing is enqueued."
        counts: dict[str, int] = {}
        for o in others:
            counts[o.job_class] = counts.get(o.job_class, 0) + 1
        return f"No {name} job is enqueued; enqueued: " + ", ".join(f"{n} {c}" for c, n in sorted(counts.items()))
    lines = [f"Enqueued {name} jobs ({len(candidates)}):"]
    for r in candidates:
        diff = _differences(r, args, kwargs, queue)
        lines.append(f"  args={r.arguments!r} kwargs={r.kwargs!r} queue={r.queue!r}"
                     + (f"   <- {'; '.join(diff)}" if diff else "   <- matches"))
    return "\n".join(lines)


def assert_enqueued(
    job: Any, *, args: Sequence[Any] = _ANY, kwargs: dict[str, Any] = _ANY, queue: str = _ANY,
    count: int | None = None,
) -> list[JobRecord]:
    """Fail unless ``job`` (a Job class, a @goodjob.job function or a class name) is waiting with
    these arguments and queue (each checked only if given): ``count`` times exactly, or at least once.
    Returns the matching records."""
    name = class_name(job)
    candidates = enqueued_jobs(name)
    matches = [r for r in candidates if not _differences(r, args, kwargs, queue)]
    if (count is None and matches) or (count is not None and len(matches) == count):
        return matches
    wanted = f"{count}" if count is not None else "at least 1"
    raise AssertionError(f"expected {wanted} enqueued {_describe(name, args, kwargs, queue)}, found "
                         f"{len(matches)}.\n{_report(name, candidates, args, kwargs, queue)}")


def refute_enqueued(
    job: Any, *, args: Sequence[Any] = _ANY, kwargs: dict[str, Any] = _ANY, queue: str = _ANY
) -> None:
    """Fail if ``job`` is waiting with these arguments and queue (each checked only if given)."""
    name = class_name(job)
    candidates = enqueued_jobs(name)
    matches = [r for r in candidates if not _differences(r, args, kwargs, queue)]
    if matches:
        raise AssertionError(f"expected no enqueued {_describe(name, args, kwargs, queue)}, found "
                             f"{len(matches)}.\n{_report(name, candidates, args, kwargs, queue)}")


async def perform_enqueued_jobs(queue: str | None = None, *, limit: int = 1000) -> int:
    """Perform every waiting job (of ``queue``, if given) in this process, scheduled ones included,
    and what they enqueue, until nothing waits; returns how many attempts ran.

    The real retry rules apply: a job that ``retry_on`` retries runs again at once (its backoff is
    skipped) until it succeeds or its attempts are exhausted; an unhandled error is raised here, as
    in inline mode. More than ``limit`` attempts raise AssertionError (a job that never stops
    retrying or enqueueing).
    """
    runtime = get_runtime()
    done = tries = 0
    while True:
        db = await runtime.database()
        rows = await store_operations.testing_waiting(db.pool, queue, 100)
        if not rows:
            return done
        now = datetime.now(UTC)
        later = [r["id"] for r in rows if r["scheduled_at"] > now]
        if later:  # scheduled jobs and retries waiting for their backoff: due now
            await store_operations.reschedule(db.pool, later, now, now)
        for row in rows:
            tries += 1
            if tries > limit:
                raise AssertionError(f"perform_enqueued_jobs: still jobs waiting after {limit} attempts "
                                     "(a job that retries, snoozes or enqueues forever?)")
            attempts = 0

            def attempted() -> None:
                nonlocal attempts
                attempts += 1

            await runtime.perform_inline_job(row["id"], on_attempt=attempted)
            done += attempts


def perform_enqueued_jobs_sync(queue: str | None = None, *, limit: int = 1000) -> int:
    return get_runtime().run_sync(lambda: perform_enqueued_jobs(queue, limit=limit))


class GoodJobTestCase(unittest.TestCase):
    """A ``unittest.TestCase`` whose every test starts with an empty goodjob schema (external mode:
    jobs wait until :func:`perform_enqueued_jobs`). Set ``goodjob_configure`` for more options."""

    goodjob_configure: ClassVar[dict[str, Any]] = {}
    _goodjob_database: ClassVar[TestDatabase | None] = None

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls._goodjob_database = TestDatabase(**cls.goodjob_configure)
        cls._goodjob_database.start()

    @classmethod
    def tearDownClass(cls) -> None:
        if cls._goodjob_database is not None:
            cls._goodjob_database.stop()
        super().tearDownClass()

    def setUp(self) -> None:
        super().setUp()
        assert self._goodjob_database is not None
        self._goodjob_database.reset()
