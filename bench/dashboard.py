"""Dashboard speed at scale: seed N job rows (default 1,000,000), then time every page's queries and
its HTTP round trip (in-process ASGI, so the figures are server time: queries plus rendering).

    .venv/bin/python bench/dashboard.py [--rows 1000000] [--executions 10000000] [--runs 20] [--explain]

The mix, by row number: 80% succeeded, 5% discarded, 8% due (queued), 4% scheduled within a day, 2%
retried (queued with an error), 50 running; 8 queues, 10 job classes, created over the last 7 days.
Every finished or retried job has one execution, so the throughput charts have data. Rows are made
inside Postgres (INSERT ... SELECT generate_series, 100,000 per statement), then VACUUM ANALYZE, as
autovacuum would. Uses GOOD_JOB_BENCH_DATABASE_URL if set, else a throwaway embedded server.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from common import fresh_database, server
from starlette.applications import Starlette
from starlette.routing import Mount

import goodjob
from goodjob.core import admin, insights
from goodjob.core.admin import JobFilter


async def _sizes(conn: Any, f: JobFilter) -> Any:
    return await insights.tab_sizes(conn, f, await admin.count_tabs(conn, f))


async def _choices(conn: Any) -> Any:
    return (await insights.filter_choices(conn, "queue_name"), await insights.filter_choices(conn, "job_class"))

_JOBS = """
INSERT INTO good_jobs (id, queue_name, priority, job_class, serialized_params, state, scheduled_at,
                       performed_at, finished_at, error, error_event, executions_count, created_at,
                       updated_at)
SELECT gen_random_uuid(), (ARRAY['default','mailers','reports','billing','webhooks','search','media','low'])[1 + i % 8],
       i % 3,
       (ARRAY['SendWelcomeEmail','ChargeInvoice','BuildReport','SyncSearchIndex','ResizeImage',
              'DeliverWebhook','ExpireSessions','ImportCsv','RefreshCache','NotifySlack'])[1 + (i * 7) % 10],
       jsonb_build_object('args', jsonb_build_array(i, 'user-' || (i % 5000)),
                          'kwargs', jsonb_build_object('attempt', i % 4, 'note', 'seed row ' || i)),
       t.state, t.scheduled_at, t.performed_at, t.finished_at, t.error, t.error_event, t.executions,
       t.created_at, t.created_at
FROM generate_series($1::int, $2::int) AS i
CROSS JOIN LATERAL (SELECT i % 100 AS r, $3::timestamptz - random() * interval '7 days' AS old,
                           $3::timestamptz - random() * interval '2 hours' AS recent) AS g
CROSS JOIN LATERAL (SELECT
    CASE WHEN i <= 50 THEN 'running' WHEN g.r < 80 THEN 'succeeded' WHEN g.r < 85 THEN 'discarded'
         ELSE 'queued' END AS state,
    CASE WHEN i > 50 AND g.r BETWEEN 93 AND 96 THEN $3::timestamptz + random() * interval '1 day'
         WHEN i > 50 AND g.r >= 97 THEN $3::timestamptz + random() * interval '10 minutes'
         WHEN i > 50 AND g.r >= 85 THEN g.recent
         ELSE g.old END AS scheduled_at,
    CASE WHEN i <= 50 OR g.r < 85 OR g.r >= 97 THEN g.old + interval '1 second' END AS performed_at,
    CASE WHEN i > 50 AND g.r < 85 THEN g.old + interval '2 seconds' END AS finished_at,
    CASE WHEN i > 50 AND (g.r BETWEEN 80 AND 84 OR g.r >= 97)
         THEN 'RuntimeError: upstream timed out after 30s (seed row ' || i || ')' END AS error,
    CASE WHEN i > 50 AND g.r BETWEEN 80 AND 84 THEN 'discarded'
         WHEN i > 50 AND g.r >= 97 THEN 'retried' END AS event,
    CASE WHEN i <= 50 OR g.r < 85 THEN 1 WHEN g.r >= 97 THEN 1 ELSE 0 END AS executions,
    CASE WHEN i > 50 AND g.r >= 85 THEN g.recent ELSE g.old END AS created_at
) AS t(state, scheduled_at, performed_at, finished_at, error, error_event, executions, created_at)
"""

_EXECUTIONS = """
INSERT INTO good_job_executions (job_id, attempt, queue_name, job_class, scheduled_at, started_at,
                                 finished_at, duration_ms, outcome, error_class, error, error_backtrace)
SELECT id, 1, queue_name, job_class, scheduled_at, performed_at,
       coalesce(finished_at, performed_at + interval '1 second'), 1000 * random(),
       CASE state WHEN 'succeeded' THEN 'succeeded' WHEN 'discarded' THEN 'discarded' ELSE 'retried' END,
       CASE WHEN error IS NOT NULL THEN 'RuntimeError' END, error,
       CASE WHEN error IS NOT NULL THEN 'Traceback (most recent call last):\n  File "jobs.py", line 3\nRuntimeError' END
FROM good_jobs WHERE performed_at IS NOT NULL AND state <> 'running'
"""

# Statistics as the recorder writes them, for --executions attempts over the last 7 days: every
# hour x queue x class that the job mix uses, spread over six duration bins around a per-class median.
_STATS = """
INSERT INTO good_job_stats (span, hour, queue_name, job_class, bin, executions, failures, duration_ms_sum,
                            duration_ms_max)
SELECT s.span, s.at, q.name, c.name, c.base + b.k, greatest(1, round(s.n * b.share))::bigint,
       round(s.n * b.share * 0.05)::bigint, s.n * b.share * 0.1 * 2 ^ ((c.base + b.k) / 4.0),
       0.1 * 2 ^ ((c.base + b.k + 1) / 4.0)
FROM (SELECT 1 AS span, h AS at, $1::float8 / (168 * 80) AS n
      FROM generate_series(date_trunc('hour', $2::timestamptz) - interval '167 hours',
                           date_trunc('hour', $2::timestamptz), interval '1 hour') AS h
      UNION ALL
      SELECT 24, d, $1::float8 / (7 * 80)
      FROM generate_series(date_trunc('day', $2::timestamptz) - interval '6 days',
                           date_trunc('day', $2::timestamptz), interval '1 day') AS d) AS s
CROSS JOIN unnest(ARRAY['default','mailers','reports','billing','webhooks','search','media','low']) AS q(name)
CROSS JOIN LATERAL (SELECT name, 30 + (row_number() OVER ()) * 2 AS base
                    FROM unnest(ARRAY['SendWelcomeEmail','ChargeInvoice','BuildReport','SyncSearchIndex',
                                      'ResizeImage','DeliverWebhook','ExpireSessions','ImportCsv','RefreshCache',
                                      'NotifySlack']) AS c(name)) AS c
CROSS JOIN (VALUES (0, 0.1), (1, 0.2), (2, 0.35), (3, 0.2), (4, 0.1), (6, 0.05)) AS b(k, share)
"""

_PROCESSES = """
INSERT INTO good_job_processes (id, hostname, pid, queues, max_threads, lock_key, execution_mode)
SELECT gen_random_uuid(), 'worker-' || n, 1000 + n, '*', 5, n, 'external' FROM generate_series(1, 3) AS n
"""


async def seed(url: str, rows: int, *, executions: int = 10_000_000, chunk: int = 100_000) -> float:
    """Insert ``rows`` jobs (and their executions, and the statistics of ``executions`` attempts)
    into the empty database at ``url``; seconds taken."""
    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        now = await conn.fetchval("SELECT now()")
        for first in range(1, rows + 1, chunk):
            await conn.execute(_JOBS, first, min(first + chunk - 1, rows), now)
        await conn.execute(_EXECUTIONS)
        await conn.execute(_STATS, executions, now)
        await conn.execute(_PROCESSES)
        await conn.execute("UPDATE good_job_processes SET memory_kb = 150000 + pid, cron = $1::jsonb WHERE pid = 1001",
                           '{"nightly": {"cron": "0 3 * * *", "class": "BuildReport", "arguments": '
                           '{"args": [7], "kwargs": {}}, "set": null, "description": null, '
                           '"enabled_by_default": true, "timezone": "UTC", "dynamic": []}}')
        # Running jobs belong to the first process.
        await conn.execute(
            "UPDATE good_jobs SET locked_by_id = (SELECT id FROM good_job_processes ORDER BY pid LIMIT 1), "
            "locked_at = now() WHERE state = 'running'"
        )
        await conn.execute("VACUUM ANALYZE good_jobs")
        await conn.execute("VACUUM ANALYZE good_job_executions")
        await conn.execute("VACUUM ANALYZE good_job_stats")
    finally:
        await conn.close()
    return time.perf_counter() - started


# --- timing -------------------------------------------------------------------------------------


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float]:
    """Median and worst of ``runs`` calls, in milliseconds (after one warm-up call)."""
    await fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def report(name: str, median: float, worst: float) -> None:
    flag = "" if median < 100 else "   <-- over 100 ms"
    print(f"  {name:<52} {median:8.1f} ms  (max {worst:7.1f}){flag}", flush=True)


async def query_timings(url: str, rows: int, runs: int) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    try:
        some_id = await pool.fetchval("SELECT id FROM good_jobs WHERE state = 'discarded' LIMIT 1")
        deep = await pool.fetchrow("SELECT created_at, id FROM good_jobs WHERE state = 'succeeded'"
                                   " ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1", rows * 2 // 5)
        deep_cursor = admin.Cursor(deep["created_at"], deep["id"])

        def read(fn: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
            async def run() -> Any:
                async with admin.reading(pool) as conn:
                    return await fn(conn)
            return run

        print("queries (one read transaction each):")
        cases: list[tuple[str, Callable[[asyncpg.Connection], Awaitable[Any]]]] = [
            ("counts: all seven tabs (capped at 10,000)", lambda c: admin.count_tabs(c, JobFilter())),
            ("counts: with queue filter", lambda c: admin.count_tabs(c, JobFilter(queue="mailers"))),
            ("counts: with class filter", lambda c: admin.count_tabs(c, JobFilter(job_class="ChargeInvoice"))),
        ]
        for tab in admin.TABS:
            cases.append((f"list: {tab}, first page of 50", lambda c, t=tab: admin.list_jobs(c, JobFilter(t))))
        cases += [
            (f"list: succeeded, page at row {rows * 2 // 5:,} (keyset)",
             lambda c: admin.list_jobs(c, JobFilter("succeeded"), after=deep_cursor)),
            ("list: all, queue filter", lambda c: admin.list_jobs(c, JobFilter(queue="mailers"))),
            ("list: succeeded, class filter",
             lambda c: admin.list_jobs(c, JobFilter("succeeded", job_class="ImportCsv"))),
            ("list: search by job id", lambda c: admin.list_jobs(c, JobFilter(search=str(some_id)))),
            ("list: search text, 2% of rows match (\"user-42\")",
             lambda c: admin.list_jobs(c, JobFilter(search="user-42"))),
            ("list: search text, 2% match (bounded, as the page)",
             lambda c: admin.list_jobs(c, JobFilter(search="user-42"), search_window=admin.SEARCH_WINDOW)),
            ("overview: state estimates", admin.state_estimates),
            ("tab sizes past the cap (planner estimates)",
             lambda c: _sizes(c, JobFilter())),
            ("live digest (a conditional GET's only query)", insights.digest),
            ("jobs: queue and class dropdowns with counts",
             lambda c: _choices(c)),
            ("performance: 1 h (stats rows of the window)", lambda c: insights.performance(c, "1h")),
            ("performance: 24 h", lambda c: insights.performance(c, "24h")),
            ("performance: 7 d (10M executions' statistics)", lambda c: insights.performance(c, "7d")),
            ("queues page: throughput and error rate (1 h)", insights.queue_figures),
            ("list: search text that matches nothing (bounded)",
             lambda c: admin.list_jobs(c, JobFilter(search="no such text anywhere"),
                                       search_window=admin.SEARCH_WINDOW)),
            ("list: succeeded, search that matches nothing (bounded)",
             lambda c: admin.list_jobs(c, JobFilter("succeeded", search="no such text anywhere"),
                                       search_window=admin.SEARCH_WINDOW)),
            ("overview: queues with latency (8 queues)", lambda c: admin.queues(c, cap=1000)),
            ("queues page: queues (cap 10,000)", lambda c: admin.queues(c)),
            ("processes", admin.processes),
            ("job detail", lambda c: admin.job_detail(c, some_id)),
        ]
        for name, fn in cases:
            try:
                report(name, *await timed(read(fn), runs))
            except asyncpg.QueryCanceledError:
                print(f"  {name:<52} stopped by the {admin.READ_TIMEOUT_MS} ms read timeout", flush=True)
        from goodjob.dashboard.charts import ThroughputCache

        async def cold() -> Any:
            async with admin.reading(pool) as conn:
                return await ThroughputCache().charts(conn)

        cache = ThroughputCache()

        async def warm() -> Any:
            async with admin.reading(pool) as conn:
                return await cache.charts(conn)

        report("overview: throughput charts, cold (24h of executions)", *await timed(cold, max(3, runs // 4)))
        report("overview: throughput charts, warm (settled minutes cached)", *await timed(warm, runs))
        slow = JobFilter(search="no such text anywhere")
        started = time.perf_counter()
        async with admin.reading(pool) as conn:
            try:
                await admin.list_jobs(conn, slow)
                outcome = "finished"
            except asyncpg.QueryCanceledError:
                outcome = f"stopped by the {admin.READ_TIMEOUT_MS} ms read timeout"
        print(f"  {'list: search text that matches nothing (unbounded scan)':<52} "
              f"{(time.perf_counter() - started) * 1000:8.1f} ms  ({outcome})")
    finally:
        await pool.close()


async def http_timings(url: str, runs: int) -> None:
    dashboard = goodjob.create_dashboard(database_url=url, allow_unauthenticated=True)
    app = Starlette(routes=[Mount("/good_job", dashboard)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench/good_job") as client:
        started = time.perf_counter()
        assert (await client.get("/")).status_code == 200
        print("HTTP round trips (in-process ASGI: queries + rendering):")
        print(f"  {'GET / (first request: opens the pool, counts 24h)':<52} "
              f"{(time.perf_counter() - started) * 1000:8.1f} ms")
        some_id = (await client.get("/jobs?state=discarded")).text.split('data-id="', 1)[1].split('"', 1)[0]
        paths = ["/", "/jobs", *[f"/jobs?state={t}" for t in admin.TABS[1:]], "/jobs?queue=mailers",
                 "/jobs?class=ImportCsv&state=succeeded", f"/jobs?q={some_id}", "/jobs?q=user-42",
                 "/jobs?q=no+such+text+anywhere", "/jobs?state=succeeded&q=no+such+text+anywhere",
                 "/jobs?state=succeeded&limit=200", "/jobs?state=succeeded&label=eu",
                 f"/jobs/{some_id}", "/queues", "/processes", "/cron", "/batches",
                 "/performance?window=1h", "/performance?window=24h", "/performance?window=7d&sort=p95"]
        for path in paths:
            async def get(p: str = path) -> None:
                response = await client.get(p)
                assert response.status_code == 200, (p, response.status_code)
            report(f"GET {path if len(path) < 46 else path[:43] + '...'}", *await timed(get, runs))
        first = await client.get("/jobs", headers={"X-GoodJob-Live": "1"})
        tags = [first.headers["etag"]]
        statuses: list[int] = []

        async def unchanged() -> None:
            # Seeded scheduled jobs become due every few seconds (a real change: a 200 then).
            response = await client.get("/jobs", headers={"X-GoodJob-Live": "1", "If-None-Match": tags[-1]})
            statuses.append(response.status_code)
            if response.status_code == 200:
                tags.append(response.headers["etag"])
        report("GET /jobs live refresh (If-None-Match)", *await timed(unchanged, runs))
        print(f"    ({statuses.count(304)} of {len(statuses)} answered 304 Not Modified)")
    await dashboard.close()


async def explain(url: str) -> None:
    from goodjob.core.storage import store

    conn = await asyncpg.connect(url)
    now = datetime.now(UTC)
    try:
        await conn.execute("SET plan_cache_mode = force_custom_plan; SET jit = off")  # as dashboard_read_session
        plans = [
            ("all tab", "dashboard_all_jobs_desc", (*[None] * 6, 51, *[None] * 7, 0)),
            ("succeeded tab", "dashboard_jobs_desc", ("succeeded", *[None] * 6, 51, *[None] * 7, 0)),
            ("scheduled tab", "dashboard_waiting_jobs_asc", ("scheduled", now, *[None] * 6, 51, *[None] * 7, 0)),
            ("all tab search bound", "dashboard_all_search_bound_desc", (*[None] * 9, admin.SEARCH_WINDOW - 1)),
            ("queued count", "dashboard_waiting_count_plain", ("queued", now, None, 10000, 100000)),
            ("retried count", "dashboard_count_jobs", ("retried", *[None] * 4, 10000, *[None] * 4)),
        ]
        for title, name, params in plans:
            print(f"\nEXPLAIN {title} ({name}):")
            for row in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + store.sql(name), *params):
                print("   ", row[0])
    finally:
        await conn.close()


async def main(args: argparse.Namespace, admin_url: str) -> None:
    url = await fresh_database(admin_url, "goodjob_bench_dashboard")
    print(f"seeding {args.rows:,} jobs ...", flush=True)
    print(f"seeded in {await seed(url, args.rows, executions=args.executions):.1f} s "
          f"({args.executions:,} executions in the statistics)")
    await query_timings(url, args.rows, args.runs)
    await http_timings(url, args.runs)
    if args.explain:
        await explain(url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--executions", type=int, default=10_000_000,
                        help="attempts summarized in good_job_stats (the Performance page's source)")
    parser.add_argument("--explain", action="store_true", help="print the plans of the main queries")
    arguments = parser.parse_args()
    with server() as maintenance_url:
        asyncio.run(main(arguments, maintenance_url))
