"""Execution statistics: the duration bins the recorder counts into and the figures read back.

The recorder adds every attempt to ``good_job_stats`` (one row per hour, queue, job class and
duration bin). Bins are quarter powers of two from 0.1 ms, so a percentile read from them is within
about 9% of the exact value (the bin's geometric middle is reported), and a week of a queue with ten
job classes is a few thousand rows however many jobs ran: the Performance page stays cheap at any
volume, and jobs whose rows are deleted when they finish (``preserve_job_records``) are counted too.
This module is pure (no database), shared by the worker that writes and the dashboard that reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["FAILURES", "WINDOWS", "Figures", "bin_of", "bin_value", "hour_of", "summarize"]

BASE_MS = 0.1
PER_DOUBLING = 4
MAX_BIN = 32 * PER_DOUBLING  # 0.1 ms x 2^32: five days
#: Outcomes that count as failures in the failure rate (handled errors and throttles do not).
FAILURES = frozenset({"retried", "discarded", "interrupted"})
#: Attempts that are not executions at all (a perform limit refused the job before it ran).
NOT_COUNTED = frozenset({"throttled"})
#: The Performance page's windows: name -> length.
WINDOWS: dict[str, timedelta] = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


def bin_of(duration_ms: float) -> int:
    if not duration_ms or duration_ms <= BASE_MS or math.isnan(duration_ms):
        return 0
    return min(MAX_BIN, int(math.log2(duration_ms / BASE_MS) * PER_DOUBLING))


def bin_value(b: int) -> float:
    """The geometric middle of bin ``b``, in milliseconds."""
    return float(BASE_MS * 2 ** ((b + 0.5) / PER_DOUBLING)) if b > 0 else BASE_MS / 2


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def day_of(at: datetime) -> datetime:
    """The UTC midnight at or before ``at``."""
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def rollup(rows: Iterable[tuple[datetime, str, str, str, float]]) -> list[tuple[Any, ...]]:
    """(finished_at, queue, class, outcome, duration_ms) per attempt -> rows to add, in key order:
    (span, hour, queue, class, bin, executions, failures, duration sum, duration max), once per hour
    (span 1) and once per day (span 24).

    The recorder rolls up every finished attempt once a second, so this runs per job: rows are
    summed per hour first (a row's hour and day are worked out again only when it leaves the
    previous row's hour) and the day rows are made from the hour sums. Done row by row, twice,
    this loop was 8% of a drain's worker CPU.
    """
    hourly: dict[tuple[datetime, datetime, str, str, int], list[float]] = {}
    hour = hour_end = day = None
    for finished_at, queue, job_class, outcome, ms in rows:
        if outcome in NOT_COUNTED:
            continue
        ms = max(float(ms or 0.0), 0.0)
        if hour is None or not (hour <= finished_at < hour_end):  # type: ignore[operator]
            hour = hour_of(finished_at)
            hour_end = hour + _HOUR
            offset = finished_at.utcoffset()
            # A whole-hour offset (UTC, as the worker writes): every time in the hour has its day.
            day = day_of(hour) if offset is not None and not offset % _HOUR else None
        key = (hour, day or day_of(finished_at), queue, job_class, bin_of(ms))
        a = hourly.get(key)
        if a is None:
            hourly[key] = [1, outcome in FAILURES, ms, ms]
        else:
            a[0] += 1
            a[1] += outcome in FAILURES
            a[2] += ms
            if ms > a[3]:
                a[3] = ms
    acc: dict[tuple[int, datetime, str, str, int], list[float]] = {}
    for (h, d, queue, job_class, b), a in hourly.items():
        # An hour can feed two days (a half-hour time zone), so hour rows merge as day rows do.
        for out in ((1, h, queue, job_class, b), (24, d, queue, job_class, b)):
            total = acc.get(out)
            if total is None:
                acc[out] = list(a)
            else:
                total[0] += a[0]
                total[1] += a[1]
                total[2] += a[2]
                total[3] = max(total[3], a[3])
    return [(*key, int(a[0]), int(a[1]), a[2], a[3]) for key, a in sorted(acc.items())]


_HOUR = timedelta(hours=1)


@dataclass
class Figures:
    """One row of the Performance page: a job class, a queue, or a queue and class."""

    name: str
    executions: int = 0
    failures: int = 0
    duration_sum: float = 0.0
    duration_max: float = 0.0
    bins: dict[int, int] = field(default_factory=dict)
    seconds: float = 1.0  # the length of the window the figures cover

    @property
    def failure_rate(self) -> float:
        return self.failures / self.executions if self.executions else 0.0

    @property
    def per_minute(self) -> float:
        return self.executions * 60 / self.seconds if self.seconds > 0 else 0.0

    @property
    def mean_ms(self) -> float | None:
        return self.duration_sum / self.executions if self.executions else None

    def percentile(self, q: float) -> float | None:
        total = sum(self.bins.values())
        if not total:
            return None
        rank = q * total
        seen = 0
        for b in sorted(self.bins):
            seen += self.bins[b]
            if seen >= rank:
                return min(bin_value(b), self.duration_max)
        return self.duration_max

    @property
    def p50(self) -> float | None:
        return self.percentile(0.5)

    @property
    def p95(self) -> float | None:
        return self.percentile(0.95)


SORTS = ("name", "executions", "failure_rate", "p50", "p95", "max", "per_minute")


def summarize(rows: Sequence[Mapping[str, Any]], key: str, seconds: float) -> dict[str, Figures]:
    """Rows of (key column, bin, executions, failures, duration_ms_sum, duration_ms_max) -> Figures."""
    out: dict[str, Figures] = {}
    for r in rows:
        name = str(r[key])
        f = out.get(name)
        if f is None:
            f = out[name] = Figures(name, seconds=seconds)
        f.executions += int(r["executions"])
        f.failures += int(r["failures"])
        f.duration_sum += float(r["duration_ms_sum"])
        f.duration_max = max(f.duration_max, float(r["duration_ms_max"]))
        f.bins[int(r["bin"])] = f.bins.get(int(r["bin"]), 0) + int(r["executions"])
    return out


def sort_figures(figures: Iterable[Figures], by: str, descending: bool) -> list[Figures]:
    def value(f: Figures) -> Any:
        if by == "name":
            return f.name
        if by == "max":
            return f.duration_max
        v = getattr(f, by)
        return -1.0 if v is None else v
    return sorted(figures, key=value, reverse=descending)
