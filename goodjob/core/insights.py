"""Operator reads that stay cheap at any size: execution statistics by window (the Performance
page), the change digest live pages poll, planner estimates where exact counts would be scans, and
the cron entries the workers publish. The dashboard and the CLI read through here (and core.admin).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from goodjob.core import stats
from goodjob.core.errors import ConfigurationError
from goodjob.core.features import cron
from goodjob.core.stats import Figures
from goodjob.core.storage import store_stats
from goodjob.core.storage.db import Executor

__all__ = ["Performance", "PublishedCron", "digest", "filter_choices", "performance", "published_cron"]

#: Below this many rows (planner estimate) the queue and class dropdowns count exactly.
EXACT_GROUPS_BELOW = 50_000


@dataclass
class Performance:
    window: str
    since: datetime  # the start of the oldest hour counted: windows are whole hours
    seconds: float
    by_class: list[Figures]
    by_queue: list[Figures]
    total: Figures
    hourly: list[tuple[datetime, int, int]]  # (hour or day, executions, failures): the chart
    span: int = 1  # hours per chart slot


async def performance(ex: Executor, window: str = "24h", *, now: datetime | None = None,
                      sort: str = "executions", descending: bool = True) -> Performance:
    """Executions, failure rate, p50/p95/max duration and throughput per job class and per queue."""
    if window not in stats.WINDOWS:
        raise ValueError(f"unknown window {window!r}; expected one of {', '.join(stats.WINDOWS)}")
    if sort not in stats.SORTS:
        raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(stats.SORTS)}")
    now = now or datetime.now(UTC)
    since = stats.hour_of(now - stats.WINDOWS[window])
    seconds = max((now - since).total_seconds(), 1.0)
    rows = await _window_rows(ex, since, now)
    by_class = stats.summarize(rows, "job_class", seconds)
    by_queue = stats.summarize(rows, "queue_name", seconds)
    total = stats.summarize([dict(r, all="all") for r in rows], "all", seconds).get("all")
    total = total or Figures("all", seconds=seconds)
    span = 24 if window == "7d" else 1
    series = await store_stats.stats_series(ex, stats.day_of(since) if span == 24 else since, span)
    found = {r["hour"]: (int(r["executions"]), int(r["failures"])) for r in series}
    slot, step = (stats.day_of(since), timedelta(days=1)) if span == 24 else (since, timedelta(hours=1))
    hourly = []
    while slot <= now:  # every slot of the window, empty ones too, so the chart's axis is time
        hourly.append((slot, *found.get(slot, (0, 0))))
        slot += step
    return Performance(window, since, seconds, stats.sort_figures(by_class.values(), sort, descending),
                       stats.sort_figures(by_queue.values(), sort, descending), total, hourly, span)


async def _window_rows(ex: Executor, since: datetime, now: datetime) -> list[Any]:
    """Statistics rows from hour ``since`` to now: whole days from day rows, the ends from hours."""
    first_day = stats.day_of(since)
    if first_day < since:
        first_day += timedelta(days=1)
    return await store_stats.stats_by_queue_class(ex, since, first_day, stats.day_of(now))


async def queue_figures(ex: Executor, *, now: datetime | None = None) -> dict[str, Figures]:
    """Per queue over the last hour (whole hours): throughput and failure rate for the Queues page."""
    now = now or datetime.now(UTC)
    since = stats.hour_of(now - stats.WINDOWS["1h"])
    return stats.summarize(await _window_rows(ex, since, now), "queue_name",
                           max((now - since).total_seconds(), 1.0))


async def digest(ex: Executor, *, processes: bool = False, now: datetime | None = None) -> str:
    """A string that changes whenever a row of goodjob's tables does (see sql/stats.sql)."""
    raw = await store_stats.dashboard_digest(ex, processes, now or datetime.now(UTC))
    return hashlib.sha256(raw.encode()).hexdigest()[:20]  # short, and says nothing about the rows


@dataclass(frozen=True)
class Choice:
    value: str
    n: int | None
    estimated: bool


async def filter_choices(ex: Executor, column: str, *, extra: Sequence[str] = ()) -> list[Choice]:
    """Every queue (``queue_name``) or job class (``job_class``) with its number of jobs: exact on a
    small table, the planner's most-common-values estimate on a large one (marked estimated)."""
    if column not in ("queue_name", "job_class"):
        raise ValueError(f"column {column!r}: expected queue_name or job_class")
    if await store_stats.dashboard_table_estimate(ex) < EXACT_GROUPS_BELOW:
        counts, estimated = await store_stats.dashboard_group_counts(ex, column), False
    else:
        counts, estimated = await store_stats.dashboard_estimate_column(ex, column), True
    names = sorted(set(counts) | set(extra))
    return [Choice(name, counts.get(name, None if estimated else 0), estimated) for name in names]


async def known_job_classes(ex: Executor, *, now: datetime | None = None) -> set[str]:
    """Job classes that ran within the statistics' week, or that the planner has seen in good_jobs."""
    now = now or datetime.now(UTC)
    ran = await store_stats.stats_job_classes(ex, stats.day_of(now - stats.WINDOWS["7d"]))
    seen = await store_stats.dashboard_estimate_column(ex, "job_class")
    return set(ran) | set(seen)


@dataclass
class PublishedCron:
    """The cron entries the running workers schedule (or this process's own configuration)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    source: str = "workers"  # "workers" | "configuration" | "none"
    problem: str | None = None


async def published_cron(ex: Executor, own: list[cron.CronEntry] | None, *, now: datetime | None = None,
                         history: int = 5) -> PublishedCron:
    """Entries published by live cron processes (by key; the first process's wins), else ``own``;
    each with its enabled flag, next run and its latest ``history`` jobs."""
    now = now or datetime.now(UTC)
    found: dict[str, tuple[cron.CronEntry, list[str], list[str]]] = {}
    problem = None
    for row in await store_stats.dashboard_published_cron(ex):
        try:
            for entry, dynamic in cron.published_entries(row["cron"]):
                item = found.setdefault(entry.key, (entry, dynamic, []))
                item[2].append(f"{row['hostname']}:{row['pid']}")
        except (ValueError, KeyError, TypeError, ConfigurationError) as err:
            problem = f"process {row['hostname']} pid {row['pid']} published cron entries that cannot be read: {err}"
    source = "workers"
    if not found and own:
        found = {e.key: (e, [], []) for e in own}
        source = "configuration"
    elif not found:
        source = "none"
    entries = [e for e, _, _ in found.values()]
    rows = await cron.status(ex, entries, now=now) if entries else []
    runs: dict[str, list[Any]] = {}
    if entries:
        for r in await store_stats.dashboard_cron_history(ex, [e.key for e in entries], history):
            runs.setdefault(r["key"], []).append(dict(r))
    for row_, (entry, dynamic, processes) in zip(rows, found.values(), strict=True):
        args = entry.args if not callable(entry.args) else ()
        kwargs = entry.kwargs if not callable(entry.kwargs) and entry.kwargs else {}
        row_.update(args=list(args), kwargs=dict(kwargs), dynamic=dynamic, processes=processes,
                    set_options=entry.set_options if not callable(entry.set_options) else None,
                    runs=runs.get(entry.key, []), entry=entry)
    return PublishedCron(rows, source, problem)


@dataclass(frozen=True)
class Size:
    """A number of jobs shown to an operator: exact, or the planner's estimate (``estimated``)."""

    n: int | None
    estimated: bool = False


async def tab_sizes(ex: Executor, f: Any, counts: dict[str, Any], *, now: datetime | None = None) -> dict[str, Size]:
    """Each tab's size under filter ``f``: its exact count (core.admin.count_tabs) where it is below the
    cap, else the planner's estimate for the tab and filter (an EXPLAIN: nothing is read), never
    smaller than the cap it passed. "all" is the sum."""
    now = now or datetime.now(UTC)
    out: dict[str, Size] = {}
    for tab, count in counts.items():
        if tab == "all":
            continue
        if count.n is not None and not count.capped:
            out[tab] = Size(count.n)
        else:
            guess = await store_stats.dashboard_tab_rows_estimate(ex, tab, now, f.params())
            out[tab] = Size(max(guess, count.n or 0), estimated=True)
    parts = list(out.values())
    out["all"] = Size(sum(p.n or 0 for p in parts), estimated=any(p.estimated for p in parts))
    return out


async def exact_count(ex: Executor, f: Any, *, created_before: datetime | None = None,
                      now: datetime | None = None) -> int:
    """How many jobs a bulk action on ``f`` will touch (counted, however long it takes)."""
    return await store_stats.dashboard_exact_count(ex, f.state, now or datetime.now(UTC), f.params(), created_before)


async def settle_queue_sizes(ex: Executor, queues: list[dict[str, Any]], cap: int, *,
                             now: datetime | None = None) -> None:
    """Queues whose waiting or scheduled count reached ``cap``: the planner's estimate instead, marked
    (``waiting_estimated`` / ``scheduled_estimated``), never below the cap."""
    now = now or datetime.now(UTC)
    empty: dict[str, Any] = {"job_class": None, "search_id": None, "pattern": None, "label": None,
                             "cron_key": None, "batch_id": None, "process_id": None}
    for q in queues:
        filters = {**empty, "queue": q["name"]}
        q["waiting_estimated"] = q["scheduled_estimated"] = False
        if q["waiting"] >= cap:
            due = await store_stats.dashboard_tab_rows_estimate(ex, "queued", now, filters)
            q["waiting"], q["waiting_estimated"] = max(due, q["waiting"]), True
        if q["scheduled"] >= cap:
            later = await store_stats.dashboard_tab_rows_estimate(ex, "scheduled", now, filters)
            q["scheduled"], q["scheduled_estimated"] = max(later, q["scheduled"]), True
        q["capped"] = False


async def batch_labels(ex: Executor, records: Sequence[Any], *, now: datetime | None = None) -> dict[Any, str]:
    """Each batch's status for people: a running batch whose unfinished jobs are all scheduled for
    later is "scheduled", not "running"."""
    running = [b.id for b in records if b.status == "running"]
    due = await store_stats.dashboard_batches_due(ex, running, now or datetime.now(UTC)) if running else set()
    return {b.id: ("scheduled" if b.status == "running" and b.id not in due else b.status) for b in records}
