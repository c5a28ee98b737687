"""Seed a goodjob database with N realistic job rows for the dashboard benchmark (bench/dashboard.py).

The mix, by row number: 80% succeeded, 5% discarded, 8% due (queued), 4% scheduled in the next day,
2% retried (queued with an error), plus 50 running; 8 queues, 10 job classes, created over the last
7 days. Every finished or retried job gets one execution row, so the throughput chart has data.
Rows are generated inside Postgres (INSERT ... SELECT generate_series), in chunks of 100,000.
"""

from __future__ import annotations

import time

import asyncpg

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

_PROCESSES = """
INSERT INTO good_job_processes (id, hostname, pid, queues, max_threads, lock_key, execution_mode)
SELECT gen_random_uuid(), 'worker-' || n, 1000 + n, '*', 5, n, 'external' FROM generate_series(1, 3) AS n
"""


async def seed(url: str, rows: int, *, chunk: int = 100_000) -> float:
    """Insert ``rows`` jobs (and their executions) into the empty database at ``url``; seconds taken."""
    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        now = await conn.fetchval("SELECT now()")
        for first in range(1, rows + 1, chunk):
            await conn.execute(_JOBS, first, min(first + chunk - 1, rows), now)
        await conn.execute(_EXECUTIONS)
        await conn.execute(_PROCESSES)
        # Running jobs belong to the first process.
        await conn.execute(
            "UPDATE good_jobs SET locked_by_id = (SELECT id FROM good_job_processes ORDER BY pid LIMIT 1), "
            "locked_at = now() WHERE state = 'running'"
        )
        await conn.execute("VACUUM ANALYZE good_jobs")
        await conn.execute("VACUUM ANALYZE good_job_executions")
    finally:
        await conn.close()
    return time.perf_counter() - started
