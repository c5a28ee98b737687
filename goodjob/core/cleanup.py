"""Deleting preserved job records: ``goodjob cleanup-preserved-jobs``, ``goodjob.cleanup_preserved_jobs``
and the worker's periodic cleanup all run this one loop.

Deletes in batches (each its own short statement) so that a large cleanup never holds locks on many
rows at once or runs into a statement timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from goodjob.core import events
from goodjob.core.storage import store, store_stats
from goodjob.core.storage.db import Executor

__all__ = ["CLEANUP_BATCH", "cleanup_preserved_jobs"]

CLEANUP_BATCH = 1000
#: Execution statistics are kept a little longer than the Performance page's longest window (7 days).
STATS_KEPT = timedelta(days=8)


async def cleanup_preserved_jobs(
    ex: Executor, *, older_than: float | timedelta = 86400, batch_size: int = CLEANUP_BATCH,
    now: datetime | None = None, on_progress: Callable[[int], object] | None = None,
) -> int:
    """Delete finished jobs (and their executions) finished more than ``older_than`` ago.

    ``on_progress(total)`` is called after every batch, so a caller can show how far it got."""
    seconds = older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    total = 0
    while True:
        deleted = await store.cleanup_batch(ex, cutoff, batch_size)
        total += deleted
        if on_progress is not None:
            on_progress(total)
        if deleted < batch_size:
            await store_stats.stats_cleanup(ex, (now or datetime.now(UTC)) - STATS_KEPT)
            events.emit("cleanup", deleted=total, cutoff=cutoff)
            return total
