"""The in-process worker of the ``async`` and ``async_server`` execution modes.

One worker per process, on the event loop that started it: the ASGI lifespan's loop under a web
server, the caller's loop in an asyncio program, or the sync bridge's loop in a plain script. The
runtime owns one :class:`InProcessWorker`; the lifespan, ``goodjob.restart()`` and (in ``async``
mode) the first enqueue start it.

``async_server`` starts workers only when something declares "this process is the server": the
ASGI lifespan or ``restart()``. A script, a REPL, ``goodjob migrate`` or a test run never runs one,
so there the mode behaves as ``external``. Guessing the server from the command line is used only
to warn when a server process never ran the lifespan, because a wrong guess must never cost a job.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime

from goodjob.core.config import Config
from goodjob.core.storage.db import Database, Executor
from goodjob.core.types import Enqueued
from goodjob.core.worker.launcher import Worker

log = logging.getLogger("goodjob")

ASYNC_MODES = ("async", "async_server")
SERVER_NAMES = ("uvicorn", "hypercorn", "gunicorn", "granian", "daphne")


def server_process_name() -> str | None:
    """The web server this process seems to run under (its command line first, then its modules)."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    parts = os.path.normpath(argv0).split(os.sep)
    for name in SERVER_NAMES:
        if parts[-1].startswith(name) or name in parts[:-1]:  # `uvicorn ...`, `python -m uvicorn ...`
            return name
    return next((name for name in SERVER_NAMES if name in sys.modules), None)


def not_started_message(server: str = "web server") -> str:
    return (
        f"execution_mode=async_server in a {server} process, but no lifespan has started "
        "goodjob's workers, so jobs enqueued here wait for a worker elsewhere. Wire it with "
        "`Starlette(..., lifespan=goodjob.lifespan)` or `FastAPI(lifespan=goodjob.lifespan)` (compose "
        "with `lifespan=goodjob.lifespan(your_lifespan)`), make sure the server runs lifespans (not "
        "`--lifespan off`), or call `await goodjob.restart()` from the server's startup hook."
    )


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class InProcessWorker:
    """Start, find, route to and stop this process's worker, from any thread or loop."""

    def __init__(
        self,
        *,
        config: Callable[[], Config],
        database: Callable[[], Awaitable[Database]],
        url: Callable[[], Awaitable[str]],
    ) -> None:
        self._config = config
        self._database = database
        self._url = url
        self._lock = threading.Lock()
        self._future: concurrent.futures.Future[Worker] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = os.getpid()
        self._stopping: concurrent.futures.Future[None] | None = None
        self.server_started = False  # a lifespan or restart() ran: this process is the server
        self.stopped = False  # shutdown() ran: no lazy start until an explicit start or restart()
        self._warned = False
        self._exit_hook = False

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, execution_mode: str | None = None) -> Worker:
        """Start the worker on the running loop, or return the one already running.

        Concurrent first callers (a lifespan and an enqueue, two enqueues) share one start. A worker
        inherited from a parent process (fork) or left on a loop that stopped is forgotten, never
        reused: its connections and tasks belong to that process or loop.
        """
        loop = asyncio.get_running_loop()
        self.live()  # forgets a stale worker
        with self._lock:
            future = self._future
            owner = future is None
            if future is None:
                future = self._future = concurrent.futures.Future()
                self._loop, self._pid = loop, os.getpid()
        self.stopped = False
        if not owner:
            return await asyncio.wrap_future(future)
        config = self._config()
        worker = Worker(config, database=self._database, url=self._url,
                        execution_mode=execution_mode or config.execution_mode)
        try:
            await worker.start()
        except BaseException as exc:
            with self._lock:
                if self._future is future:
                    self._future = self._loop = None
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("start cancelled"))
            with contextlib.suppress(Exception):
                await worker.shutdown(0)
            raise
        future.set_result(worker)
        self._drain_before_exit()
        return worker

    def attach(self, worker: Worker) -> None:
        """Adopt a worker started elsewhere (``goodjob start``), so that async-mode enqueues made by
        its jobs go to it instead of starting a second worker in the same process."""
        future: concurrent.futures.Future[Worker] = concurrent.futures.Future()
        future.set_result(worker)
        with self._lock:
            self._future, self._loop, self._pid = future, asyncio.get_running_loop(), os.getpid()

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop claiming, wait up to ``timeout`` (default ``shutdown_timeout``) for running jobs,
        interrupt the rest. Idempotent; callable from any loop; a second caller waits for the first."""
        with self._lock:
            self.stopped = True
            future, loop, pid = self._future, self._loop, self._pid
            self._future = self._loop = None
            stopping = self._stopping
            if future is not None:
                stopping = self._stopping = concurrent.futures.Future()
        if future is None:
            if stopping is not None:
                await asyncio.wrap_future(stopping)
            return
        assert stopping is not None
        try:
            if pid != os.getpid() or loop is None or loop.is_closed():
                return
            try:
                worker = await asyncio.wrap_future(future)
            except Exception:
                return  # it never started
            if loop is running_loop():
                await worker.shutdown(timeout)
            elif loop.is_running():
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(worker.shutdown(timeout), loop))
        finally:
            with self._lock:
                if self._stopping is stopping:
                    self._stopping = None
            stopping.set_result(None)

    async def restart(self) -> Worker | None:
        """Shut down (if running), then start again if the execution mode runs jobs in-process.

        Also how a server without an ASGI lifespan starts async_server workers, from its post-fork
        or startup hook: calling it declares "this process is the server".
        """
        await self.shutdown()
        mode = self._config().execution_mode
        if mode not in ASYNC_MODES:
            return None
        self.server_started = True
        return await self.start(mode)

    def live(self) -> tuple[Worker, asyncio.AbstractEventLoop] | None:
        """The started worker and its loop; None while starting, or if stale (fork, stopped loop)."""
        with self._lock:
            future, loop = self._future, self._loop
            if future is None or loop is None:
                return None
            if self._pid != os.getpid() or loop.is_closed() or not loop.is_running():
                self._future = self._loop = None
                return None
            if not future.done() or future.exception() is not None:
                return None
            return future.result(), loop

    # --- enqueue hook ---------------------------------------------------------------------------

    async def after_enqueue(self, results: list[Enqueued], now: datetime, connection: Executor | None) -> None:
        """Start the worker (``async``) or warn that none will start (``async_server`` without a
        lifespan); hand due jobs straight to a local pool with a free slot (the fast path).

        The fast path only wakes a pool, which still claims through the database, so a job runs once
        however many processes hear of it; it also spares a poll_interval's wait when LISTEN is down.
        A job written on the caller's connection may not be committed yet: NOTIFY (sent on commit)
        announces it instead.
        """
        mode = self._config().execution_mode
        live = self.live()
        if live is None:
            if mode == "async" and not self.stopped:  # not after shutdown (an app's teardown, say)
                try:
                    await self.start(mode)
                except Exception:
                    log.exception("could not start the in-process worker (execution_mode=async)")
            elif mode == "async_server" and not self.server_started:
                self._warn_not_started()
            return
        if connection is not None:
            return
        worker, loop = live
        for queue in sorted({r.queue_name for r in results if r and r.scheduled_at <= now}):
            if loop is running_loop():
                worker.route(queue)
            else:
                loop.call_soon_threadsafe(worker.route, queue)

    def not_started_problem(self) -> str | None:
        """The warning for an async_server process whose lifespan never ran (for a dashboard banner)."""
        if self._config().execution_mode != "async_server" or self.server_started or self.live():
            return None
        server = server_process_name()
        return not_started_message(server) if server else None

    def check_not_started(self) -> str | None:
        """``not_started_problem()``, logged once: for the dashboard's first request."""
        self._warn_not_started()
        return self.not_started_problem()

    def _warn_not_started(self) -> None:
        if self._warned:
            return
        self._warned = True
        problem = self.not_started_problem()
        if problem:
            log.warning(problem)
        else:
            log.debug("execution_mode=async_server outside a server process: behaving as external")

    # --- process events -------------------------------------------------------------------------

    def _drain_before_exit(self) -> None:
        """At interpreter exit, shut down a worker still running on a background loop (``async``
        mode in a plain script runs it on the sync bridge's thread) so running jobs finish first.

        Registered with threading's exit hooks, which run before ThreadPoolExecutor's, so that thread
        jobs still run and are joined while the worker drains.
        """
        if self._exit_hook:
            return
        self._exit_hook = True

        def drain() -> None:
            live = self.live()
            if live is None or running_loop() is live[1]:
                return
            try:
                asyncio.run_coroutine_threadsafe(self.shutdown(), live[1]).result()
            except Exception:  # pragma: no cover - best effort at exit
                log.exception("shutting the worker down at exit failed")

        register = getattr(threading, "_register_atexit", None) or atexit.register
        with contextlib.suppress(RuntimeError):  # already shutting down
            register(drain)

    def after_fork(self) -> None:
        """In a forked child: forget the parent's worker (without touching it) and any lock held at
        fork time. The parent's worker keeps running in the parent; the child starts its own."""
        self._lock = threading.Lock()
        self._future = self._loop = self._stopping = None
        self._pid = os.getpid()
        self.server_started = self.stopped = self._warned = False  # the exit hook is inherited

    def reset(self) -> None:
        """Forget everything (tests): a worker still running must have been shut down already."""
        with self._lock:
            self._future = self._loop = self._stopping = None
        self.server_started = self.stopped = self._warned = False
