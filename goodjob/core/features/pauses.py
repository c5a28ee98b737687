"""Paused queues and job classes: stored in good_job_settings, honoured by every running worker.

A pause is a setting, not a change to any job: paused jobs simply stay queued (nothing is lost,
their order is kept) because workers leave them out of their claims. Pausing or resuming sends
NOTIFY ``{"paused": true}`` on the ``good_job`` channel (the format the dashboard already uses);
each worker then re-reads the settings, and also on start, and its heartbeat statement carries them
(the slow safety re-read), so a worker that missed the NOTIFY (LISTEN down, or polling-only mode)
catches up within one heartbeat interval (6 s; 5 s with leases) at no extra statement. A resume wakes
the worker's pools at once, so resumed jobs start without waiting for the next poll.

Queue pauses reach the claim through the scheduler's skip list (the same one exclusion pools use);
job-class pauses through a ``NOT (job_class = ANY(...))`` condition of the claim, which with the usual
empty list keeps the same index plan and cost (see README.md ("Cron, batches, pauses and labels")).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from goodjob.core.storage import store
from goodjob.core.storage.db import Database, Executor, is_connection_error

log = logging.getLogger("goodjob")

PAUSED_QUEUES = "paused_queues"
PAUSED_JOB_CLASSES = "paused_job_classes"


@dataclass(frozen=True)
class Paused:
    """What is paused right now."""

    queues: tuple[str, ...] = ()
    job_classes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.queues or self.job_classes)


def parse_names(raw: str | None) -> tuple[str, ...]:
    """A stored pause setting (a JSON list of names) as a sorted tuple; malformed: nothing."""
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        log.warning("ignoring a malformed pause setting: %r", raw)
        return ()
    return tuple(sorted(str(v) for v in value)) if isinstance(value, list) else ()


async def paused(ex: Executor) -> Paused:
    settings = await store.pauses_get(ex)
    return Paused(parse_names(settings.get(PAUSED_QUEUES)), parse_names(settings.get(PAUSED_JOB_CLASSES)))


async def set_paused(
    ex: Executor, *, queue: str | None = None, job_class: str | None = None, paused_: bool = True,
    now: datetime | None = None,
) -> Paused:
    """Pause (or resume, ``paused_=False``) a queue and/or a job class; returns what is paused now."""
    if queue is None and job_class is None:
        raise ValueError("pause/resume needs queue=... or job_class=...")
    for label, name in (("queue", queue), ("job_class", job_class)):
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(f"{label}={name!r} must be a non-empty string")
    now = now or datetime.now(UTC)
    if queue is not None:
        await store.pauses_set(ex, PAUSED_QUEUES, queue, paused_, now)
    if job_class is not None:
        await store.pauses_set(ex, PAUSED_JOB_CLASSES, job_class, paused_, now)
    return await paused(ex)


class PauseState:
    """A worker's view of the pauses, read by its schedulers on every claim (no query there).

    ``refresh_soon`` coalesces bursts (a NOTIFY and a poll at once) into one read in flight plus at
    most one more, and calls ``on_resume`` when something was resumed.
    """

    def __init__(self, database: Callable[[], Awaitable[Database]], on_resume: Callable[[], None]) -> None:
        self._database = database
        self._on_resume = on_resume
        self.current = Paused()
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def queues(self) -> list[str]:
        return list(self.current.queues)

    def job_classes(self) -> list[str]:
        return list(self.current.job_classes)

    async def refresh(self) -> Paused:
        db = await self._database()
        after = await paused(db.pool)
        self.apply(after)
        return after

    def apply(self, after: Paused) -> None:
        """Take ``after`` as what is paused now (a read here, or the heartbeat's safety re-read)."""
        before = self.current
        self.current = after
        if after != before:
            log.info("paused queues: %s; paused job classes: %s",
                     ", ".join(after.queues) or "none", ", ".join(after.job_classes) or "none")
        if set(before.queues) - set(after.queues) or set(before.job_classes) - set(after.job_classes):
            self._on_resume()

    def refresh_soon(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._refresh_loop(), name="goodjob-pauses")

    async def _refresh_loop(self) -> None:
        while True:
            self._again = False
            try:
                await self.refresh()
            except Exception as exc:  # the poller and the notifier report an outage already
                level = logging.DEBUG if is_connection_error(exc) else logging.WARNING
                log.log(level, "could not read paused queues and job classes (%s)", exc)
            if not self._again:
                return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
