"""goodjob: a Postgres-backed job queue for Python, in the spirit of Ruby's GoodJob.

The public API lives here; everything else is an implementation detail.
"""

from __future__ import annotations

from typing import Any

from goodjob import jobs
from goodjob.asgi import lifespan, restart, restart_sync, shutdown, shutdown_sync
from goodjob.batch import Batch
from goodjob.control import Paused, pause, pause_sync, paused, paused_sync, resume, resume_sync
from goodjob.core.config import Config, configure, current_config, reset_configuration
from goodjob.core.errors import (
    AlreadyRunningError,
    ConfigurationError,
    GoodJobError,
    JobCancelledError,
    JobNotFoundError,
    JobOptionError,
    JobStateError,
    JobTimeoutError,
    QueueStringError,
    SchemaMissingError,
    SerializationError,
    Snooze,
    UnknownJobError,
)
from goodjob.core.events import Event, subscribe
from goodjob.core.features.concurrency_rules import Concurrency
from goodjob.core.policy import discard_on, rescue_from, retry_on
from goodjob.core.retry import exponentially_longer, polynomially_longer
from goodjob.core.runtime import get_runtime
from goodjob.core.types import Enqueued, JobState
from goodjob.current import CurrentJob, current_job
from goodjob.functions import JobFunction, job
from goodjob.job import (
    ConfiguredJob,
    EnqueueAborted,
    Job,
    PendingJob,
    perform_all_later,
    perform_all_later_sync,
)

__version__ = "0.1.0"


async def perform_inline(limit: int | None = None) -> int:
    """Perform the jobs that are due now, in the caller (inline mode's helper for scheduled jobs)."""
    return await get_runtime().perform_inline(limit)


def perform_inline_sync(limit: int | None = None) -> int:
    return get_runtime().run_sync(lambda: get_runtime().perform_inline(limit))


async def migrate() -> list[int]:
    """Apply missing schema migrations to the configured database; returns the versions applied."""
    from goodjob.core.storage import migrate as migrations

    db = await get_runtime().database()
    async with db.acquire() as conn:
        return await migrations.migrate(conn)


def migrate_sync() -> list[int]:
    return get_runtime().run_sync(migrate)


async def cleanup_preserved_jobs(*, older_than: float | None = None) -> int:
    """Delete preserved jobs finished more than ``older_than`` seconds ago (default from config:
    ``cleanup_preserved_jobs_before_seconds_ago``, 86400); returns how many were deleted."""
    from goodjob.core.cleanup import cleanup_preserved_jobs as cleanup

    seconds = current_config().cleanup_preserved_jobs_before_seconds_ago if older_than is None else older_than
    db = await get_runtime().database()
    return await cleanup(db.pool, older_than=seconds)


def cleanup_preserved_jobs_sync(*, older_than: float | None = None) -> int:
    return get_runtime().run_sync(lambda: cleanup_preserved_jobs(older_than=older_than))


def __getattr__(name: str) -> Any:
    # The dashboard pulls in Starlette and Jinja2, metrics prometheus-client: import them only when asked for.
    if name in ("dashboard", "create_dashboard", "metrics", "create_metrics_app"):
        import importlib

        # `from goodjob import dashboard` here would call this __getattr__ again (endless recursion).
        package = "goodjob.metrics" if "metrics" in name else "goodjob.dashboard"
        value = getattr(importlib.import_module(package), name)
        # Importing the subpackage bound `goodjob.dashboard` to the module; the public name is the app.
        globals()[name] = value
        return value
    raise AttributeError(f"module 'goodjob' has no attribute {name!r}")


__all__ = [
    "AlreadyRunningError",
    "Batch",
    "Concurrency",
    "Config",
    "ConfigurationError",
    "ConfiguredJob",
    "CurrentJob",
    "EnqueueAborted",
    "Enqueued",
    "Event",
    "GoodJobError",
    "Job",
    "JobCancelledError",
    "JobFunction",
    "JobNotFoundError",
    "JobOptionError",
    "JobState",
    "JobStateError",
    "JobTimeoutError",
    "Paused",
    "PendingJob",
    "QueueStringError",
    "SchemaMissingError",
    "SerializationError",
    "Snooze",
    "UnknownJobError",
    "__version__",
    "cleanup_preserved_jobs",
    "cleanup_preserved_jobs_sync",
    "configure",
    "current_config",
    "current_job",
    "discard_on",
    "exponentially_longer",
    "job",
    "jobs",
    "lifespan",
    "migrate",
    "migrate_sync",
    "pause",
    "pause_sync",
    "paused",
    "paused_sync",
    "perform_all_later",
    "perform_all_later_sync",
    "perform_inline",
    "perform_inline_sync",
    "polynomially_longer",
    "rescue_from",
    "reset_configuration",
    "restart",
    "restart_sync",
    "resume",
    "resume_sync",
    "retry_on",
    "shutdown",
    "shutdown_sync",
    "subscribe",
]
