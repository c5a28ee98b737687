"""Run goodjob's workers inside an ASGI web server: the lifespan, ``shutdown`` and ``restart``.

One line wires Starlette or FastAPI::

    app = Starlette(routes=routes, lifespan=goodjob.lifespan)
    app = FastAPI(lifespan=goodjob.lifespan)
    app = FastAPI(lifespan=goodjob.lifespan(app_lifespan))   # around the app's own lifespan

In ``async_server`` and ``async`` modes the lifespan starts this process's worker when the server
starts and drains it (within ``shutdown_timeout``) when the server stops. The lifespan itself is the
signal that the process is a web server: forking servers (``uvicorn --workers``, gunicorn with
uvicorn workers) run it in each worker process, never in the supervisor, so every worker process
gets its own pools and the parent none. In ``external`` and ``inline`` modes it starts nothing.

Servers with their own hooks (or no lifespan) call ``goodjob.restart()`` after forking and
``goodjob.shutdown()`` on exit; both are idempotent. Frameworks without a lifespan parameter can
wrap the ASGI app in :class:`LifespanMiddleware`.

Nothing here imports Starlette: the lifespan is a plain async context manager factory.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from goodjob.core.runtime import get_runtime
from goodjob.core.worker.inprocess import ASYNC_MODES, running_loop
from goodjob.core.worker.launcher import Worker

log = logging.getLogger("goodjob")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = [
    "Lifespan",
    "LifespanMiddleware",
    "lifespan",
    "not_started_problem",
    "restart",
    "restart_sync",
    "shutdown",
    "shutdown_sync",
]


def lifespan(app_or_lifespan: Any = None, /) -> Lifespan:
    """goodjob's ASGI lifespan, in whichever form the caller needs.

    * ``Starlette(lifespan=goodjob.lifespan)``: the framework calls ``goodjob.lifespan(app)`` and
      enters the result.
    * ``FastAPI(lifespan=goodjob.lifespan(app_lifespan))``: the framework calls the result with the
      app; the app's lifespan runs around goodjob's, so the app's resources are up before the first
      job starts and torn down only after the last one has finished.
    * ``async with goodjob.lifespan():`` in a plain asyncio program (``async`` mode).

    The same object serves all three because how it is used says what the argument was: entered
    directly, it was the app; called with an app, it was the app's own lifespan.
    """
    return Lifespan(app_or_lifespan)


class Lifespan:
    """What :func:`lifespan` returns: an async context manager, and a ``lifespan(app)`` factory."""

    def __init__(self, target: Any = None) -> None:
        self._target = target
        self._active: list[AbstractAsyncContextManager[Any]] = []

    def __call__(self, app: Any) -> AbstractAsyncContextManager[Any]:
        return _session(self._target, app)

    async def __aenter__(self) -> Any:
        session = _session(None, self._target)
        state = await session.__aenter__()
        self._active.append(session)
        return state

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._active.pop().__aexit__(exc_type, exc, tb)


@contextlib.asynccontextmanager
async def _session(inner: Callable[[Any], AbstractAsyncContextManager[Any]] | None, app: Any) -> AsyncIterator[Any]:
    runtime = get_runtime()
    try:
        if inner is None:
            await _start()
            try:
                yield None
            finally:
                await runtime.shutdown()
        else:
            async with inner(app) as state:
                await _start()
                try:
                    yield state
                finally:
                    await runtime.shutdown()
    finally:
        await _close_dashboard()
        await runtime.close_database()  # this loop's pool: the server is about to close the loop


async def _start() -> Worker | None:
    runtime = get_runtime()
    runtime.in_process.server_started = True
    mode = runtime.config.execution_mode
    if mode not in ASYNC_MODES:
        log.debug("execution_mode=%s: the lifespan starts no workers", mode)
        return None
    return await runtime.start_worker(mode)


async def _close_dashboard() -> None:
    """Close the ready-made ``goodjob.dashboard`` if the app mounted it: a mounted app gets no
    lifespan events of its own, and its pool lives on this loop. (It reopens on the next request.)"""
    close = getattr(sys.modules.get("goodjob.dashboard"), "close", None)
    if close is not None:
        try:
            await close()
        except Exception:
            log.exception("closing the dashboard failed")


class LifespanMiddleware:
    """goodjob's lifespan for an ASGI app whose framework has no lifespan hook (Django, say)::

        application = goodjob.asgi.LifespanMiddleware(get_asgi_application())

    It answers the server's lifespan messages itself and passes every other scope to the app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        session = _session(None, self.app)
        await receive()  # lifespan.startup
        try:
            await session.__aenter__()
        except Exception as exc:
            log.exception("starting workers failed")
            await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        try:
            await session.__aexit__(None, None, None)
        except Exception as exc:
            log.exception("shutting workers down failed")
            await send({"type": "lifespan.shutdown.failed", "message": f"{type(exc).__name__}: {exc}"})
            return
        await send({"type": "lifespan.shutdown.complete"})


# --- for servers with their own hooks -------------------------------------------------------------


async def shutdown(timeout: float | None = None) -> None:
    """Drain and stop this process's workers: stop claiming, wait up to ``timeout`` seconds (default
    ``shutdown_timeout``; -1 forever, 0 not at all) for running jobs, interrupt the rest (they run
    again). Idempotent; a concurrent second call waits for the first. In ``async`` mode, later
    enqueues no longer start a worker by themselves; ``restart()`` does."""
    await get_runtime().shutdown(timeout)


def shutdown_sync(timeout: float | None = None) -> None:
    """:func:`shutdown` for synchronous hooks (gunicorn's ``worker_exit``, ``atexit``)."""
    runtime = get_runtime()
    live = runtime.in_process.live()
    if live is not None and running_loop() is live[1]:
        raise RuntimeError("goodjob.shutdown_sync() would block its worker's own loop; await goodjob.shutdown()")
    runtime.run_sync(lambda: runtime.shutdown(timeout))


async def restart() -> bool:
    """Shut down, then start this process's worker on the running loop if the execution mode runs
    jobs in-process (``async`` or ``async_server``); returns whether a worker runs now.

    Call it from a server's post-fork or startup hook when the ASGI lifespan is not available:
    like the lifespan, it declares this process to be the server.
    """
    return await get_runtime().restart() is not None


def restart_sync() -> bool:
    """:func:`restart` for synchronous hooks (gunicorn's ``post_worker_init`` with sync workers): the
    worker then runs on goodjob's background loop thread."""
    runtime = get_runtime()
    return runtime.run_sync(runtime.restart) is not None


def not_started_problem() -> str | None:
    """Why no jobs will run in this process, when it is an ``async_server`` web server whose
    lifespan never started goodjob (``None`` when all is well); the dashboard shows it."""
    return get_runtime().in_process.not_started_problem()
