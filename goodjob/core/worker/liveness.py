"""This process's row and liveness; the cluster's sweeper; recovery of dead processes' jobs.

Two liveness modes (README "Running in production"):

- **lock** (a direct connection to Postgres: the default, or ``session_database_url`` behind a
  transaction pooler): the process holds a session advisory lock on its *session connection* (the
  one that also LISTENs and heartbeats). When the process dies, Postgres drops the connection and
  the lock with it.
- **lease** (a transaction pooler and no session URL: no session state is possible): the row's
  heartbeat is a lease. A process whose heartbeat is older than ``LEASE`` (20 s; it beats every 5 s,
  so a GC pause or network hiccup of up to 15 s costs nothing) is dead; its job runs again within
  about 20 + 5 + 1 + 1 s (lease + sweep + confirmation + a poll) < 30 s.

One statement per heartbeat does everything periodic (``heartbeat_sweep``): the heartbeat, the
election of the cluster's one *sweeper* (lock mode: whoever holds advisory lock ``SWEEPER_KEY`` on its
session connection, so a dead sweeper is replaced at the next heartbeat of anyone; lease mode: the
smallest id among fresh processes), the sweeper's list of suspects, the list of live processes (for
wake-up routing, sent only when it changed) and the pause settings. An idle worker therefore costs
one statement per ``HEARTBEAT_INTERVAL`` beside its poll.

A suspect is released only after a second look ``CONFIRM`` seconds later finds it still dead and
without a heartbeat since the first: a process whose session connection drops writes a heartbeat
through its pool at once (and every second until the lock is back), so a brief loss of that
connection never makes its jobs run twice. Nobody declares anyone dead while its own liveness is in
doubt (:meth:`ProcessRecord.trusts_others`): not while its session connection is down (it cannot be
the sweeper then), nor until everyone had time to heartbeat and take their locks again after it came
back from an outage (a Postgres restart frees every lock at once while the heartbeats go stale).

The sweeper also releases *orphans*: running rows whose process row is gone (their process stopped
without writing their results: it gave up at shutdown, or its row was deleted by hand). Every
claimer has a process row while it holds rows (workers from start to stop, inline callers per
perform, with mode ``inline``), so such a row belongs to nobody once it is ``ORPHAN_AGE`` old: it is
released at the sweeper's next heartbeat, within seconds. Inline callers hold no lock and do not
heartbeat; their row counts as dead only after ``INLINE_AGE`` (an inline job may run for long).
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

from goodjob.core.config_kinds import mask_database_url
from goodjob.core.errors import SessionDatabaseError
from goodjob.core.features.pauses import Paused, parse_names
from goodjob.core.storage import db, store, store_operations, store_stats
from goodjob.core.storage.db import Database, is_connection_error
from goodjob.core.worker.notifier import Notifier

log = logging.getLogger("goodjob")

HEARTBEAT_INTERVAL = 6.0  # lock mode: heartbeat + sweep; a dead lock is seen within this
LEASE_HEARTBEAT_INTERVAL = 5.0
MISSED_CANCEL_BEATS = 5  # with LISTEN up, re-read cancel marks every 5th beat (~30 s)
MEMORY_BEATS = 10  # publish memory every 10th beat (~1 min)
LEASE = 20.0  # lease mode: a heartbeat older than this is a dead process
GRACE = 2.0  # lock mode: a free lock counts only with a heartbeat older than this
CONFIRM = 1.0  # the second look at a suspect
LOCKLESS_HEARTBEAT = 1.0  # lock mode, while the session connection is being re-established
RESWEEP_AFTER_RECONNECT = 10.0  # a sweeper back from losing its connection (failover) waits for the others
ORPHAN_AGE = 5.0  # seconds: a running row whose process row is gone is released once this old
INLINE_AGE = 3600.0  # seconds: an inline caller's row older than this belongs to a dead caller
SWEEPER_KEY = 0x676F6F646A6F6273  # "goodjobs": the advisory lock of the cluster's sweeper
LEASE_LOCK_KEY = 0  # lock_key of a process row in lease mode (it holds no lock)


def resident_kb() -> int | None:
    """This process's resident memory in kB (Linux /proc; elsewhere the peak, from getrusage)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        try:
            import resource

            return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        except Exception:
            return None


def lock_key_for(process_id: UUID) -> int:
    """A signed 64-bit advisory-lock key derived from the process id (never 0 or the sweeper's)."""
    key = int.from_bytes(process_id.bytes[:8], "big", signed=True)
    return key if key not in (LEASE_LOCK_KEY, SWEEPER_KEY) else 1


class ProcessRecord:
    def __init__(
        self,
        *,
        database: Callable[[], Awaitable[Database]],
        url: Callable[[], Awaitable[str | None]],
        queues: str,
        max_threads: int,
        execution_mode: str,
        on_recovered: Callable[[list[str]], None] | None = None,
        on_cancelled: Callable[[list[UUID]], object] | None = None,
        cron: str | None = None,
        on_members: Callable[[list[tuple[UUID, int, str]]], None] | None = None,
        on_paused: Callable[[Paused], None] | None = None,
        notifier: Notifier | None = None,
        heartbeat_interval: float | None = None,
        lease: float = LEASE,
        grace: float = GRACE,
        confirm: float = CONFIRM,
    ) -> None:
        self.id = uuid.uuid4()
        self._database = database
        self._url = url  # the session URL; None: lease mode
        self.queues = queues
        self.max_threads = max_threads
        self.execution_mode = execution_mode
        self._on_recovered = on_recovered
        self._on_cancelled = on_cancelled
        self.cron = cron  # the cron entries this process schedules, as JSON, for the dashboard
        self._beats = 0
        self._on_members = on_members
        self._on_paused = on_paused
        self.notifier = notifier  # LISTENs on the session connection (lock mode only)
        self._interval = heartbeat_interval
        self.lease = lease
        self.grace = grace
        self.confirm = confirm
        self.mode = "lock"
        self.lock_key = lock_key_for(self.id)
        self.leader = False
        self.statements = 0  # periodic statements sent (tests and bench watch the idle cost)
        self._lock_conn: db.Connection | None = None
        self._conn_lock = asyncio.Lock()
        self._locked_at = 0.0
        self._reconnected = False
        self._outage = False
        self.healthy = False  # the last heartbeat went through (the probe's "connected" with leases)
        self._digest = ""
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._recovering: asyncio.Task[Any] | None = None
        self._stopping = False

    @property
    def heartbeat_interval(self) -> float:
        if self._interval is not None:
            return self._interval
        return HEARTBEAT_INTERVAL if self.mode == "lock" else LEASE_HEARTBEAT_INTERVAL

    @heartbeat_interval.setter
    def heartbeat_interval(self, seconds: float | None) -> None:
        self._interval = seconds

    async def start(self) -> None:
        session_url = await self._url()
        if session_url is None:
            self.mode, self.lock_key = "lease", LEASE_LOCK_KEY
        else:
            await self._take_lock(session_url, first=True)  # before the row: never seen lockless
        await self._register()
        await self.recover()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._heartbeat_loop(), name="goodjob-heartbeat")]
        await self.heartbeat()

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
        await store_stats.process_publish(database.pool, self.id, cron=self.cron, memory_kb=resident_kb())

    # --- the session connection (lock mode) ------------------------------------------------------

    async def _take_lock(self, url: str, *, first: bool = False) -> None:
        try:
            conn = await db.connect(url, application_name="goodjob-session", keepalive=True)
        except Exception as exc:
            if first:
                raise SessionDatabaseError(
                    f"the session database {mask_database_url(url)} could not be reached "
                    f"({type(exc).__name__}: {exc}); session_database_url / GOOD_JOB_SESSION_DATABASE_URL "
                    "must be a direct connection to Postgres: fix it, or unset it (heartbeat leases)"
                ) from None
            raise
        if not await store.lock_process(conn, self.lock_key):  # pragma: no cover - ids are random
            await conn.close()
            raise RuntimeError(f"liveness lock {self.lock_key} for process {self.id} is already held")
        db.add_termination_listener(conn, self._lock_lost)
        self._lock_conn = conn
        self._locked_at = asyncio.get_running_loop().time()
        self._reconnected = not first
        if self.notifier is not None:
            async with self._conn_lock:
                await self.notifier.attach(conn)

    def _lock_lost(self) -> None:
        """The session connection closed: heartbeat through the pool now, and every second after."""
        if self._stopping:
            return
        self._lock_conn = None
        self.leader = False
        if self.notifier is not None:
            self.notifier.detach()
        self._wake.set()

    # --- the heartbeat -----------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            lockless = self.mode == "lock" and self._lock_conn is None
            interval = LOCKLESS_HEARTBEAT if lockless else self.heartbeat_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            try:
                await self.heartbeat()
            except Exception as exc:
                self._outage = True  # a failover or restart: others may be catching up too
                self.healthy = False
                if not is_connection_error(exc):
                    log.exception("heartbeat failed")
                else:
                    log.warning("heartbeat failed (%s)", exc)

    async def heartbeat(self) -> None:
        conn = self._lock_conn
        if conn is not None and db.connection_closed(conn):
            self._lock_lost()
            conn = None
        if self.mode == "lock" and conn is None:
            row = await self._beat((await self._database()).pool, "none")  # keep the row fresh first
            await self._relock()
        elif conn is not None:
            async with self._conn_lock:
                row = await self._beat(conn, "lock")
        else:
            row = await self._beat((await self._database()).pool, "lease")
        self.healthy = True
        if not row["alive"]:
            log.warning("process row %s was removed (presumed dead); registering again", self.id)
            await self._register()
        self._digest = row["digest"]
        if row["members"] is not None and self._on_members is not None:
            self._on_members(_members(row["members"]))
        if self._on_paused is not None:
            self._on_paused(Paused(parse_names(row["paused_queues"]), parse_names(row["paused_job_classes"])))
        if self._outage:  # back after an outage: sweep only once the others had time to return
            self._outage, self._reconnected = False, True
            self._locked_at = asyncio.get_running_loop().time()
        self.leader = bool(row["leader"])
        if self.leader:
            self._sweep(list(row["suspects"]), row["observed_at"], list(row["orphans"]))
        await self._extras()

    async def _extras(self) -> None:
        """What rides along some heartbeats, kept rare so that an idle worker stays quiet: the cancel
        safety net (every beat without LISTEN, every MISSED_CANCEL_BEATS with it, since a NOTIFY
        normally brings the cancel) and this process's memory for the dashboard (every
        MEMORY_BEATS)."""
        self._beats += 1
        pool = (await self._database()).pool
        listening = self.notifier is not None and self.mode == "lock" and self._lock_conn is not None
        if self._on_cancelled is not None and (not listening or self._beats % MISSED_CANCEL_BEATS == 0):
            self.statements += 1
            cancelled = await store_operations.heartbeat_cancelled(pool, self.id)
            if cancelled:
                self._on_cancelled(cancelled)
        if self._beats % MEMORY_BEATS == 0:
            self.statements += 1
            await store_stats.process_publish(pool, self.id, memory_kb=resident_kb())

    async def _beat(self, ex: db.Executor, mode: str) -> Any:
        self.statements += 1
        return await store.heartbeat_sweep(
            ex, self.id, mode=mode, leader=self.leader, sweeper_key=SWEEPER_KEY, lease=self.lease,
            grace=self.grace, digest=self._digest, inline_age=INLINE_AGE, orphan_age=ORPHAN_AGE,
        )

    async def _relock(self) -> None:
        url = await self._url()
        if url is None or self._stopping:
            return
        try:
            await self._take_lock(url)
        except Exception as exc:
            log.warning("liveness connection lost; reconnecting (%s)", exc)
        else:
            log.warning("liveness connection re-established")

    # --- the sweeper -------------------------------------------------------------------------

    def trusts_others(self) -> bool:
        """Whether a free lock or a stale heartbeat may be read as "dead" right now.

        Not while this process's own session connection is down (lock mode), nor until every live
        process has had time to heartbeat and take its lock again after this process came back
        from an outage (a Postgres restart or failover frees all the locks at once, and the
        heartbeats went stale while the server was away): declaring live processes dead then would
        run their jobs a second time, concurrently. Orphans (no process row) do not depend on this.
        """
        if self.mode == "lock" and (self._lock_conn is None or db.connection_closed(self._lock_conn)):
            return False
        if not self._reconnected:
            return True
        wait = max(RESWEEP_AFTER_RECONNECT, self.grace + self.heartbeat_interval)
        return asyncio.get_running_loop().time() - self._locked_at >= wait

    def _sweep(self, suspects: list[UUID], observed_at: datetime, orphans: list[UUID]) -> None:
        if not self.trusts_others():
            suspects = []
        if not suspects and not orphans:
            return
        if self._recovering is not None and not self._recovering.done():
            return
        self._recovering = asyncio.get_running_loop().create_task(
            self._recover_logged(suspects, observed_at, orphans), name="goodjob-recovery"
        )

    async def _recover_logged(self, suspects: list[UUID], observed_at: datetime, orphans: list[UUID]) -> None:
        try:
            await self._release(suspects, observed_at, orphans)
        except Exception as exc:
            if not is_connection_error(exc):
                log.exception("recovering dead processes' jobs failed")

    async def recover(self) -> list[Any]:
        """Requeue the running jobs of dead processes (after a second look) and orphaned jobs."""
        database = await self._database()
        suspects: list[UUID] = []
        observed_at = None
        if self.trusts_others():
            suspects, observed_at = await store.dead_processes(
                database.pool, self.id, self.lease, self.grace, INLINE_AGE
            )
        now = datetime.now(UTC)
        orphans = await store.orphaned_running_jobs(database.pool, now - timedelta(seconds=ORPHAN_AGE))
        return await self._release(suspects, observed_at, orphans)

    async def _release(
        self, suspects: list[UUID], observed_at: datetime | None, orphan_ids: list[UUID]
    ) -> list[Any]:
        """Release the confirmed dead among ``suspects`` and the ``orphan_ids`` still without an owner
        (release_jobs_of checks that again: one may have been recovered and claimed since)."""
        database = await self._database()
        if suspects:
            await asyncio.sleep(self.confirm)
        if not orphan_ids and not suspects:
            return []
        async with database.transaction() as conn:
            dead = (
                await store.confirm_dead_processes(conn, suspects, observed_at, self.lease, INLINE_AGE)
                if suspects and observed_at is not None else []
            )
            if not dead and not orphan_ids:
                return []
            released = await store.release_jobs_of(
                conn, dead, orphan_ids, datetime.now(UTC),
                "interrupted: the worker process running it stopped unexpectedly",
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
        return list(released)

    async def stop(self) -> None:
        self._stopping = True
        for task in [*self._tasks, self._recovering]:
            if task is not None:
                task.cancel()
        for task in [*self._tasks, self._recovering]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks = []
        with contextlib.suppress(Exception):
            database = await self._database()
            await store.deregister_process(database.pool, self.id)
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)


def _members(text: str) -> list[tuple[UUID, int, str]]:
    out = []
    for line in text.splitlines():
        ident, threads, queues = ([*line.split(" ", 2), "", ""])[:3]
        with contextlib.suppress(ValueError):
            out.append((UUID(ident), int(threads), queues))
    return out
