"""Prometheus metrics (``pip install 'goodjob-pg[metrics]'``, which brings prometheus-client).

* ``goodjob.metrics``: an ASGI app with the cluster's gauges (jobs by queue and state, the oldest
  due job's age per queue, processes), read with one bounded query per scrape. Mount it next to the
  dashboard: ``Mount("/metrics", goodjob.metrics)``; ``create_metrics_app(database_url=..., pool=...,
  cap=...)`` builds another.
* Per process (finished jobs, durations, claim latency, busy slots): ``goodjob start --probe-port``
  serves them on ``/metrics`` (see process.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import types
from typing import Any

from goodjob.core.config import current_config
from goodjob.core.storage.db import Database, Executor, Pool
from goodjob.core.storage.embedded import resolve_database_url

try:
    from goodjob.metrics import cluster
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("goodjob.metrics needs prometheus-client: pip install 'goodjob-pg[metrics]'") from exc

__all__ = ["MetricsApp", "close", "create_metrics_app", "default"]

Scope = dict[str, Any]


class MetricsApp:
    """A plain ASGI app: any GET answers the Prometheus text format of the cluster gauges."""

    def __init__(self, *, database_url: str | None = None, pool: Pool | None = None, cap: int = cluster.CAP) -> None:
        if database_url is not None and pool is not None:
            raise ValueError("give create_metrics_app either database_url or pool, not both")
        self.database_url = database_url
        self.cap = cap
        self._pool = pool
        self._databases: dict[asyncio.AbstractEventLoop, Database] = {}

    async def executor(self) -> Executor:
        if self._pool is not None:
            return self._pool
        loop = asyncio.get_running_loop()
        db = self._databases.get(loop)
        if db is None or db.closed:
            url = self.database_url
            if url is None:
                url = await asyncio.to_thread(lambda: resolve_database_url(current_config()))
            db = self._databases[loop] = await Database.open(url, min_size=0, max_size=2)
        return db.pool

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await self.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await _respond(send, 405, b"use GET\n", "text/plain")
            return
        body = await cluster.render(await self.executor(), cap=self.cap)
        await _respond(send, 200, b"" if scope["method"] == "HEAD" else body,
                       "text/plain; version=0.0.4; charset=utf-8")

    async def close(self) -> None:
        """Close this app's own pool (not one it was given); the next scrape opens it again."""
        loop = asyncio.get_running_loop()
        for db_loop, db in list(self._databases.items()):
            if db_loop is loop:
                with contextlib.suppress(Exception):
                    await db.close()
            else:
                db.pool.terminate()
        self._databases.clear()


async def _respond(send: Any, status: int, body: bytes, content_type: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_metrics_app(
    *, database_url: str | None = None, pool: Pool | None = None, cap: int = cluster.CAP
) -> MetricsApp:
    """A metrics app on its own database URL or an existing asyncpg pool (default: goodjob's)."""
    return MetricsApp(database_url=database_url, pool=pool, cap=cap)


#: The ready-made app behind ``goodjob.metrics``.
default = MetricsApp()


async def close() -> None:
    """Close the ready-made app's pool (from your app's shutdown)."""
    await default.close()


class _CallableModule(types.ModuleType):
    """Lets ``Mount("/metrics", goodjob.metrics)`` mount this module as an ASGI app (a module cannot be
    renamed away from its package, so it is made callable, as goodjob.dashboard is)."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await default(scope, receive, send)


sys.modules[__name__].__class__ = _CallableModule


def __getattr__(name: str) -> Any:
    # `goodjob.metrics` resolves through goodjob.__getattr__ to this attribute: the module itself.
    if name == "metrics":
        return sys.modules[__name__]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
