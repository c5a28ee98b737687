"""Operator controls in the public API: pause and resume queues and job classes; cron entries.

``await goodjob.pause(queue="mail")`` or ``goodjob.pause(job_class=SendEmail)`` stores the pause and
wakes every worker (NOTIFY); running workers stop claiming those jobs, which wait, untouched, until
``goodjob.resume(...)`` (which starts them at once). Pausing a running job does not stop it. The CLI
(``goodjob pause|resume|paused``) and the dashboard do the same. See goodjob/core/pauses.py.
"""

from __future__ import annotations

from typing import Any

from goodjob.core.config import current_config
from goodjob.core.errors import ConfigurationError
from goodjob.core.features import cron, pauses
from goodjob.core.features.pauses import Paused
from goodjob.core.runtime import get_runtime
from goodjob.core.types import Enqueued

__all__ = [
    "Paused",
    "cron_entries",
    "enqueue_cron_entry",
    "pause",
    "pause_sync",
    "paused",
    "paused_sync",
    "resume",
    "resume_sync",
    "set_cron_entry_enabled",
]


def job_class_name(job_class: Any) -> str:
    """The stored name of a Job subclass, a @goodjob.job function, or a name given as text."""
    if isinstance(job_class, str):
        return job_class
    cls = getattr(job_class, "job_class", job_class)
    name = getattr(cls, "job_name", None)
    if not isinstance(name, str):
        raise TypeError(f"job_class={job_class!r}: expected a goodjob.Job subclass, a @goodjob.job function or a name")
    return name


async def _set(queue: str | None, job_class: Any, paused_: bool) -> Paused:
    db = await get_runtime().database()
    name = job_class_name(job_class) if job_class is not None else None
    return await pauses.set_paused(db.pool, queue=queue, job_class=name, paused_=paused_)


async def pause(*, queue: str | None = None, job_class: Any = None) -> Paused:
    """Stop workers from starting jobs of ``queue`` and/or ``job_class``; returns what is paused."""
    return await _set(queue, job_class, True)


async def resume(*, queue: str | None = None, job_class: Any = None) -> Paused:
    """Undo :func:`pause`; workers start the waiting jobs at once."""
    return await _set(queue, job_class, False)


async def paused() -> Paused:
    """The paused queues and job classes."""
    return await pauses.paused((await get_runtime().database()).pool)


def pause_sync(*, queue: str | None = None, job_class: Any = None) -> Paused:
    return get_runtime().run_sync(lambda: pause(queue=queue, job_class=job_class))


def resume_sync(*, queue: str | None = None, job_class: Any = None) -> Paused:
    return get_runtime().run_sync(lambda: resume(queue=queue, job_class=job_class))


def paused_sync() -> Paused:
    return get_runtime().run_sync(paused)


# --- cron -------------------------------------------------------------------------------------------


def _entry(key: str) -> cron.CronEntry:
    for entry in cron.entries_from_config(current_config()):
        if entry.key == key:
            return entry
    raise ConfigurationError(f"no cron entry {key!r} is configured (GOOD_JOB_CRON / configure(cron=...))")


async def cron_entries() -> list[dict[str, Any]]:
    """The configured entries with enabled, last and next run."""
    entries = cron.entries_from_config(current_config())
    return await cron.status((await get_runtime().database()).pool, entries)


async def set_cron_entry_enabled(key: str, enabled: bool) -> None:
    """Switch a cron entry on or off for every process (overrides ``enabled_by_default``)."""
    _entry(key)
    await cron.set_enabled((await get_runtime().database()).pool, key, enabled)


async def enqueue_cron_entry(key: str) -> Enqueued:
    """Run a cron entry once now, outside its schedule."""
    return await cron.enqueue_now(await get_runtime().database(), _entry(key))
