"""Jobs for the cron, batch, pause and label tests, importable as ``cron_batch_jobs`` by tests and by
worker subprocesses (tests/ is on their PYTHONPATH)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import goodjob

# In-process side effects: (name, args).
EVENTS: list[tuple[str, Any]] = []


class Gate:
    """An asyncio.Event that tests re-create per test (jobs read it at perform time)."""

    event: asyncio.Event | None = None
    running = 0


class WorkJob(goodjob.Job):
    async def perform(self, label: str) -> None:
        EVENTS.append(("work", label))


class GatedJob(goodjob.Job):
    """Waits for Gate.event, so that tests can make many jobs finish at the same moment."""

    async def perform(self, label: str) -> None:
        Gate.running += 1
        assert Gate.event is not None
        await Gate.event.wait()
        EVENTS.append(("gated", label))


class DiscardedError(RuntimeError):
    pass


FAIL_ONCE: set[str] = set()


class FlakyJob(goodjob.Job):
    """Discarded on its first run for labels in FAIL_ONCE (which it then forgets), else succeeds."""

    error_policy = (goodjob.discard_on(DiscardedError),)

    async def perform(self, label: str) -> None:
        if label in FAIL_ONCE:
            FAIL_ONCE.discard(label)
            raise DiscardedError(f"discarding {label}")
        EVENTS.append(("flaky", label))


class ParentJob(goodjob.Job):
    """Adds a child to its own batch."""

    async def perform(self, label: str) -> None:
        assert self.batch is not None
        async with self.batch:
            await WorkJob.perform_later(f"child-of-{label}")
        EVENTS.append(("parent", label))


class CallbackJob(goodjob.Job):
    async def perform(self, batch: goodjob.Batch, event: str) -> None:
        EVENTS.append((event, (batch.id, dict(batch.properties), batch.status)))


class ParkedCallbackJob(goodjob.Job):
    """A callback on a queue no test worker serves: its rows stay, to be counted."""

    queue_name = "parked"

    def perform(self, batch: Any, event: str) -> None:  # pragma: no cover - never performed
        EVENTS.append((event, batch))


class LabelledJob(goodjob.Job):
    labels = ("billing", "eu")

    async def perform(self) -> None:
        EVENTS.append(("labels", tuple(self.labels)))


@goodjob.job(labels=["reports"])
async def labelled_function() -> None:
    EVENTS.append(("labels-fn", None))


class TickJob(goodjob.Job):
    """Cron target for the process tests: one side_effects row per perform (marker = cron time)."""

    async def perform(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(_direct_url())
        try:
            marker = self.scheduled_at.isoformat() if self.scheduled_at else "none"
            await conn.execute("INSERT INTO side_effects (job_id, marker, pid) VALUES ($1, $2, $3)",
                               self.job_id, marker, os.getpid())
        finally:
            await conn.close()


class CronRecordJob(goodjob.Job):
    queue_name = "cron"

    async def perform(self, *args: Any, **kwargs: Any) -> None:
        EVENTS.append(("cron", (self.scheduled_at, args, kwargs)))


def _direct_url() -> str:
    """The test database itself, for the jobs' side-effect writes (workers may reach it through PgBouncer)."""
    return os.environ.get("TEST_DIRECT_DATABASE_URL") or os.environ["GOOD_JOB_DATABASE_URL"]
