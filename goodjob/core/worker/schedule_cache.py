"""The scheduled-time cache: wake a pool when a future job's time comes, not at the next poll.

At most ``max_entries`` entries (the earliest), sorted by time; one event-loop timer for the
earliest. An entry leaves the cache only once its time has passed by ``CACHE_MARGIN``, so the claim
that follows (its `now` is read later still) finds the job due. Popping entries a fraction of a
millisecond early lost them: the claim found nothing yet and nothing woke the pool again. The margin
also covers `at` arriving as a float (epoch seconds, sub-microsecond rounding) against the claim's
microsecond timestamps.

An entry is *shared* when every worker caches it (it came from a NOTIFY or the warm-up read), so
wake-up routing may choose another worker to answer it; otherwise (a retry only this process wrote)
this process claims it itself.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable

CACHE_MARGIN = 0.001  # seconds past an entry's time before the scheduled-time cache routes it


class ScheduledCache:
    def __init__(self, max_entries: int, on_due: Callable[[float, str, bool], None]) -> None:
        self.max_entries = max_entries
        self._on_due = on_due  # (at, queue, shared)
        self._entries: list[tuple[float, str, bool]] = []  # (epoch seconds, queue, shared), sorted
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, at: float, queue: str, shared: bool) -> None:
        if self.max_entries <= 0:
            return
        entry = (at, queue, shared)
        if len(self._entries) >= self.max_entries and entry >= self._entries[-1]:
            return  # later than everything cached: the poller will find it
        index = bisect.bisect_left(self._entries, entry)
        if index < len(self._entries) and self._entries[index] == entry:
            return  # already cached (a re-warm after a reconnect)
        self._entries.insert(index, entry)
        if len(self._entries) > self.max_entries:
            self._entries.pop()
        if self._entries[0] == entry:
            self._arm()

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._entries or self._closed:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._entries[0][0] + CACHE_MARGIN - time.time())
        self._timer = loop.call_at(loop.time() + delay, self._fire)

    def _fire(self) -> None:
        """Route the entries that are due; the rest stay cached and re-arm the timer."""
        self._timer = None
        now = time.time()
        while self._entries and self._entries[0][0] + CACHE_MARGIN <= now:
            at, queue, shared = self._entries.pop(0)
            self._on_due(at, queue, shared)
        self._arm()
