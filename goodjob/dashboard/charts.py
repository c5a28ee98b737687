"""The overview's throughput charts: executions finished per minute, by outcome, drawn server-side as
inline SVG (no JavaScript library, no CDN; it works with scripts off and under a strict CSP).

Counting a day of executions reads an index of up to one entry per execution, so minutes that can no
longer change are cached in the process: after the first page view only the last few minutes are
counted again.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

from goodjob.core import admin
from goodjob.core.storage.db import Executor

__all__ = ["SERIES", "Chart", "ThroughputCache", "render_svg"]

#: Chart series and the execution outcomes each one sums.
SERIES: dict[str, tuple[str, ...]] = {
    "succeeded": ("succeeded", "handled"),
    "retried": ("retried", "interrupted"),
    "discarded": ("discarded",),
}
_SERIES_OF = {outcome: name for name, outcomes in SERIES.items() for outcome in outcomes}
_DAY_MINUTES = 24 * 60
# A minute is final this long after it ended (results are written in batches, a little late).
_SETTLE = timedelta(minutes=2)


@dataclass(frozen=True)
class Chart:
    title: str
    slot_minutes: int
    starts: list[datetime]  # the start of each slot, oldest first
    values: list[dict[str, float]]  # per slot: series -> jobs per minute
    totals: dict[str, int]  # per series: executions in the whole range


class ThroughputCache:
    """Per-minute execution counts for the last 24 hours; settled minutes are counted once."""

    def __init__(self) -> None:
        self._minutes: dict[int, collections.Counter[str]] = {}
        self._settled_until: int | None = None  # minute number up to which the cache is complete
        self._lock = asyncio.Lock()

    async def minutes(self, ex: Executor, now: datetime) -> dict[int, collections.Counter[str]]:
        """Minute number (since the epoch) -> series -> count, for the 1440 minutes up to now."""
        current = _minute(now)
        first = current - _DAY_MINUTES + 1
        settled = _minute(now - _SETTLE)
        async with self._lock:
            start = first if self._settled_until is None else max(first, self._settled_until)
            since = _at(start)
            fresh: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
            for slot, outcome, n in await admin.throughput(ex, since, now + timedelta(seconds=1), 60.0):
                series = _SERIES_OF.get(outcome)
                if series is not None:
                    fresh[start + slot][series] += n
            for minute in [m for m in self._minutes if m < first or m >= start]:
                del self._minutes[minute]
            for minute, counts in fresh.items():
                if minute < settled:
                    self._minutes[minute] = counts
            self._settled_until = max(start, settled)
            merged = dict(self._minutes)
            merged.update({m: c for m, c in fresh.items() if m >= settled})
            return merged

    async def charts(self, ex: Executor, now: datetime | None = None) -> tuple[Chart, Chart]:
        """The last hour per minute, and the last 24 hours per 15 minutes."""
        now = now or datetime.now(UTC)
        minutes = await self.minutes(ex, now)
        return (_chart("Last hour", minutes, now, 60, 1), _chart("Last 24 hours", minutes, now, 96, 15))


def _chart(title: str, minutes: dict[int, collections.Counter[str]], now: datetime, slots: int, size: int) -> Chart:
    last = _minute(now)
    first = last - slots * size + 1
    starts, values = [], []
    totals: collections.Counter[str] = collections.Counter()
    for i in range(slots):
        slot_first = first + i * size
        summed: collections.Counter[str] = collections.Counter()
        for minute in range(slot_first, slot_first + size):
            summed.update(minutes.get(minute, {}))
        totals.update(summed)
        starts.append(_at(slot_first))
        values.append({name: summed[name] / size for name in SERIES})
    return Chart(title, size, starts, values, {name: totals[name] for name in SERIES})


def render_svg(chart: Chart, *, width: int = 720, height: int = 180) -> Markup:
    """A stacked bar chart: one bar per slot, a <title> tooltip on each, axis labels in UTC."""
    left, bottom, top = 44, 22, 8
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max((sum(v.values()) for v in chart.values), default=0.0)
    scale_max = _nice_ceiling(peak)
    bar_w = plot_w / max(len(chart.values), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(chart.title)}: jobs finished per minute by outcome">',
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}"/>',
    ]
    for frac in (0.5, 1.0):
        y = top + plot_h - plot_h * frac
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{_fmt(scale_max * frac)}</text>")
    for i, (start, value) in enumerate(zip(chart.starts, chart.values, strict=True)):
        x = left + i * bar_w
        y = top + plot_h
        label = f"{start:%H:%M} UTC: " + ", ".join(f"{_fmt(v)}/min {k}" for k, v in value.items())
        parts.append(f'<g><title>{escape(label)}</title>')
        parts.append(f'<rect class="hover" x="{x:.1f}" y="{top}" width="{bar_w:.1f}" height="{plot_h}"/>')
        for name in SERIES:
            h = plot_h * value[name] / scale_max if scale_max else 0
            if h > 0:
                y -= h
                parts.append(f'<rect class="s-{name}" x="{x + 0.5:.1f}" y="{y:.1f}" '
                             f'width="{max(bar_w - 1, 0.5):.1f}" height="{h:.1f}"/>')
        parts.append("</g>")
    for i in (0, len(chart.starts) // 2, len(chart.starts) - 1):
        if 0 <= i < len(chart.starts):
            x = left + i * bar_w + bar_w / 2
            anchor = "start" if i == 0 else "end" if i == len(chart.starts) - 1 else "middle"
            parts.append(f'<text class="tick" x="{x:.1f}" y="{height - 6}" text-anchor="{anchor}">'
                         f"{chart.starts[i]:%H:%M}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _minute(at: datetime) -> int:
    return int(at.timestamp() // 60)


def _at(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^n at or above ``value`` (an axis maximum people can read)."""
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 100 if value >= 1 else 0.01
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def _fmt(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.1f}"
