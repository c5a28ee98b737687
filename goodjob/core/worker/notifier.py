"""LISTEN on the ``good_job`` channel with automatic reconnection.

The notifier knows nothing of schedulers: it turns notifications into callbacks. NOTIFY is only a
hint (the claim decides), so after every (re)connect it reports ``reconnected`` and the worker re-checks
every pool for jobs that were announced while it was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from goodjob.core.storage import db

log = logging.getLogger("goodjob")

CHANNEL = "good_job"


class Notifier:
    def __init__(
        self,
        url: Callable[[], Awaitable[str]],
        on_notify: Callable[[dict[str, Any]], None],
        *,
        on_connected: Callable[[bool], None] | None = None,
        keepalive: float = 5.0,
    ) -> None:
        self._url = url
        self._on_notify = on_notify
        self._on_connected = on_connected
        self._keepalive = keepalive
        self._task: asyncio.Task[None] | None = None
        self._conn: db.Connection | None = None
        self._lost = asyncio.Event()
        self.connected = False
        self.connections = 0  # how many times it has connected (tests watch reconnects)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="goodjob-notifier")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close()

    def _set_connected(self, value: bool) -> None:
        if value != self.connected:
            self.connected = value
            if self._on_connected is not None:
                self._on_connected(value)

    def _payload(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            log.warning("ignoring malformed notification %r", payload)
            return
        if isinstance(data, dict):
            self._on_notify(data)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._connect()
                delay = 0.1
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected:
                    log.warning("notifier connection lost (%s); reconnecting", exc)
                else:
                    log.warning("notifier could not connect (%s); retrying in %.1fs", exc, delay)
            self._set_connected(False)
            await self._close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _connect(self) -> None:
        url = await self._url()
        conn = await db.connect(url, application_name="goodjob-notifier")
        self._lost.clear()
        db.add_termination_listener(conn, self._lost.set)
        await conn.add_listener(CHANNEL, self._payload)
        self._conn = conn
        self.connections += 1
        reconnect = self.connections > 1
        self._set_connected(True)
        log.info("notifier listening on %r%s", CHANNEL, " (reconnected)" if reconnect else "")
        # Anything announced before LISTEN took effect (at start, or while disconnected) was missed:
        # tell the worker to look for work now.
        self._on_notify({"reconnected": True})

    async def _watch(self) -> None:
        """Return (to reconnect) when the server closes the connection or stops answering."""
        assert self._conn is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), timeout=self._keepalive)
            if self._lost.is_set() or db.connection_closed(self._conn):
                raise ConnectionError("the LISTEN connection was closed by the server")
            await asyncio.wait_for(self._conn.execute("SELECT 1"), timeout=self._keepalive)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not db.connection_closed(conn):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not db.connection_closed(conn):
                conn.terminate()
