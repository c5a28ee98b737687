"""The job API's room (``goodjob.jobs`` is its public face): records, reads, actions.

It reads and acts through ``core.admin`` and ``core.storage`` only, so the dashboard (which never
imports the worker or the runtime) can call it with its own pool. Callers that give no database get
the runtime's, through :func:`register`: the runtime registers itself here at import, as it does
with ``core.notices``, so that nothing here imports it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from goodjob.core.storage.db import Executor

T = TypeVar("T")

_database: Callable[[], Awaitable[Executor]] | None = None
_run_sync: Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any] | None = None


def register(
    database: Callable[[], Awaitable[Executor]],
    run_sync: Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any],
) -> None:
    """The runtime's default pool and its sync bridge (called once, by core/runtime.py)."""
    global _database, _run_sync
    _database, _run_sync = database, run_sync


async def executor(given: Executor | None) -> Executor:
    """``given``, or the runtime's pool for the running loop."""
    if given is not None:
        return given
    if _database is None:  # pragma: no cover - goodjob/__init__ imports the runtime
        raise RuntimeError("goodjob's runtime is not loaded: import goodjob, or pass database=")
    return await _database()


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    if _run_sync is None:  # pragma: no cover
        raise RuntimeError("goodjob's runtime is not loaded: import goodjob first")
    result: T = _run_sync(factory)
    return result
