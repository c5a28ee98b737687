"""The dashboard as an ASGI app: settings, its database pool, the Starlette app it builds lazily.

A :class:`Dashboard` can be mounted anywhere (``app.mount("/good_job", dashboard)``) or served on
its own. It builds its Starlette app on the first request, so that settings read from the
environment (credentials, the database URL) are those of the running process, not of import time.

Starlette does not send lifespan events to mounted apps, so a mounted dashboard cannot rely on its
own shutdown: call ``await dashboard.close()`` from the parent's lifespan. Without that, the pool
holds no connection for long anyway (idle connections close after a minute) and is terminated when
the dashboard is garbage collected or the interpreter exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from goodjob.core.config import current_config
from goodjob.core.storage.db import Connection, Database, Executor, Pool, connect
from goodjob.core.storage.embedded import resolve_database_url
from goodjob.dashboard.charts import ThroughputCache
from goodjob.dashboard.conditional import ConditionalGet
from goodjob.dashboard.errors import exception_handlers, refuse
from goodjob.dashboard.live import LiveHub, NoListen
from goodjob.dashboard.routes import routes
from goodjob.dashboard.security import AccessGate, BasicAuthMiddleware, Csrf, MountedSessions, Predicate

__all__ = ["Auth", "Dashboard"]

log = logging.getLogger("goodjob.dashboard")

#: What ``auth=`` accepts: (username, password) for basic auth; one or more Starlette middleware
#: that authenticate (and refuse) requests themselves; or a predicate on the request.
Auth = tuple[str, str] | Middleware | Sequence[Middleware] | Predicate | None

SECRET_KEY_ENV = "GOOD_JOB_DASHBOARD_SECRET_KEY"
SECURE_COOKIE_ENV = "GOOD_JOB_DASHBOARD_SECURE_COOKIE"
POOL_SIZE = 4
#: Seconds between a live page's checks for changes (a conditional GET answered 304 when nothing
#: changed); slow pages back off from it.
LIVE_INTERVAL = 5.0


class Dashboard:
    """The GoodJob dashboard. Build one with :func:`goodjob.create_dashboard`."""

    def __init__(
        self, *, database_url: str | None = None, pool: Pool | None = None, auth: Auth = None,
        read_only: bool = False, secret_key: str | None = None, allow_unauthenticated: bool = False,
        title: str = "GoodJob", middleware: Sequence[Middleware] = (), pool_size: int = POOL_SIZE,
        secure_cookie: bool = False, live_interval: float = LIVE_INTERVAL,
    ) -> None:
        if database_url is not None and pool is not None:
            raise ValueError("give create_dashboard either database_url or pool, not both")
        self.database_url = database_url
        self.read_only = read_only
        self.title = title
        self.secure_cookie = secure_cookie or os.environ.get(SECURE_COOKIE_ENV, "").lower() in ("1", "true", "yes")
        if not live_interval > 0:
            raise ValueError(f"live_interval={live_interval!r}: give the seconds between live checks (> 0)")
        self.live_interval = float(live_interval)
        self.allow_unauthenticated = allow_unauthenticated
        self._auth = auth
        self._secret_key = secret_key
        self._middleware = list(middleware)
        self._pool = pool
        self._pool_size = pool_size
        self._databases: dict[asyncio.AbstractEventLoop, Database] = {}
        self._hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = weakref.WeakKeyDictionary()
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._app: Starlette | None = None
        self.throughput = ThroughputCache()
        self.csrf: Csrf | None = None
        self._finalizer = weakref.finalize(self, _terminate, self._databases)

    # --- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or self._build()
        if scope["type"] in ("http", "websocket"):
            # Links are built from this app's own routes, below the path it is mounted at, and the
            # scope is copied so that nothing of ours (the session) leaks into the parent's.
            scope = dict(scope)
            scope.pop("router", None)
            scope["app_root_path"] = scope.get("root_path", "")
            scope["goodjob.dashboard"] = self
        await app(scope, receive, send)

    @property
    def routes(self) -> list[Any]:
        """The routes, for ``Mount`` and ``url_path_for`` in a parent app."""
        return list((self._app or self._build()).routes)

    # --- database -------------------------------------------------------------------------------

    async def executor(self) -> Executor:
        """The pool to query: the one given, or this dashboard's own, opened on first use."""
        if self._pool is not None:
            return self._pool
        return (await self._database()).pool

    async def _database(self) -> Database:
        loop = asyncio.get_running_loop()
        db = self._databases.get(loop)
        if db is not None and not db.closed:
            return db
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            db = self._databases.get(loop)
            if db is None or db.closed:
                url = self.database_url
                if url is None:
                    url = await asyncio.to_thread(_configured_database_url)
                db = await Database.open(url, min_size=0, max_size=self._pool_size,
                                         pooler=current_config().database_pooler)
                self._databases[loop] = db
            return db

    def hub(self) -> LiveHub:
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is None:
            hub = self._hubs[loop] = LiveHub(self._listen_connection)
        return hub

    async def _listen_connection(self) -> tuple[Connection, Callable[[], Awaitable[None]]]:
        if self._pool is not None:
            conn = await self._pool.acquire()
            pool = self._pool

            async def release_to_pool() -> None:
                await pool.release(conn)

            return conn, release_to_pool
        db = await self._database()
        config = current_config()
        if config.session_database_url is not None:
            url = config.session_database_url  # LISTEN needs a session: the direct connection
        elif db.transaction_pooler:
            raise NoListen
        else:
            url = db.url
        listener = await connect(url, application_name="goodjob-dashboard", keepalive=True)
        return listener, listener.close

    async def close(self) -> None:
        """End live streams and close this dashboard's pool (not a pool it was given).

        The next request opens everything again, with the settings of that moment.
        """
        loop = asyncio.get_running_loop()
        for hub_loop, hub in list(self._hubs.items()):
            if hub_loop is loop:
                await hub.close()
        self._hubs = weakref.WeakKeyDictionary()
        databases = list(self._databases.items())
        self._databases.clear()
        for db_loop, db in databases:
            if db_loop is loop:
                await db.close()
            else:
                db.pool.terminate()
        self._app = None
        self.throughput = ThroughputCache()  # the next database may be another one

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        """The lifespan of the dashboard served on its own; a parent app must call close() itself."""
        yield
        await self.close()

    # --- building -------------------------------------------------------------------------------

    def _build(self) -> Starlette:
        config = current_config()
        auth_middleware: list[Middleware] = []
        predicate: Predicate | None = None
        auth = self._auth
        secret = self._secret_key or os.environ.get(SECRET_KEY_ENV) or None
        if auth is None and config.dashboard_username and config.dashboard_password:
            auth = (config.dashboard_username, config.dashboard_password)
        if isinstance(auth, tuple) and len(auth) == 2 and all(isinstance(v, str) for v in auth):
            username, password = str(auth[0]), str(auth[1])
            auth_middleware = [Middleware(BasicAuthMiddleware, username=username, password=password)]
            # Every process with the same credentials signs sessions alike, so a multi-worker server
            # needs no extra setting; the derived key is not the password.
            secret = secret or hashlib.sha256(f"goodjob-dashboard\0{username}\0{password}".encode()).hexdigest()
        elif isinstance(auth, Middleware):
            auth_middleware = [auth]
        elif isinstance(auth, Sequence) and not isinstance(auth, str | tuple):
            auth_middleware = list(auth)
        elif callable(auth):
            predicate = auth
        elif auth is not None:
            raise TypeError(f"auth={auth!r}: expected (username, password), Starlette Middleware, or a predicate")
        if not secret:
            secret = secrets.token_hex(32)
            log.debug("goodjob dashboard: no secret_key; sessions last as long as this process")
        self.csrf = Csrf(secret)
        opened = bool(auth_middleware) or self.allow_unauthenticated
        middleware = [
            *auth_middleware,
            Middleware(AccessGate, open=opened, predicate=predicate, refuse=refuse),
            Middleware(MountedSessions, secure=self.secure_cookie, secret_key=secret,
                       session_cookie="goodjob_dashboard", max_age=14 * 24 * 3600),
            *self._middleware,
            Middleware(ConditionalGet),
        ]
        app = Starlette(routes=routes(), middleware=middleware, exception_handlers=exception_handlers(),
                        lifespan=self.lifespan)
        self._app = app
        return app


def _configured_database_url() -> str:
    """goodjob's own database (configured, or the embedded one), as the workers see it."""
    return resolve_database_url(current_config())


def _terminate(databases: dict[asyncio.AbstractEventLoop, Database]) -> None:
    for db in list(databases.values()):
        with contextlib.suppress(Exception):
            db.pool.terminate()
    databases.clear()

