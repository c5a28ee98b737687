"""Database access: the only module that imports asyncpg.

A :class:`Database` is an asyncpg pool bound to the event loop that created it. The sync API and
the async modes run on different loops, so the runtime keeps one Database per loop rather than
sharing a pool across loops (asyncpg pools must not be shared between loops).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeAlias

import asyncpg

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


def is_connection_error(exc: BaseException) -> bool:
    """True for errors that mean "the server or the network went away", which callers retry."""
    return isinstance(exc, CONNECTION_ERRORS)


def is_connection(obj: object) -> bool:
    """True if obj is an asyncpg connection (a caller passing its own transaction)."""
    return isinstance(obj, asyncpg.Connection)


class Database:
    """A small wrapper around an asyncpg pool that remembers its URL and loop."""

    def __init__(self, url: str, pool: Pool, loop: asyncio.AbstractEventLoop) -> None:
        self.url = url
        self.pool = pool
        self.loop = loop

    @classmethod
    async def open(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> Database:
        pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            max_inactive_connection_lifetime=60.0,
            server_settings={"application_name": "goodjob"},
            reset=_cheap_reset,
        )
        assert pool is not None
        return cls(url, pool, asyncio.get_running_loop())

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pool.close(), timeout=5)
        self.pool.terminate()

    @property
    def closed(self) -> bool:
        return bool(self.pool._closed)  # asyncpg exposes no public flag


async def _cheap_reset(conn: Connection) -> None:
    """Replace asyncpg's per-release reset query (a round trip on every pool release).

    goodjob never leaves session state on pool connections (no LISTEN, no session locks, no SET:
    those live on dedicated connections), so only an unfinished transaction needs undoing.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def connect(url: str, *, application_name: str = "goodjob") -> Connection:
    """A dedicated connection (LISTEN, the liveness lock): never returned to a pool."""
    conn: Connection = await asyncpg.connect(
        url, server_settings={"application_name": application_name}, timeout=10
    )
    return conn


def add_termination_listener(conn: Connection, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the server closes ``conn`` (terminated backend, restart)."""
    conn.add_termination_listener(lambda _conn: callback())


def connection_closed(conn: Connection) -> bool:
    return bool(conn.is_closed())
