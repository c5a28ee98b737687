"""Labels: free-form tags on jobs (``labels = ("billing",)`` on a class, ``set(labels=[...])`` per
enqueue), stored in ``good_jobs.labels``; the dashboard lists the jobs that carry one.

The filter ``labels @> ARRAY[label]`` is served by a GIN index that is partial on
``labels IS NOT NULL``, so jobs without labels (the common case) cost nothing at enqueue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from goodjob.core.storage import store
from goodjob.core.storage.db import Executor

STATES = ("queued", "running", "succeeded", "discarded")


async def jobs_with_label(
    ex: Executor, label: str, *, state: str | None = None, after: tuple[datetime, UUID] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Jobs carrying ``label`` (optionally in ``state``), newest first; ``after`` is the
    (created_at, id) of the last row of the previous page."""
    if state is not None and state not in STATES:
        raise ValueError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
    return [dict(r) for r in await store.label_jobs(ex, label, state, after, limit)]
