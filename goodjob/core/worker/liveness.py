"""This process's row, heartbeat and liveness lock; recovery of dead processes' jobs.

Each worker process holds a session advisory lock (key derived from its id) on a dedicated
connection. When a process dies, Postgres drops its connection and the lock with it. A live process
that finds a process row whose lock is free *and* whose heartbeat is older than ``grace`` seconds
declares it dead, returns its running jobs to the queue (recording each interruption) and deletes the
row. The heartbeat runs on the pool, not the lock connection, so a lock connection that drops and
comes back within the grace period does not make anyone's jobs run twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from goodjob.core.storage import db, store
from goodjob.core.storage.db import Database, is_connection_error

log = logging.getLogger("goodjob")

HEARTBEAT_INTERVAL = 2.0
GRACE = 5.0  # a process is dead when its lock is free and its heartbeat this stale
RECOVERY_INTERVAL = 2.0
INLINE_AGE = timedelta(hours=1)  # an inline caller's row older than this belongs to a dead caller


def lock_key_for(process_id: UUID) -> int:
    """A signed 64-bit advisory-lock key derived from the process id."""
    return int.from_bytes(process_id.bytes[:8], "big", signed=True)


class ProcessRecord:
    def __init__(
        self,
        *,
        database: Callable[[], Awaitable[Database]],
        url: Callable[[], Awaitable[str]],
        queues: str,
        max_threads: int,
        execution_mode: str,
        on_recovered: Callable[[list[str]], None] | None = None,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        grace: float = GRACE,
        recovery_interval: float = RECOVERY_INTERVAL,
    ) -> None:
        self.id = uuid.uuid4()
        self.lock_key = lock_key_for(self.id)
        self._database = database
        self._url = url
        self.queues = queues
        self.max_threads = max_threads
        self.execution_mode = execution_mode
        self._on_recovered = on_recovered
        self.heartbeat_interval = heartbeat_interval
        self.grace = grace
        self.recovery_interval = recovery_interval
        self._lock_conn: db.Connection | None = None
        # When this process last took its lock again after losing it (a Postgres restart drops
        # every lock connection at once); -inf until then. See recover().
        self._relocked_at = float("-inf")
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._register()
        await self._take_lock()
        await self.recover()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._heartbeat_loop(), name="goodjob-heartbeat"),
            loop.create_task(self._recovery_loop(), name="goodjob-recovery"),
        ]

    async def _register(self) -> None:
        database = await self._database()
        await store.register_process(
            database.pool,
            id=self.id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=self.queues,
            max_threads=self.max_threads,
            lock_key=self.lock_key,
            execution_mode=self.execution_mode,
            now=datetime.now(UTC),
        )

    async def _take_lock(self) -> None:
        conn = await db.connect(await self._url(), application_name="goodjob-process")
        if not await store.lock_process(conn, self.lock_key):  # pragma: no cover - ids are random
            await conn.close()
            raise RuntimeError(f"liveness lock {self.lock_key} for process {self.id} is already held")
        self._lock_conn = conn

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self.heartbeat()
            except Exception as exc:
                if not is_connection_error(exc):
                    log.exception("heartbeat failed")
                else:
                    log.warning("heartbeat failed (%s)", exc)

    async def heartbeat(self) -> None:
        database = await self._database()
        if not await store.heartbeat(database.pool, self.id, datetime.now(UTC)):
            log.warning("process row %s was removed (presumed dead); registering again", self.id)
            await self._register()
        if self._lock_conn is None or db.connection_closed(self._lock_conn):
            log.warning("liveness lock connection lost; taking the lock again")
            self._lock_conn = None
            await self._take_lock()
            self._relocked_at = asyncio.get_running_loop().time()

    async def _recovery_loop(self) -> None:
        while True:
            await asyncio.sleep(self.recovery_interval)
            try:
                await self.recover()
            except Exception as exc:
                if not is_connection_error(exc):
                    log.exception("recovering dead processes' jobs failed")

    async def recover(self) -> list[Any]:
        """Requeue the running jobs of dead processes; returns the released rows."""
        database = await self._database()
        now = datetime.now(UTC)
        dead: list[UUID] = []
        if self._trusts_others_locks():
            dead = await store.dead_processes(
                database.pool, self.id, now - timedelta(seconds=self.grace), now - INLINE_AGE
            )
        orphans = await store.orphaned_running_jobs(database.pool, now - timedelta(seconds=self.grace))
        if not dead and not orphans:
            return []
        async with database.transaction() as conn:
            released = await store.release_jobs_of(
                conn, dead, orphans, now, "interrupted: the worker process running it stopped unexpectedly"
            )
            if dead:
                await store.delete_processes(conn, dead)
        if released:
            log.warning(
                "requeued %d interrupted job(s) of dead process(es) %s: %s",
                len(released), ", ".join(map(str, dead)) or "(none)", ", ".join(str(r["id"]) for r in released),
            )
            if self._on_recovered is not None:
                self._on_recovered(sorted({r["queue_name"] for r in released}))
        return released

    def _trusts_others_locks(self) -> bool:
        """Whether a free lock plus a stale heartbeat may be read as "dead" right now.

        Not while this process's own lock connection is down, nor until every live process has had
        time to heartbeat and take its lock again after an outage (a Postgres restart frees all the
        locks at once, and the heartbeats went stale while the server was down): declaring live
        processes dead then would run their jobs a second time, concurrently.
        """
        if self._lock_conn is None or db.connection_closed(self._lock_conn):
            return False
        since = asyncio.get_running_loop().time() - self._relocked_at
        return since > self.grace + self.heartbeat_interval

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            database = await self._database()
            await store.deregister_process(database.pool, self.id)
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
