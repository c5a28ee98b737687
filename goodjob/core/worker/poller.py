"""A timer that calls back every ``poll_interval`` seconds: the safety net behind LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class Poller:
    def __init__(self, interval: float, callback: Callable[[], None]) -> None:
        self.interval = interval
        self._callback = callback
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="goodjob-poller")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self._callback()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
