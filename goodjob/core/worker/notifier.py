"""LISTEN on the worker's channels (storage/channels.py), on the worker's session connection.

The notifier knows nothing of schedulers: it turns notifications into callbacks. It owns no
connection: the process record (liveness.py) keeps one *session connection* per worker, direct to
Postgres, for the liveness lock, the heartbeat and LISTEN, and attaches the notifier to it on every
(re)connect. One connection instead of two per worker is what keeps an idle worker at two
connections (that one and one pool connection), and what a cluster behind PgBouncer pays Postgres
directly per worker.

NOTIFY is only a hint (the claim decides), so after every (re)connect it reports ``reconnected`` and
the worker re-checks every pool for jobs that were announced while it was away. It sends no
keep-alive statements: a closed connection is seen at once through asyncpg's termination callback,
a silently vanished peer through TCP keepalives, and the heartbeat runs on the same connection.
LISTEN through a transaction pooler would hear nothing, so there the worker LISTENs only on
``session_database_url``, or not at all (polling).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from goodjob.core.storage import db
from goodjob.core.storage.channels import CHANNEL

log = logging.getLogger("goodjob")


class Notifier:
    def __init__(
        self,
        on_notify: Callable[[dict[str, Any]], None],
        *,
        on_connected: Callable[[bool], None] | None = None,
        channels: Sequence[str] = (CHANNEL,),
    ) -> None:
        self._on_notify = on_notify
        self.channels = tuple(channels)
        self.received = 0  # notifications heard (tests check what a worker is woken for)
        self._on_connected = on_connected
        self._conn: db.Connection | None = None
        self._stopped = False
        self.connected = False
        self.connections = 0  # how many times it has connected (tests watch reconnects)

    async def attach(self, conn: db.Connection) -> None:
        """LISTEN on a freshly (re)connected session connection."""
        if self._stopped:
            return
        for channel in self.channels:
            await conn.add_listener(channel, self._payload)
        self._conn = conn
        self.connections += 1
        reconnect = self.connections > 1
        self._set_connected(True)
        log.info("notifier listening on %s%s", ", ".join(self.channels), " (reconnected)" if reconnect else "")
        # Anything announced before LISTEN took effect (at start, or while disconnected) was missed:
        # tell the worker to look for work now.
        self._on_notify({"reconnected": True})

    def detach(self) -> None:
        """The session connection is gone; the process record reconnects and attaches again."""
        self._conn = None
        if self.connected:
            log.warning("notifier connection lost; reconnecting")
        self._set_connected(False)

    async def stop(self) -> None:
        self._stopped = True
        conn, self._conn = self._conn, None
        if conn is not None and not db.connection_closed(conn):
            with contextlib.suppress(Exception):
                for channel in self.channels:
                    await conn.remove_listener(channel, self._payload)
        self._set_connected(False)

    def _set_connected(self, value: bool) -> None:
        if value != self.connected:
            self.connected = value
            if self._on_connected is not None:
                self._on_connected(value)

    def _payload(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.received += 1
        try:
            data = json.loads(payload)
        except ValueError:
            log.warning("ignoring malformed notification %r", payload)
            return
        if isinstance(data, dict):
            self._on_notify(data)
