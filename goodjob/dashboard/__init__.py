"""The GoodJob dashboard: a Starlette app to watch and operate the queue, mountable at any path.

    app.mount("/good_job", goodjob.dashboard)                  # settings from GOOD_JOB_* variables
    app.mount("/good_job", goodjob.create_dashboard(auth=("admin", "secret"), read_only=True))

``goodjob.dashboard`` is this module, and the module itself is the ready-made ASGI app (a module
cannot be renamed away from its package, so it is made callable): it serves :data:`default`, a
:class:`Dashboard` built from goodjob's configuration on the first request. Close it from your app's
lifespan with ``await goodjob.dashboard.close()`` (mounted apps get no lifespan events of their own).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from typing import Any

from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from goodjob.core.storage.db import Pool
from goodjob.dashboard.app import Auth, Dashboard
from goodjob.dashboard.security import BasicAuthMiddleware

__all__ = ["Auth", "BasicAuthMiddleware", "Dashboard", "close", "create_dashboard", "dashboard", "default"]


def create_dashboard(
    database_url: str | None = None,
    pool: Pool | None = None,
    auth: Auth = None,
    read_only: bool = False,
    secret_key: str | None = None,
    allow_unauthenticated: bool = False,
    title: str = "GoodJob",
    middleware: Sequence[Middleware] = (),
    secure_cookie: bool = False,
    live_interval: float = 5.0,
) -> Dashboard:
    """A dashboard with explicit settings.

    ``database_url`` or ``pool`` (an asyncpg pool the dashboard borrows and never closes) choose the
    database; by default it is goodjob's configured one. ``auth`` is ``(username, password)`` for basic
    auth, Starlette middleware that authenticates requests, or a predicate ``request -> bool`` (async
    allowed); without it the credentials come from GOOD_JOB_DASHBOARD_USERNAME and
    GOOD_JOB_DASHBOARD_PASSWORD, and without those every request gets 403, unless
    ``allow_unauthenticated`` (local development only). ``read_only`` hides and refuses every action.
    ``secret_key`` signs the session cookie and CSRF tokens (default: GOOD_JOB_DASHBOARD_SECRET_KEY,
    else derived from the basic-auth credentials, else random per process). ``middleware`` is wrapped
    around the pages, inside authentication. ``secure_cookie`` marks the session cookie Secure (serve
    the dashboard over HTTPS only then); the cookie's Path is always the mount path. ``live_interval``
    is the seconds between a live page's checks for changes (each a conditional GET, 304 when nothing
    changed).
    """
    return Dashboard(database_url=database_url, pool=pool, auth=auth, read_only=read_only,
                     secret_key=secret_key, allow_unauthenticated=allow_unauthenticated, title=title,
                     middleware=middleware, secure_cookie=secure_cookie, live_interval=live_interval)


#: The ready-made dashboard behind ``goodjob.dashboard``.
default = Dashboard()


async def close() -> None:
    """Close the ready-made dashboard's pool and live streams (from your app's shutdown)."""
    await default.close()


class _CallableModule(types.ModuleType):
    """Lets ``app.mount("/good_job", goodjob.dashboard)`` mount this module as an ASGI app."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await default(scope, receive, send)

    @property
    def routes(self) -> list[Any]:
        return default.routes


sys.modules[__name__].__class__ = _CallableModule


def __getattr__(name: str) -> Any:
    # `goodjob.dashboard` resolves through goodjob.__getattr__ to this attribute: the module itself,
    # so that the name means the same object however it was first reached.
    if name == "dashboard":
        return sys.modules[__name__]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
