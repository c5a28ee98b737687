"""What a worker runs beside its pools: its view of the pauses, cron, and the batch sweeper.

Kept out of worker.py so that the worker only wires hooks: ``prepare`` before the pools start (a bad
cron entry fails the start, naming the entry, before the process registers; the pauses are read so
that the first claim already honours them), ``start`` once they run, ``stop`` first at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from goodjob.core.config import Config
from goodjob.core.features import batches
from goodjob.core.features.cron import CronScheduler, entries_from_config, publish_entries
from goodjob.core.features.pauses import PauseState
from goodjob.core.storage.db import Database, is_connection_error

log = logging.getLogger("goodjob")

#: How often the cluster's sweeper (one process at a time, see process.py) settles batches whose
#: jobs finished by other paths than a worker's result (an operator's discard): a rare case, so
#: rarely, to keep an idle worker quiet.
BATCH_SWEEP_SECONDS = 60.0


class WorkerServices:
    def __init__(
        self, config: Config, database: Callable[[], Awaitable[Database]], wake_all: Callable[[], None]
    ) -> None:
        self.config = config
        self._database = database
        self.pauses = PauseState(database, on_resume=wake_all)
        self.cron: CronScheduler | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.is_sweeper: Callable[[], bool] = lambda: True  # the worker points it at its process row

    async def prepare(self) -> None:
        if self.config.enable_cron:
            entries = entries_from_config(self.config, resolve=True)
            self.cron = CronScheduler(entries, database=self._database,
                                      graceful_restart_period=self.config.cron_graceful_restart_period)
            if not entries:
                log.warning("cron is enabled but no cron entries are configured (GOOD_JOB_CRON)")
        await self.pauses.refresh()

    def published_cron(self) -> str | None:
        """The cron entries this process schedules, as its process row publishes them (None: no cron)."""
        return publish_entries(self.cron.entries) if self.cron is not None else None

    def start(self) -> None:
        if self.cron is not None:
            self.cron.start()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_every(), name="goodjob-batches")

    async def stop(self) -> None:
        if self.cron is not None:
            await self.cron.stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.pauses.stop()

    async def _sweep_every(self) -> None:
        while True:
            await asyncio.sleep(BATCH_SWEEP_SECONDS)
            if not self.is_sweeper():
                continue
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_connection_error(exc):
                    log.warning("settling batches failed (%s)", exc)
                else:
                    log.exception("settling batches failed")

    async def sweep(self) -> int:
        db = await self._database()
        now = datetime.now(UTC)
        cutoff = now - timedelta(seconds=self.config.cleanup_preserved_jobs_before_seconds_ago)
        async with db.acquire() as conn:
            return await batches.sweep(conn, now=now, cleanup_before=cutoff)
