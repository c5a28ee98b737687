"""Live updates: one LISTEN connection per dashboard fans NOTIFYs out to server-sent event streams.

Enqueues, retries, "run now" and pauses NOTIFY on ``good_job``; each open page gets a ``change``
event (at most one a second) and refetches itself. Jobs that finish send no NOTIFY, so streams also
carry a ``tick`` every few seconds. A stream ends after ``STREAM_SECONDS`` and the browser reconnects
at once: servers wait for open responses before they shut down, so no stream may live long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.responses import StreamingResponse

from goodjob.core.storage.channels import CHANNEL  # every announcement, whichever queue
from goodjob.core.storage.db import Connection, is_connection_error

__all__ = ["LiveHub", "NoListen", "event_stream"]

log = logging.getLogger("goodjob.dashboard")

STREAM_SECONDS = 15.0
TICK_SECONDS = 5.0
COALESCE_SECONDS = 1.0
IDLE_SECONDS = 30.0  # keep LISTENing this long after the last page closed (page-to-page navigation)
RETRY_SECONDS = 2.0

class NoListen(Exception):
    """LISTEN is impossible here (a transaction pooler and no session URL): pages refresh on ticks."""


Connector = Callable[[], Awaitable[tuple[Connection, Callable[[], Awaitable[None]]]]]


class LiveHub:
    """Subscribers are asyncio queues of size one: a burst of NOTIFYs collapses into one event."""

    def __init__(self, connect: Connector) -> None:
        self._connect = connect
        self._subscribers: set[asyncio.Queue[bool]] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed = False

    @property
    def listening(self) -> bool:
        return self._task is not None and not self._task.done()

    def subscribe(self) -> asyncio.Queue[bool]:
        queue: asyncio.Queue[bool] = asyncio.Queue(maxsize=1)
        self._subscribers.add(queue)
        if not self._closed and not self.listening:
            self._task = asyncio.create_task(self._run(), name="goodjob-dashboard-listen")
        self._wake.set()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bool]) -> None:
        self._subscribers.discard(queue)
        self._wake.set()

    def publish(self, alive: bool = True) -> None:
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(alive)

    async def close(self) -> None:
        """Stop listening and end every open stream."""
        self._closed = True
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait(False)
        task, self._task = self._task, None
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        while not self._closed:
            try:
                conn, release = await self._connect()
            except NoListen:
                return
            except Exception as err:
                if not is_connection_error(err):
                    log.warning("goodjob dashboard: cannot LISTEN for live updates: %s", err)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            try:
                await conn.add_listener(CHANNEL, self._on_notify)
                self.publish()  # anything may have happened while we were not listening
                if await self._until_idle(conn):
                    return
            except Exception as err:
                log.debug("goodjob dashboard: LISTEN connection lost: %s", err)
            finally:
                with contextlib.suppress(Exception):
                    if not conn.is_closed():
                        await conn.remove_listener(CHANNEL, self._on_notify)
                with contextlib.suppress(Exception):
                    await release()
            await asyncio.sleep(RETRY_SECONDS)

    async def _until_idle(self, conn: Connection) -> bool:
        """Wait while someone listens; True once nobody has for IDLE_SECONDS, False if conn died."""
        while not conn.is_closed():
            self._wake.clear()
            timeout = IDLE_SECONDS if not self._subscribers else 5.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
                continue
            if not self._subscribers:
                return True
        return False

    def _on_notify(self, *_args: Any) -> None:
        self.publish()


def event_stream(hub: LiveHub) -> StreamingResponse:
    """``text/event-stream``: ``change`` on NOTIFY, ``tick`` every few seconds, then the end."""
    return StreamingResponse(
        _events(hub), media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(hub: LiveHub) -> AsyncIterator[str]:
    queue = hub.subscribe()
    loop = asyncio.get_running_loop()
    try:
        yield "retry: 1000\nevent: hello\ndata: {}\n\n"
        end = loop.time() + STREAM_SECONDS
        next_tick = loop.time() + TICK_SECONDS
        while (now := loop.time()) < end:
            try:
                alive = await asyncio.wait_for(queue.get(), timeout=max(min(next_tick, end) - now, 0.01))
            except TimeoutError:
                if loop.time() >= next_tick:
                    next_tick = loop.time() + TICK_SECONDS
                    yield "event: tick\ndata: {}\n\n"
                continue
            if not alive:
                return
            yield "event: change\ndata: {}\n\n"
            next_tick = loop.time() + TICK_SECONDS
            await asyncio.sleep(COALESCE_SECONDS)
    finally:
        hub.unsubscribe(queue)
