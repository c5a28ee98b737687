"""The dashboard's page-shaped reads: the job list's tabs and keyset pages, capped counts, queues,
processes, throughput. ``goodjob.jobs`` (core/operations/) builds find() and count() on the same
list and count queries, and holds every job action."""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from goodjob.core.errors import QueueStringError
from goodjob.core.queues import parse_queues
from goodjob.core.storage import store, store_dashboard
from goodjob.core.storage.db import Connection, Executor, Pool, PostgresError, is_connection

# --- dashboard: reads ---------------------------------------------------------------------------

#: The job list's tabs. Every job is in exactly one of the six state tabs (see sql/dashboard.sql).
TABS: tuple[str, ...] = ("all", "scheduled", "queued", "running", "retried", "succeeded", "discarded")
#: Counts are exact up to this many rows, then shown as "10,000+": a capped count is an index-only
#: scan of at most this many entries, whatever the table size.
COUNT_CAP = 10_000
#: A single statement may not run longer than this (a search is a scan; see JobFilter).
READ_TIMEOUT_MS = 5_000
#: A text search reads at most this many jobs of a tab per page (the dashboard's bound; see list_jobs).
SEARCH_WINDOW = 20_000
#: Counts under a class filter or a search have no index to use; all of them together get this long.
FILTERED_COUNT_BUDGET_MS = 50
_QUERY_CANCELED = "57014"


def job_status(state: str, scheduled_at: datetime, error: str | None, now: datetime) -> str:
    """The tab a job belongs to: its state, with queued split into scheduled, queued and retried."""
    if state != "queued":
        return state
    if error is not None:
        return "retried"
    return "scheduled" if scheduled_at > now else "queued"


@dataclass(frozen=True)
class JobFilter:
    """What the job list shows: a tab, optional exact queue and class, and a search term.

    A search term that is a UUID finds that job by id (an index lookup). Any other term matches,
    case-insensitively, a substring of the arguments' JSON, the error text or the id: that is a scan
    of the tab in list order, so it stops when a page is full but may read every row of the tab when
    nothing matches; ``READ_TIMEOUT_MS`` bounds it.
    """

    state: str = "all"
    queue: str | None = None
    job_class: str | None = None
    search: str | None = None
    label: str | None = None
    cron_key: str | None = None
    batch_id: UUID | None = None
    process_id: UUID | None = None  # running jobs of one process
    order: str | None = None  # "asc" / "desc"; None: the tab's natural order

    def __post_init__(self) -> None:
        if self.state not in TABS:
            raise ValueError(f"unknown job state {self.state!r}; expected one of {', '.join(TABS)}")
        if self.order not in (None, "asc", "desc"):
            raise ValueError(f"unknown order {self.order!r}; expected asc or desc")

    @property
    def ascending(self) -> bool:
        """Scheduled jobs list next-to-run first; every other tab newest first (unless ``order``)."""
        if self.order is not None:
            return self.order == "asc"
        return self.state == "scheduled"

    @property
    def filtered(self) -> bool:
        """Anything narrower than a whole tab (such lists are never refreshed by themselves)."""
        return any(v is not None for v in (self.queue, self.job_class, self.search, self.label, self.cron_key,
                                            self.batch_id, self.process_id))

    @property
    def search_id(self) -> UUID | None:
        try:
            return UUID(self.search) if self.search else None
        except ValueError:
            return None

    @property
    def search_pattern(self) -> str | None:
        if not self.search or self.search_id is not None:
            return None
        escaped = self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"

    def params(self) -> dict[str, Any]:
        return {"queue": self.queue, "job_class": self.job_class, "search_id": self.search_id,
                "pattern": self.search_pattern, "label": self.label, "cron_key": self.cron_key,
                "batch_id": self.batch_id, "process_id": self.process_id}


@dataclass(frozen=True)
class Cursor:
    """A keyset position in a tab: the sort time and id of a row (exclusive bound)."""

    at: datetime
    id: UUID


@dataclass(frozen=True)
class JobPage:
    jobs: list[dict[str, Any]]
    next: Cursor | None  # more rows follow the last one, in list order
    prev: Cursor | None  # rows precede the first one
    searched: int = 0  # a text search stopped after this many jobs of the tab (0: it read them all)


@dataclass(frozen=True)
class Count:
    n: int | None  # None: the count timed out (a search over a huge tab)
    capped: bool = False


@contextlib.asynccontextmanager
async def reading(ex: Executor, timeout_ms: int = READ_TIMEOUT_MS) -> AsyncIterator[Connection]:
    """A read-only transaction set up for the dashboard's queries (custom plans, a time limit)."""
    async with connection(ex) as conn, conn.transaction(readonly=True):
        await store_dashboard.dashboard_read_session(conn, timeout_ms)
        yield conn


async def list_jobs(
    conn: Connection, f: JobFilter, *, after: Cursor | None = None, before: Cursor | None = None,
    limit: int = 50, now: datetime | None = None, created_before: datetime | None = None,
    search_window: int = 0,
) -> JobPage:
    """One page of ``f`` in list order, after ``after`` or before ``before`` (keyset pagination).
    ``search_window``: a text search reads at most that many jobs of the tab (0: no bound)."""
    now = now or datetime.now(UTC)
    backwards = before is not None
    cursor = before if before is not None else after
    ascending = f.ascending != backwards
    common = dict(tab=f.state, now=now, **f.params(), after=(cursor.at, cursor.id) if cursor else None,
                  created_before=created_before, ascending=ascending)
    stop: tuple[datetime, UUID] | None = None
    searching = f.search_pattern is not None
    if searching:
        # A text search reads the tab in list order and tests every row until the page is full; the
        # planner, guessing that ILIKE matches rarely, would rather read and sort the whole tab.
        await store_dashboard.dashboard_search_plans(conn, True)
        # Bound it to the next ``search_window`` rows of the tab (the "all" tab: of all four states
        # together), found from index entries alone, so a term that matches nothing answers quickly;
        # the page's "next" link continues from the bound. Unbounded, the first SEARCH_WINDOW rows
        # are read that way all the same (a common term fills the page there).
        stop = await store_dashboard.dashboard_search_bound(
            conn, tab=f.state, now=now, queue=f.queue, job_class=f.job_class, label=f.label, cron_key=f.cron_key,
            batch_id=f.batch_id, process_id=f.process_id, after=common["after"], created_before=created_before,
            ascending=ascending, window=search_window or SEARCH_WINDOW)
    rows = await store_dashboard.dashboard_jobs(conn, **common, limit=limit + 1, stop=stop)
    if searching:
        await store_dashboard.dashboard_search_plans(conn, False)
    if not search_window and stop is not None:
        if len(rows) <= limit:
            # Unbounded and the page is not full: the rest of the tab, past the first window, with
            # the planner's own plan (for a rare term a scan and a sort beats reading it in index order).
            rows += await store_dashboard.dashboard_jobs(conn, **{**common, "after": stop}, limit=limit + 1 - len(rows))
        stop = None
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    jobs = [dict(r, status=job_status(r["state"], r["scheduled_at"], r["error"], now)) for r in rows]
    first = Cursor(rows[0]["sort_at"], rows[0]["id"]) if rows else None
    last = Cursor(rows[-1]["sort_at"], rows[-1]["id"]) if rows else None
    if stop is not None and not more and not backwards:
        # Fewer matches than a page within the window: continue after the window's last row.
        return JobPage(jobs, next=Cursor(*stop), prev=(first or after) if after is not None else None,
                       searched=search_window)
    if stop is not None and not more:
        # Read backwards (towards the list's start): continue before the window's row the same way.
        return JobPage(jobs, next=last or before, prev=Cursor(*stop), searched=search_window)
    if backwards:
        return JobPage(jobs, next=last if before is not None else None, prev=first if more else None)
    return JobPage(jobs, next=last if more else None, prev=first if after is not None else None)


async def count_tabs(
    conn: Connection, f: JobFilter, *, now: datetime | None = None, cap: int = COUNT_CAP
) -> dict[str, Count]:
    """Each tab's count under ``f``'s queue, class and search (exact up to ``cap``); "all" sums them.

    Without a filter, or with a queue, every count is an index-only scan of at most ``cap`` entries.
    A class filter or a search text has no index: those counts share FILTERED_COUNT_BUDGET_MS, and a
    tab whose count runs out of time is unknown (n is None).
    """
    now = now or datetime.now(UTC)
    counts: dict[str, Count] = {}
    budgeted = f.job_class is not None or f.search_pattern is not None or f.label is not None
    deadline = time.monotonic() + FILTERED_COUNT_BUDGET_MS / 1000
    for tab in TABS[1:]:
        query = functools.partial(store_dashboard.dashboard_count_jobs, conn, tab=tab, now=now, **f.params(), cap=cap)
        if not budgeted:
            n: int | None = await query()
        else:
            remaining = int((deadline - time.monotonic()) * 1000)
            n = await _with_timeout(conn, remaining, query) if remaining >= 5 else None
        counts[tab] = Count(n, capped=n is not None and n >= cap)
    known = [c.n for c in counts.values() if c.n is not None]
    total = sum(known) if len(known) == len(counts) else None
    counts["all"] = Count(total, capped=any(c.capped for c in counts.values()))
    return counts


async def state_estimates(ex: Executor) -> dict[str, int]:
    """Rows per state from the planner's statistics: what the overview shows past the count cap."""
    return await store_dashboard.dashboard_state_estimates(ex)


async def job_detail(ex: Executor, job_id: UUID, *, now: datetime | None = None) -> dict[str, Any] | None:
    """A job with its pretty-printed arguments, every execution, and the process running it."""
    job = await store_dashboard.dashboard_job(ex, job_id)
    if job is None:
        return None
    executions = [dict(e) for e in await store_dashboard.dashboard_job_executions(ex, job_id)]
    process = await store_dashboard.dashboard_job_process(ex, job["locked_by_id"]) if job["locked_by_id"] else None
    status = job_status(job["state"], job["scheduled_at"], job["error"], now or datetime.now(UTC))
    return dict(job, status=status, executions=executions, process=dict(process) if process else None)


async def throughput(ex: Executor, since: datetime, until: datetime, slot_seconds: float) -> list[tuple[int, str, int]]:
    """Executions finished in [since, until) as (slot number, outcome, count)."""
    rows = await store_dashboard.dashboard_throughput(ex, since, until, slot_seconds)
    return [(r["slot"], r["outcome"], r["n"]) for r in rows]


async def queues(ex: Executor, *, now: datetime | None = None, cap: int = COUNT_CAP) -> list[dict[str, Any]]:
    """Every queue with queued or running jobs, paused, or named by a live worker's queue string:
    counts, latency, paused flag."""
    now = now or datetime.now(UTC)
    paused = await paused_queues(ex)
    names = sorted(set(await queue_names(ex)) | _named_queues([p["queues"] for p in await processes(ex)]))
    out = []
    for r in await store_dashboard.dashboard_queue_stats(ex, names, now, cap):
        oldest = r["oldest_waiting_at"]
        out.append(dict(r, paused=r["name"] in paused, capped=r["waiting"] >= cap,
                        latency=(now - oldest).total_seconds() if oldest is not None else None))
    return out


async def queue_names(ex: Executor) -> list[str]:
    """Queues with queued or running jobs, and paused ones: suggestions for the queue filter."""
    active = set(await store.waiting_queue_names(ex)) | set(await store_dashboard.dashboard_running_queue_names(ex))
    return sorted(active | set(await paused_queues(ex)))


async def processes(ex: Executor) -> list[dict[str, Any]]:
    return [dict(r) for r in await store_dashboard.dashboard_processes(ex)]


async def paused_queues(ex: Executor) -> list[str]:
    """The 'paused_queues' setting: queue names workers do not claim from."""
    raw = await store_dashboard.dashboard_get_setting(ex, PAUSED_QUEUES)
    value = json.loads(raw) if raw else []
    return [str(v) for v in value] if isinstance(value, list) else []


# --- settings -----------------------------------------------------------------------------------
# The job actions (retry, discard, cancel, reschedule, delete) live in core/operations/actions.py.

PAUSED_QUEUES = "paused_queues"


async def set_queue_paused(ex: Executor, name: str, paused: bool, *, now: datetime | None = None) -> list[str]:
    """Pause or resume ``name`` and notify the workers; returns the paused queues."""
    async with connection(ex) as conn, conn.transaction():
        raw = await store_dashboard.dashboard_set_paused_queue(conn, name, paused, now or datetime.now(UTC))
        value = json.loads(raw)
    return [str(v) for v in value]


@contextlib.asynccontextmanager
async def connection(ex: Executor) -> AsyncIterator[Connection]:
    """A connection from a pool, or the caller's own connection as is."""
    if is_connection(ex):
        yield cast(Connection, ex)
    else:
        async with cast(Pool, ex).acquire() as conn:
            yield conn


def _named_queues(queue_strings: list[str]) -> set[str]:
    """The queue names spelled out in workers' queue strings ("mail:2;-media;*" -> mail, media)."""
    names: set[str] = set()
    for text in queue_strings:
        try:
            pools = parse_queues(text, 1)
        except QueueStringError:
            continue
        for pool in pools:
            names.update(pool.queues)
    return names


def is_timeout(err: BaseException) -> bool:
    """True for a statement stopped by the read timeout (``READ_TIMEOUT_MS``)."""
    return getattr(err, "sqlstate", None) == _QUERY_CANCELED


async def _with_timeout(conn: Connection, timeout_ms: int, query: Callable[[], Awaitable[int]]) -> int | None:
    """Run ``query`` in a savepoint with its own statement timeout; None if it ran out of time."""
    try:
        async with conn.transaction():
            await store_dashboard.dashboard_read_session(conn, timeout_ms)
            result = await query()
            await store_dashboard.dashboard_read_session(conn, READ_TIMEOUT_MS)  # a released savepoint keeps SETs
            return result
    except PostgresError as err:
        if is_timeout(err):
            return None
        raise
