"""The composition root (GoodJob's Capsule): configuration, databases, inline execution, workers.

One Runtime per process. It opens one asyncpg pool per event loop on first use (pools cannot be
shared across loops), runs the sync API on a private loop thread, and owns the worker pools when a
worker or an async execution mode is running.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import socket
import threading
import uuid
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from goodjob.core import config as config_module
from goodjob.core import events, notices, operations, tracing
from goodjob.core.config import Config, mask_database_url
from goodjob.core.enqueue import JobRequest, Shape, insert, insert_uniform, utcnow
from goodjob.core.errors import ConfigurationError, SchemaMissingError
from goodjob.core.features import concurrency
from goodjob.core.features.concurrency_rules import class_rules
from goodjob.core.storage import store
from goodjob.core.storage.db import Database, Executor, UndefinedTableError
from goodjob.core.storage.embedded import resolve_database_url
from goodjob.core.types import ClaimedJob, Enqueued, OutcomeKind
from goodjob.core.worker.executor import JobExecutor
from goodjob.core.worker.inprocess import ASYNC_MODES, InProcessWorker
from goodjob.core.worker.launcher import Worker, emit_outcome
from goodjob.core.worker.liveness import lock_key_for
from goodjob.core.worker.recorder import Recorder

log = logging.getLogger("goodjob")
T = TypeVar("T")


class SyncBridge:
    """A private event loop on a daemon thread, so that sync code can call the async core.

    It works from a plain script, a WSGI worker thread, or a thread beside a running event loop,
    because the caller's thread never runs the coroutine itself.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._thread or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name="goodjob-sync", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def run(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        loop = self._ensure()
        if threading.current_thread() is self._thread:
            raise RuntimeError("goodjob's sync API cannot be called from inside an async job; await it")
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(factory(), loop)
        return future.result()

    def stop(self, cleanup: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or not thread.is_alive():
            return
        if cleanup is not None:
            try:
                asyncio.run_coroutine_threadsafe(cleanup(), loop).result(timeout=10)
            except Exception:  # pragma: no cover - best effort at exit
                log.debug("sync bridge cleanup failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            # Closed here, not by the garbage collector at interpreter exit, where its self-pipe may
            # already be gone ("Exception ignored in BaseEventLoop.__del__": 20 lines after an error).
            loop.close()


class Runtime:
    def __init__(self) -> None:
        self.process_id: UUID = uuid.uuid4()  # used for inline claims
        self._databases: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Database] = (
            weakref.WeakKeyDictionary()
        )
        self._url: str | None = None
        self._url_setting: str | None = None  # config.database_url when _url was resolved
        self._url_lock = threading.Lock()
        self.bridge = SyncBridge()
        self._inline_executor: JobExecutor | None = None
        self.in_process = InProcessWorker(config=lambda: self.config, database=self.database, url=self._async_url)

    @property
    def config(self) -> Config:
        return config_module.current_config()

    # --- databases --------------------------------------------------------------------------

    def database_url(self) -> str:
        with self._url_lock:
            if self._url is None:
                config = self.config
                self._url = resolve_database_url(config)
                self._url_setting = config.database_url
            return self._url

    def _check_database_change(self, new: str | None) -> None:
        """configure(database_url=...) after first use: the pools already point elsewhere."""
        if self._url is not None and new != self._url_setting:
            raise ConfigurationError(
                f"database_url={mask_database_url(new) if new else new!r} cannot take effect: goodjob already "
                f"uses {mask_database_url(self._url)}; configure the database before the first enqueue or "
                "worker start (tests: call goodjob.core.runtime.get_runtime().reset() first)"
            )

    async def database(self) -> Database:
        """The pool for the running loop, opened on first use."""
        loop = asyncio.get_running_loop()
        db = self._databases.get(loop)
        if db is None or db.closed:
            url = self._url if self._url is not None else await asyncio.to_thread(self.database_url)
            route_logs(self.config.logger)
            cfg = self.config
            db = await Database.open(url, max_size=cfg.database_pool_size, pooler=cfg.database_pooler)
            existing = self._databases.get(loop)
            if existing is not None and not existing.closed:
                await db.close()
                return existing
            self._databases[loop] = db
        return db

    async def close_database(self) -> None:
        """Close the pool of the running loop (tests, ASGI shutdown)."""
        db = self._databases.pop(asyncio.get_running_loop(), None)
        if db is not None:
            await db.close()

    def reset(self) -> None:
        """Forget the resolved URL and every pool (after configure() changed the database)."""
        self.in_process.reset()
        self.bridge.stop(self.close_database)
        with self._url_lock:
            self._url = None
        self._databases = weakref.WeakKeyDictionary()
        if self._inline_executor is not None:
            self._inline_executor.close()
            self._inline_executor = None

    def run_sync(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return self.bridge.run(factory)

    # --- enqueue ----------------------------------------------------------------------------

    async def enqueue(self, req: JobRequest, connection: Executor | None = None) -> Enqueued:
        if tracing.active():
            with tracing.enqueue_span(req.job_class, req.queue_name) as carrier:
                if carrier:
                    req.meta = {**(req.meta or {}), "trace": carrier}
                return await self._enqueue(req, connection)
        return await self._enqueue(req, connection)

    async def _enqueue(self, req: JobRequest, connection: Executor | None) -> Enqueued:
        params = req.params_json()  # raises SerializationError before anything is written
        now = utcnow()
        with self._schema_hint():
            if req.concurrency is not None:
                ex = connection if connection is not None else (await self.database()).pool
                result = await concurrency.insert(ex, req, params, now)
            elif connection is not None:
                result = await insert(connection, req, params, now)
            else:
                result = await insert((await self.database()).quick, req, params, now)
        if result:
            await self._after_enqueue([req.job_class], [result], now, connection)
        return result

    async def enqueue_many(
        self, reqs: list[JobRequest], connection: Executor | None = None
    ) -> list[Enqueued]:
        params = [r.params_json() for r in reqs]
        now = utcnow()
        ex = connection if connection is not None else (await self.database()).pool
        with self._schema_hint():
            results = await concurrency.insert_many(ex, reqs, params, now)
        if results:
            await self._after_enqueue([r.job_class for r in reqs], results, now, connection)
        return results

    async def enqueue_uniform(
        self, shape: Shape, ids: list[UUID], params: list[str], connection: Executor | None = None
    ) -> list[Enqueued]:
        """``enqueue_many`` for jobs known to share ``shape`` (``perform_all_later`` of jobs built from
        one ``job.set(...)``, none of them built into a request): no per-job request to make or
        compare. ``params``: each job's ``serialized_params`` (serialized by the caller, first)."""
        if not ids:
            return []
        now = utcnow()
        ex = connection if connection is not None else (await self.database()).pool
        with self._schema_hint():
            results = await insert_uniform(ex, shape, ids, params, now)
        await self._after_enqueue([shape.job_class] * len(results), results, now, connection)
        return results

    @contextlib.contextmanager
    def _schema_hint(self) -> Iterator[None]:
        """An enqueue into a database without goodjob's tables says what to do, as the worker does."""
        try:
            yield
        except UndefinedTableError as exc:
            raise SchemaMissingError(
                f"{self.config.describe_database()} has no goodjob tables ({exc}); run `goodjob migrate` "
                "(or apply the output of `goodjob schema` with your migration tool)"
            ) from exc

    async def _after_enqueue(
        self, job_classes: list[str], results: list[Enqueued], now: datetime, connection: Executor | None
    ) -> None:
        """Events, then what the execution mode does with new jobs (perform inline, or wake a pool)."""
        if events.active("enqueue"):
            for job_class, res in zip(job_classes, results, strict=True):
                if res:
                    events.emit("enqueue", job_id=res.id, job_class=job_class, queue_name=res.queue_name,
                                priority=res.priority, scheduled_at=res.scheduled_at)
        mode = self.config.execution_mode
        if mode == "inline":
            for res in results:
                if res and res.scheduled_at <= now:
                    await self.perform_inline_job(res.id, connection)
        elif mode in ASYNC_MODES:
            await self.in_process.after_enqueue(results, now, connection)

    # --- inline execution -------------------------------------------------------------------

    def _executor(self) -> JobExecutor:
        if self._inline_executor is None:
            cfg = self.config
            self._inline_executor = JobExecutor(
                max_threads=cfg.max_threads,
                immediate_retries=True,
                retry_on_unhandled_error=cfg.retry_on_unhandled_error,
                on_thread_error=cfg.on_thread_error,
                thread_name="goodjob-inline",
            )
        return self._inline_executor

    async def perform_inline_job(
        self, job_id: UUID, connection: Executor | None = None, on_attempt: Callable[[], object] | None = None
    ) -> bool:
        """Claim and perform one job in the caller; an unhandled error propagates to the caller.

        A retry by a ``retry_on`` rule runs again at once, in the caller (GoodJob's inline
        behaviour: the wait is skipped, the attempts limit still holds), until the job succeeds or
        is discarded. The claim is held under a process row of its own (mode ``inline``) so that
        recovery knows the row has a live owner however long the job runs. ``on_attempt`` is called
        after each attempt (the test helpers count attempts with it).
        """
        ex = connection if connection is not None else (await self.database()).pool
        owner = uuid.uuid4()
        await store.register_process(
            ex, id=owner, hostname=socket.gethostname(), pid=os.getpid(), queues="(inline)", max_threads=1,
            lock_key=lock_key_for(owner), execution_mode="inline", now=utcnow(),
        )
        try:
            while True:
                row = await store.claim_job(ex, job_id, utcnow(), owner)
                if row is None:
                    return False
                job = ClaimedJob.from_record(row)
                refused = None
                if job.concurrency_key is not None:  # no claim filter here: check the perform rules now
                    refused = await concurrency.admit(ex, job, class_rules(job.job_class))
                recorder = Recorder(self.database, owner, self.config.preserve_job_records)
                outcome = refused if refused is not None else await self._executor().perform(job, recorder)
                await recorder.record([outcome], connection)
                emit_outcome(outcome)
                if on_attempt is not None and refused is None:
                    on_attempt()
                if outcome.unhandled and outcome.exception is not None:
                    raise outcome.exception
                if outcome.kind is OutcomeKind.INTERRUPTED and outcome.exception is not None:
                    raise outcome.exception
                if outcome.kind is not OutcomeKind.RETRIED:
                    return refused is None
        finally:
            await store.deregister_process(ex, owner)

    async def perform_inline(self, limit: int | None = None) -> int:
        """Perform the jobs that are due now (inline mode's helper for scheduled jobs)."""
        done = 0
        db = await self.database()
        while limit is None or done < limit:
            ids = await store.due_job_ids(db.pool, utcnow(), 100)
            if not ids:
                break
            for job_id in ids:
                if await self.perform_inline_job(job_id):
                    done += 1
                if limit is not None and done >= limit:
                    break
        return done

    # --- in-process workers (async, async_server): see core/inprocess.py -----------------------

    async def start_worker(self, execution_mode: str | None = None) -> Worker:
        """Start this process's worker on the running loop (or return the running one)."""
        return await self.in_process.start(execution_mode)

    async def shutdown(self, timeout: float | None = None) -> None:
        """Drain and stop this process's worker, if any (idempotent)."""
        await self.in_process.shutdown(timeout)

    async def restart(self) -> Worker | None:
        """Shut down, then start again if the execution mode runs jobs in this process."""
        return await self.in_process.restart()

    async def _async_url(self) -> str:
        return self._url if self._url is not None else await asyncio.to_thread(self.database_url)

    def _after_fork(self) -> None:
        """In a forked child: drop, without closing, what belongs to the parent (its pools, worker,
        sync-bridge thread, locks held at fork time); closing would act on the parent's sockets."""
        _fork_leftovers.append((self._databases, self.bridge, self._inline_executor))
        self._databases = weakref.WeakKeyDictionary()
        self.bridge = SyncBridge()
        self._url_lock = threading.Lock()
        self._inline_executor = None
        self.process_id = uuid.uuid4()
        self.in_process.after_fork()


class _Forward(logging.Handler):
    """Hands goodjob's records to the logger chosen with ``logger`` / GOOD_JOB_LOGGER.

    The target gets what ``goodjob start`` prints (INFO and up: a line per job) unless it has a
    level of its own; its handlers' levels apply as usual.
    """

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target
        self.set_level = False  # whether route_logs gave the goodjob logger its level (undone later)

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= (self.target.level or logging.INFO):
            self.target.handle(record)


def route_logs(target: logging.Logger) -> None:
    """Send the ``goodjob`` logger's records to ``target`` (idempotent; the default is a no-op)."""
    source = logging.getLogger("goodjob")
    for handler in list(source.handlers):
        if isinstance(handler, _Forward):
            source.removeHandler(handler)
            if handler.set_level:
                source.setLevel(logging.NOTSET)
    if target is source:
        source.propagate = True
        return
    forward = _Forward(target)
    source.addHandler(forward)
    source.propagate = False
    # Without a level of its own the goodjob logger inherits the root's (WARNING by default), and
    # INFO records would never be created for the target to see.
    if source.level == logging.NOTSET:
        source.setLevel(min(target.level or logging.INFO, logging.INFO))
        forward.set_level = True


_runtime: Runtime | None = None
_fork_leftovers: list[object] = []  # a forked child's references to its parent's pools
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    global _runtime
    runtime = _runtime
    if runtime is not None:  # every enqueue asks: no lock once it exists
        return runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime()
            config_module.set_database_guard(_runtime._check_database_change)
            atexit.register(_runtime.bridge.stop)
            os.register_at_fork(after_in_child=_runtime._after_fork)
        return _runtime



def _workers_not_started() -> str | None:
    return get_runtime().in_process.check_not_started()


notices.register(_workers_not_started)  # the dashboard's banner, without importing the runtime


async def _default_pool() -> Executor:
    return (await get_runtime().database()).pool


# goodjob.jobs' default database and sync bridge, without the job API importing the runtime.
operations.register(_default_pool, lambda factory: get_runtime().run_sync(factory))


async def maybe_await(value: Awaitable[T] | T) -> T:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value  # type: ignore[no-any-return]
    return value  # type: ignore[return-value]
