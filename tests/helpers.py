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
