"""Database access: the only module that imports asyncpg.

A :class:`Database` is an asyncpg pool bound to the event loop that created it. The sync API and
the async modes run on different loops, so the runtime keeps one Database per loop rather than
sharing a pool across loops (asyncpg pools must not be shared between loops).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg
from asyncpg.pgproto.pgproto import UUID as _AsyncpgUUID

Connection: TypeAlias = "asyncpg.Connection[Any]"
Pool: TypeAlias = "asyncpg.Pool[Any]"
Record: TypeAlias = asyncpg.Record
# Either a pool or a connection: both run queries. Store methods accept this so that a caller's own
# connection (inside its own transaction) and the shared pool are interchangeable.
Executor: TypeAlias = "asyncpg.Connection[Any] | asyncpg.Pool[Any]"

PostgresError = asyncpg.PostgresError
UndefinedTableError = asyncpg.UndefinedTableError
InterfaceError = asyncpg.InterfaceError
ConnectionDoesNotExistError = asyncpg.ConnectionDoesNotExistError

#: asyncpg's C ``UUID`` from 16 bytes: a ``uuid.UUID`` subclass (equal, hashing and pickling alike)
#: and the type asyncpg returns for uuid columns; job ids are built as it (core/enqueue.py's uuid7).
uuid_from_bytes: Callable[[bytes], UUID] = _AsyncpgUUID

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.ConnectionFailureError,
    asyncio.TimeoutError,
    # A connection cut while a query is in flight (`pg_ctl restart -m fast`) can surface as
    # "cannot switch to state 15; another operation is in progress" rather than as a closed
    # connection: the protocol state machine broke because the server went away.
    asyncpg.InternalClientError,
)


#: A pool connection unused this long is closed: after a burst (start-up, a drain) an idle worker
#: is back to one pool connection beside its session connection within this time.
IDLE_CONNECTION_SECONDS = 20.0


def is_connection_error(exc: BaseException) -> bool:
    """True for errors that mean "the server or the network went away", which callers retry."""
    return isinstance(exc, CONNECTION_ERRORS)


def is_connection(obj: object) -> bool:
    """True if obj is an asyncpg connection (a caller passing its own transaction)."""
    return isinstance(obj, asyncpg.Connection)


class Database:
    """A small wrapper around an asyncpg pool that remembers its URL, loop and pooler.

    Behind a transaction pooler (``pooler="transaction"``, PgBouncer's ``pool_mode = transaction``)
    consecutive statements of one client connection may run on different server connections, so
    nothing may outlive a transaction: asyncpg's statement cache is off (it names prepared
    statements per server connection, and the next transaction may not find them, or find a
    duplicate name). asyncpg then sends each statement as an unnamed Parse/Bind/Execute in one
    round trip with no Sync in between, which PgBouncer keeps on one server connection.
    """

    def __init__(
        self, url: str, pool: Pool, loop: asyncio.AbstractEventLoop, *, pooler: str = "none"
    ) -> None:
        self.url = url
        self.pool = pool
        self.loop = loop
        self.pooler = pooler
        self.quick = QuickLane(pool, loop)

    @classmethod
    async def open(
        cls, url: str, *, min_size: int = 1, max_size: int = 10, pooler: str = "none"
    ) -> Database:
        pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            max_inactive_connection_lifetime=IDLE_CONNECTION_SECONDS,
            server_settings={"application_name": "goodjob"},
            reset=_cheap_reset,
            **pool_options(pooler),
        )
        assert pool is not None
        return cls(url, pool, asyncio.get_running_loop(), pooler=pooler)

    @property
    def transaction_pooler(self) -> bool:
        return self.pooler == "transaction"

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def close(self) -> None:
        await self.quick.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pool.close(), timeout=5)
        self.pool.terminate()

    @property
    def closed(self) -> bool:
        return bool(self.pool._closed)  # asyncpg exposes no public flag


class QuickLane:
    """Single statements outside a transaction (a single enqueue) on a connection kept between calls.

    ``pool.fetchrow`` acquires and releases a connection around every statement: a queue get, a
    proxy, a shielded release task and an idle timer per call, about as much client CPU as the
    statement itself. The lane keeps one pool connection checked out and reuses it while calls keep
    coming; callers that overlap it use the pool as usual. The held connection goes back to the pool
    after an idle second (a timer per second, not per call), on any error, and at close, so the pool
    never loses more than one connection to it, and only while single enqueues keep arriving. Pools
    of fewer than three connections do not use it: holding one could starve the others.
    """

    IDLE_SECONDS = 1.0

    def __init__(self, pool: Pool, loop: asyncio.AbstractEventLoop) -> None:
        self._pool = pool
        self._loop = loop
        self._held: Connection | None = None
        self._used = False
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.enabled = pool.get_max_size() >= 3

    async def fetchrow(self, query: str, *args: Any) -> Record | None:
        if not self.enabled:
            return await self._pool.fetchrow(query, *args)
        conn, self._held = self._held, None
        if conn is not None and not self.usable(conn):  # the server went away while it was held
            await self._pool.release(conn)  # a no-op if the pool took it back on close
            conn = None
        if conn is None:
            conn = await self._pool.acquire()
        try:
            row: Record | None = await conn.fetchrow(query, *args)
        except BaseException:
            await self._pool.release(conn)  # the pool resets (or terminates) it
            raise
        if self._held is None and not self._closed:
            self._held, self._used = conn, True
            if self._timer is None:
                self._timer = self._loop.call_later(self.IDLE_SECONDS, self._tick)
        else:
            await self._pool.release(conn)
        return row

    @staticmethod
    def usable(conn: Connection) -> bool:
        """False once the connection closed: the pool then detaches it from its proxy itself."""
        try:
            return not conn.is_closed()
        except asyncpg.InterfaceError:
            return False

    def _tick(self) -> None:
        self._timer = None
        if self._used:
            self._used = False
            self._timer = self._loop.call_later(self.IDLE_SECONDS, self._tick)
            return
        conn, self._held = self._held, None
        if conn is not None:
            self._loop.create_task(self._pool.release(conn), name="goodjob-quick-release")

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        conn, self._held = self._held, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await self._pool.release(conn)


async def _cheap_reset(conn: Connection) -> None:
    """Replace asyncpg's per-release reset query (a round trip on every pool release).

    goodjob never leaves session state on pool connections (no LISTEN, no session locks, no SET:
    those live on dedicated connections), so only an unfinished transaction needs undoing.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def pool_options(pooler: str) -> dict[str, Any]:
    """asyncpg options for connections that go through ``pooler`` (see :class:`Database`)."""
    if pooler == "transaction":
        return {"statement_cache_size": 0, "max_cached_statement_lifetime": 0}
    return {}


async def connect(
    url: str, *, application_name: str = "goodjob", pooler: str = "none", keepalive: bool = False
) -> Connection:
    """A dedicated connection (the session connection: LISTEN and the liveness lock; the dashboard's
    LISTEN): never returned to a pool. ``keepalive`` turns on TCP keepalives, so that a connection
    whose peer vanished without a FIN is noticed in about 30 s without any keep-alive statement."""
    conn: Connection = await asyncpg.connect(
        url, server_settings={"application_name": application_name}, timeout=10, **pool_options(pooler)
    )
    if keepalive:
        _tcp_keepalive(conn)
    return conn


def _tcp_keepalive(conn: Connection, idle: int = 10, interval: int = 5, count: int = 4) -> None:
    transport = getattr(conn, "_transport", None)  # asyncpg has no public accessor for the socket
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family == socket.AF_UNIX:
        return
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)


def add_termination_listener(conn: Connection, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the server closes ``conn`` (terminated backend, restart)."""
    conn.add_termination_listener(lambda _conn: callback())


def connection_closed(conn: Connection) -> bool:
    return bool(conn.is_closed())
