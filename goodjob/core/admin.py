"""Operator actions shared by the CLI and the dashboard: inspect, retry, discard, reschedule,
delete, clean up. Each action checks the job's state in the same statement that changes it, so two
operators clicking at once cannot, say, retry a job that was just deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from goodjob.core import store
from goodjob.core.db import Executor

CLEANUP_BATCH = 1000


async def cleanup_preserved_jobs(
    ex: Executor, *, older_than: float | timedelta = 86400, batch_size: int = CLEANUP_BATCH,
    now: datetime | None = None,
) -> int:
    """Delete finished jobs (and their executions) finished more than ``older_than`` ago."""
    seconds = older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    total = 0
    while True:
        deleted = await store.cleanup_batch(ex, cutoff, batch_size)
        total += deleted
        if deleted < batch_size:
            return total
