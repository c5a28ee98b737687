"""Test helpers: waiting on conditions with a generous timeout instead of sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_for(
    condition: Callable[[], Awaitable[Any] | Any], *, timeout: float = 30.0, interval: float = 0.02
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with its last value on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = condition()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
        await asyncio.sleep(interval)


def wait_for_sync(condition: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
        time.sleep(interval)


async def prepared_plan(conn: Any, query: str, literals: str, explain: str = "EXPLAIN") -> str:
    """The plan a prepared statement runs once Postgres has had its five custom plans, the moment
    ``plan_cache_mode = auto`` (the default) may switch to the generic plan. ``EXPLAIN`` of a query
    with bound parameters always shows a custom plan, so this PREPAREs in SQL and EXPLAINs the
    seventh EXECUTE (``literals``: the arguments as SQL; ``explain``: e.g. ``EXPLAIN (ANALYZE)``).
    Everything the executions change is rolled back."""
    call = f"plan_check({literals})" if literals else "plan_check"
    await conn.execute(f"PREPARE plan_check AS {query}")  # outlives transactions
    transaction = conn.transaction()
    await transaction.start()
    try:
        for _ in range(6):
            await conn.execute(f"EXECUTE {call}")
        rows = await conn.fetch(f"{explain} EXECUTE {call}")
    finally:
        await transaction.rollback()
        await conn.execute("DEALLOCATE plan_check")
    return "\n".join(r[0] for r in rows)
