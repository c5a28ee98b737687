"""A worker: the pools of one process plus what feeds them (notifier, poller, scheduled cache).

Used by ``goodjob start`` and by the async execution modes. Routing follows GoodJob: a due job wakes
the first pool whose filter matches and that has a free slot; a future job goes into the in-memory
scheduled-time cache (at most ``max_cache`` entries, warmed at start) and is routed when its time
comes, so a job scheduled for 12:00:00 starts at 12:00:00 rather than at the next poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from goodjob.core import cleanup, events
from goodjob.core.config import Config
from goodjob.core.queues import parse_queues
from goodjob.core.storage import store
from goodjob.core.storage.channels import listen_channels
from goodjob.core.storage.db import Database
from goodjob.core.storage.migrate import check_schema
from goodjob.core.types import ClaimedJob, Outcome, OutcomeKind
from goodjob.core.worker.executor import JobExecutor
from goodjob.core.worker.liveness import ProcessRecord
from goodjob.core.worker.notifier import Notifier
from goodjob.core.worker.poller import Poller
from goodjob.core.worker.recorder import Recorder
from goodjob.core.worker.routing import WakeRouter, notification_key
from goodjob.core.worker.schedule_cache import ScheduledCache
from goodjob.core.worker.scheduler import Scheduler
from goodjob.core.worker.services import WorkerServices

log = logging.getLogger("goodjob")

class Worker:
    def __init__(
        self,
        config: Config,
        *,
        database: Callable[[], Awaitable[Database]],
        url: Callable[[], Awaitable[str]],
        execution_mode: str = "external",
    ) -> None:
        self.config = config
        self.pools = parse_queues(config.queues, config.max_threads)
        self._database = database
        self._url = url
        self.execution_mode = execution_mode
        self.schedulers: list[Scheduler] = []
        self.notifier: Notifier | None = None
        self.poller: Poller | None = None
        self.process: ProcessRecord | None = None
        self.recorder: Recorder | None = None
        self.started = False
        self.stopping = False
        self.listen = True  # LISTEN/NOTIFY; off leaves polling and the cache
        self.router: WakeRouter | None = None
        self._cache = ScheduledCache(config.max_cache, self._on_cache_due)
        self._warming: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self._since_cleanup = 0
        self._cleanup_task: asyncio.Task[None] | None = None
        self._cleanup_timer: asyncio.Task[None] | None = None
        self.services = WorkerServices(config, database, self.wake_all)  # pauses, cron, batch sweeper

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        database = await self._database()
        await check_schema(database.pool)
        await self.services.prepare()
        total_threads = sum(p.max_threads for p in self.pools)
        if self.listen and await self.session_url() is not None:
            self.notifier = Notifier(self._on_notify, on_connected=self._notifier_state,
                                     channels=listen_channels(self.pools))
        self.process = ProcessRecord(
            database=self._database,
            url=self.session_url,
            queues=cfg.queues,
            max_threads=total_threads,
            execution_mode=self.execution_mode,
            on_recovered=self._wake_queues,
            on_cancelled=self.cancel,  # the heartbeat's safety net for a missed cancel NOTIFY
            cron=self.services.published_cron(),
            on_members=self._set_members,
            on_paused=self.services.pauses.apply,
            notifier=self.notifier,
        )
        self.router = WakeRouter(self.process.id)
        self.services.is_sweeper = lambda: self.process is not None and self.process.leader
        self.recorder = Recorder(
            self._database, self.process.id, cfg.preserve_job_records, on_recorded=self._after_recorded,
            # Leave the pool a connection for the claim and one for the heartbeat.
            max_writers=max(1, min(8, cfg.database_pool_size - 2)),
        )
        for index, spec in enumerate(self.pools):
            executor = JobExecutor(
                max_threads=spec.max_threads,
                retry_on_unhandled_error=cfg.retry_on_unhandled_error,
                on_thread_error=cfg.on_thread_error,
                shutting_down=lambda: self.stopping,
                thread_name=f"goodjob-pool{index}", completer=self.recorder,
            )
            self.schedulers.append(
                Scheduler(
                    spec,
                    database=self._database,
                    process_id=self.process.id,
                    executor=executor,
                    recorder=self.recorder,
                    on_start=self._log_start,
                    on_finish=self._log_finish,
                    paused=self.services.pauses.queues,
                    paused_classes=self.services.pauses.job_classes,
                )
            )
        await self.process.start()
        self.poller = Poller(cfg.poll_interval, self._poll)
        self.poller.start()
        for scheduler in self.schedulers:
            scheduler.start()
        await self._warm_cache()
        if cfg.cleanup_interval_seconds:
            self._cleanup_timer = asyncio.get_running_loop().create_task(
                self._cleanup_every(cfg.cleanup_interval_seconds), name="goodjob-cleanup-timer"
            )
        self.services.start()
        self.started = True
        events.emit("worker_start", process_id=str(self.process.id), queues=cfg.queues,
                    pools=[s.spec.describe() for s in self.schedulers], execution_mode=self.execution_mode)
        log.info(
            "worker %s started (pid %s) with pools %s; poll interval %s",
            self.process.id, __import__("os").getpid(),
            "; ".join(s.spec.describe() for s in self.schedulers),
            "off" if cfg.poll_interval <= 0 else f"{cfg.poll_interval:g}s",
        )

    async def shutdown(self, timeout: float | None = None) -> list[ClaimedJob]:
        """Stop claiming, let running jobs finish up to ``timeout`` (-1 forever, 0 now), then
        cancel the rest; cancelled jobs are recorded as interrupted and will run again."""
        if self.stopping:
            await self._stopped.wait()
            return []
        self.stopping = True
        timeout = self.config.shutdown_timeout if timeout is None else timeout
        wait = None if timeout < 0 else timeout
        self._cache.close()
        for task in (self._cleanup_timer, self._cleanup_task, *self._warming):
            if task is not None:
                task.cancel()
        await self.services.stop()
        for scheduler in self.schedulers:
            scheduler.stop_claiming()
        if self.poller is not None:
            await self.poller.stop()
        if self.notifier is not None:
            await self.notifier.stop()
        for scheduler in self.schedulers:
            await scheduler.wait_stopped()
        running = sum(len(s.running) for s in self.schedulers)
        if running:
            log.info("waiting for %d running job(s) (shutdown timeout %s)", running,
                     "forever" if wait is None else f"{wait:g}s")
        drains = await asyncio.gather(*(s.drain(wait) for s in self.schedulers))
        interrupted = [job for jobs in drains for job in jobs]
        if interrupted:
            log.warning("interrupted %d job(s) at shutdown; they will run again: %s",
                        len(interrupted), ", ".join(str(j.id) for j in interrupted))
        stuck = [job_id for s in self.schedulers for job_id in s.executor.stuck.values()]
        if stuck:
            log.warning("thread job(s) still running and abandoned at exit: %s",
                        ", ".join(map(str, stuck)))
        if self.recorder is not None:
            await self.recorder.close()
            n, p50, p99, worst = self.recorder.delay_percentiles()
            if n:
                log.info("result write delay over %d results: p50 %.1fms p99 %.1fms max %.1fms",
                         n, p50, p99, worst)
        if self.process is not None:
            await self.process.stop()
        for scheduler in self.schedulers:
            scheduler.executor.close(wait=False)
        self._stopped.set()
        events.emit("worker_stop", process_id=str(self.process.id) if self.process else None,
                    interrupted=[str(j.id) for j in interrupted])
        log.info("worker stopped")
        return interrupted

    async def session_url(self) -> str | None:
        """Where session state may live (LISTEN, the liveness lock): ``session_database_url``, else
        the database itself unless that is a transaction pooler (then None: polling and leases)."""
        if self.config.session_database_url is not None:
            return self.config.session_database_url
        return None if self.config.transaction_pooler else await self._url()

    def _set_members(self, members: list[Any]) -> None:
        if self.router is not None:
            self.router.set_members(members)

    # --- automatic cleanup of preserved jobs ------------------------------------------------------

    def _after_recorded(self, outcomes: Sequence[Outcome]) -> None:
        self._wake_for_reruns(outcomes)
        self._count_for_cleanup(outcomes)

    def _wake_for_reruns(self, outcomes: Sequence[Outcome]) -> None:
        """Jobs that run again (retry, interruption, throttle) are due at a time only this process
        knows: now that their rows are committed, route the due ones and cache the later ones.
        Claiming sooner would miss them (the wake-up of the finished job may claim before the
        write commits), and with polling off nothing else would ever wake a pool for them."""
        now = time.time()
        for outcome in outcomes:
            if outcome.kind not in _RERUNS:
                continue
            at = outcome.retry_at.timestamp() if outcome.retry_at is not None else now
            queue = outcome.job.queue_name
            if at > now:
                self.cache(at, queue)
            else:
                self.route(queue)

    def _count_for_cleanup(self, outcomes: Sequence[Outcome]) -> None:
        self._since_cleanup += len(outcomes)
        every = self.config.cleanup_interval_jobs
        if every and self._since_cleanup >= every:
            self._start_cleanup()

    async def _cleanup_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self._start_cleanup()

    def _start_cleanup(self) -> None:
        if self.stopping or (self._cleanup_task is not None and not self._cleanup_task.done()):
            return
        self._since_cleanup = 0
        self._cleanup_task = asyncio.get_running_loop().create_task(self._cleanup(), name="goodjob-cleanup")

    async def _cleanup(self) -> None:
        try:
            database = await self._database()
            deleted = await cleanup.cleanup_preserved_jobs(
                database.pool, older_than=self.config.cleanup_preserved_jobs_before_seconds_ago
            )
            if deleted:
                log.info("cleaned up %d preserved job(s)", deleted)
        except Exception:
            log.exception("automatic cleanup of preserved jobs failed")

    # --- wake-ups -------------------------------------------------------------------------------

    def wake_all(self) -> None:
        for scheduler in self.schedulers:
            scheduler.wake()

    def _poll(self) -> None:
        self.wake_all()

    def _wake_queues(self, queues: list[str]) -> None:
        for queue in queues:
            self.route(queue)

    def route(self, queue: str, key: bytes | None = None, count: int = 1) -> None:
        """Wake the first idle pool that serves ``queue``; if all are busy, mark the first so that
        it claims when a slot frees (a busy worker sends no claim now). With a notification
        ``key``, only if this worker is among the ones chosen to answer it (see routing.py)."""
        if key is not None and self.router is not None and not self.router.answers(queue, key, count):
            return
        first = None
        for scheduler in self.schedulers:
            if scheduler.spec.matches(queue):
                if scheduler.free_slots > 0:
                    scheduler.wake()
                    return
                first = first or scheduler
        if first is not None:
            first.mark()

    def _on_notify(self, payload: dict[str, Any]) -> None:
        if payload.get("reconnected"):
            self.services.pauses.refresh_soon()  # a pause NOTIFY may have been missed
            self.wake_all()
            # Notifications of future jobs may have been missed too (before the first connect,
            # or while reconnecting): with polling off nothing else would ever find them.
            self._spawn_warm_cache()
            return
        if payload.get("paused"):
            self.services.pauses.refresh_soon()
            return
        if "cancel" in payload:  # goodjob.jobs.cancel of a running job (sql/operations.sql)
            if self.process is not None and payload.get("process") == str(self.process.id):
                self.cancel([payload["cancel"]])
            return
        queue = payload.get("queue")
        if not isinstance(queue, str):
            return
        at = payload.get("at")
        at = float(at) if isinstance(at, int | float) else None
        count = payload.get("count")
        if at is not None and at > time.time():
            self.cache(at, queue, shared=True)
        else:
            self.route(queue, notification_key(queue, at), count if isinstance(count, int) else 1)

    def cache(self, at: float, queue: str, *, shared: bool = False) -> None:
        """Wake a pool for ``queue`` at ``at`` (see schedule_cache.py). ``shared``: every worker
        caches this entry (from a NOTIFY or the warm-up), so routing picks who answers; otherwise
        (a retry only this process wrote) this process claims it itself."""
        if any(s.spec.matches(queue) for s in self.schedulers):
            self._cache.add(at, queue, shared)

    def _on_cache_due(self, at: float, queue: str, shared: bool) -> None:
        if shared:
            self.route(queue, notification_key(queue, at))
        else:
            self.route(queue)

    def _spawn_warm_cache(self) -> None:
        if self.stopping or self.config.max_cache <= 0:
            return
        task = asyncio.get_running_loop().create_task(self._rewarm_cache(), name="goodjob-warm-cache")
        self._warming.add(task)
        task.add_done_callback(self._warming.discard)

    async def _rewarm_cache(self) -> None:
        try:
            await self._warm_cache()
        except Exception as exc:  # the poller (if on) and the next reconnect try again
            log.warning("re-reading scheduled jobs after a reconnect failed (%s)", exc)

    async def _warm_cache(self) -> None:
        if self.config.max_cache <= 0:
            return
        database = await self._database()
        rows = await store.future_scheduled(database.pool, datetime.now(UTC), self.config.max_cache)
        for row in rows:
            self.cache(row["scheduled_at"].timestamp(), row["queue_name"], shared=True)

    def cancel(self, job_ids: Sequence[Any]) -> list[Any]:
        """Interrupt these jobs if they run here (an operator cancelled them); the ones found.

        Idempotent: NOTIFY and the heartbeat may both report a cancel. The recorder then writes the
        attempt as cancelled, and the row is discarded (record_results never requeues a marked row).
        """
        found = []
        for raw in job_ids:
            job_id = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
            for scheduler in self.schedulers:
                if scheduler.executor.cancel(job_id) or scheduler.cancel_waiting(job_id):
                    found.append(job_id)
                    log.warning("goodjob: job %s cancelled by operator; stopping it", job_id)
        return found

    # --- state for probes and idle timeout ------------------------------------------------------

    @property
    def connected(self) -> bool:
        """LISTEN is up; with leases (no LISTEN), the last heartbeat went through."""
        if self.notifier is not None:
            return self.notifier.connected
        return self.process is not None and self.process.healthy

    @property
    def running_count(self) -> int:
        return sum(len(s.running) + s.waiting for s in self.schedulers)

    def idle_for(self) -> float:
        """Seconds since the last job finished (0 while any job runs)."""
        if self.running_count:
            return 0.0
        loop = asyncio.get_running_loop()
        last = max((s.last_active for s in self.schedulers), default=loop.time())
        return loop.time() - last

    # --- logging and events ---------------------------------------------------------------------

    @staticmethod
    def _notifier_state(connected: bool) -> None:
        events.emit("notifier_connected" if connected else "notifier_disconnected")

    @staticmethod
    def _log_start(job: ClaimedJob) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info("started job %s %s queue=%s attempt=%d", job.id, job.job_class,
                     job.queue_name, job.executions_count,
                     extra={"goodjob": {"event": "perform_start", "job_id": str(job.id), "job_class": job.job_class,
                                        "queue_name": job.queue_name, "attempt": job.executions_count}})
        if events.active("perform_start"):
            events.emit("perform_start", job_id=job.id, job_class=job.job_class, queue_name=job.queue_name,
                        attempt=job.executions_count, scheduled_at=job.scheduled_at)  # claim latency

    @staticmethod
    def _log_finish(outcome: Outcome) -> None:
        level = _LEVELS.get(outcome.kind, logging.INFO)
        if outcome.unhandled:
            level = logging.ERROR
        job = outcome.job
        if log.isEnabledFor(level):
            log.log(
                level, "finished job %s %s queue=%s duration=%.1fms outcome=%s%s",
                job.id, job.job_class, job.queue_name, outcome.duration_ms, outcome.kind,
                f" error={outcome.error_class}: {outcome.error}" if outcome.error_class else "",
                extra={"goodjob": {"event": "perform_finish", "job_id": str(job.id), "job_class": job.job_class,
                                   "queue_name": job.queue_name, "attempt": job.executions_count,
                                   "outcome": str(outcome.kind), "duration_ms": round(outcome.duration_ms, 3),
                                   "error": f"{outcome.error_class}: {outcome.error}" if outcome.error_class
                                   else None}},
            )
        emit_outcome(outcome)


_RERUNS = (OutcomeKind.RETRIED, OutcomeKind.INTERRUPTED, OutcomeKind.THROTTLED)
_LEVELS = {
    OutcomeKind.DISCARDED: logging.ERROR,
    OutcomeKind.RETRIED: logging.WARNING,
    OutcomeKind.INTERRUPTED: logging.WARNING,
    OutcomeKind.THROTTLED: logging.DEBUG,
    OutcomeKind.CANCELLED: logging.WARNING,
}
_OUTCOME_EVENTS = {
    OutcomeKind.RETRIED: "retry",
    OutcomeKind.DISCARDED: "discard",
    OutcomeKind.INTERRUPTED: "interrupt",
    OutcomeKind.THROTTLED: "throttle",
    OutcomeKind.SNOOZED: "snooze",
    OutcomeKind.CANCELLED: "cancel",
}


def emit_outcome(outcome: Outcome) -> None:
    """perform_finish for every attempt, plus retry/discard/interrupt/throttle where they apply."""
    if not (events.active("perform_finish") or events.active(_OUTCOME_EVENTS.get(outcome.kind, "retry"))):
        return
    job = outcome.job
    payload = {
        "job_id": job.id, "job_class": job.job_class, "queue_name": job.queue_name,
        "attempt": job.executions_count, "outcome": str(outcome.kind), "duration_ms": outcome.duration_ms,
        "error_class": outcome.error_class, "error": outcome.error, "exception": outcome.exception,
        "retry_at": outcome.retry_at, "unhandled": outcome.unhandled,
    }
    events.emit("perform_finish", **payload)
    name = _OUTCOME_EVENTS.get(outcome.kind)
    if name is not None:
        events.emit(name, **payload)
