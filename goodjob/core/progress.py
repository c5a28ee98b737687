"""Progress of long operator work (cleanup of millions of rows, bulk actions on every matching job).

A :class:`Meter` is told the running total after each batch. On a terminal it redraws one status
line (rows done, rate); elsewhere (a pipe, a log file, the dashboard's server) it logs a line at most
every ``interval`` seconds, so a long run shows it is alive without flooding a log. ``summary()``
is the closing line's tail: rows, elapsed time, rate.
"""

from __future__ import annotations

import logging
import time
from typing import TextIO

__all__ = ["Meter"]


class Meter:
    def __init__(
        self, what: str, *, unit: str = "rows", stream: TextIO | None = None,
        log: logging.Logger | None = None, interval: float = 2.0,
    ) -> None:
        self.what, self.unit, self.stream, self.log, self.interval = what, unit, stream, log, interval
        self.tty = bool(stream is not None and stream.isatty())
        self.began = time.monotonic()
        self._last = 0.0 if self.tty else self.began  # on a terminal the first batch shows at once
        self._drawn = False
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.tty and self.stream is not None:
            if now - self._last >= 0.2:
                self._last = now
                self.stream.write(f"\r\033[Kgoodjob: {self.what}: {self.status()}")
                self.stream.flush()
                self._drawn = True
        elif self.log is not None and now - self._last >= self.interval:
            self._last = now
            self.log.info("%s: %s so far", self.what, self.status())

    def status(self) -> str:
        """``12,000 rows deleted (8,000/s)``."""
        return f"{self.done:,} {self.unit} ({self.rate():,.0f}/s)"

    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.began, 1e-6)

    def summary(self) -> str:
        """``in 0.8s, 1,500/s``; on a terminal, also clears the status line."""
        if self._drawn and self.stream is not None:
            self.stream.write("\r\033[K")
            self.stream.flush()
        return f"in {time.monotonic() - self.began:.1f}s, {self.rate():,.0f}/s"
