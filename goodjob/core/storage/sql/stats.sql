-- Execution statistics and what worker processes publish about themselves (migration 0009).

-- name: stats_record
-- Add one recorder batch to the hourly statistics. The rows come sorted by key (core/stats.py), so
-- concurrent recorders lock the rows they share in one order and cannot deadlock.
INSERT INTO good_job_stats AS s (hour, queue_name, job_class, bin, executions, failures, duration_ms_sum,
                                 duration_ms_max)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::smallint[], $5::bigint[], $6::bigint[],
                     $7::float8[], $8::float8[])
ORDER BY 1, 2, 3, 4
ON CONFLICT (hour, queue_name, job_class, bin) DO UPDATE
SET executions = s.executions + EXCLUDED.executions, failures = s.failures + EXCLUDED.failures,
    duration_ms_sum = s.duration_ms_sum + EXCLUDED.duration_ms_sum,
    duration_ms_max = greatest(s.duration_ms_max, EXCLUDED.duration_ms_max);

-- name: stats_cleanup
-- Statistics older than the longest window the dashboard shows (and a margin) are of no use.
DELETE FROM good_job_stats WHERE hour < $1;

-- name: process_publish
-- A process's cron entries ($2, NULL when it runs no cron) and resident memory ($3, kB).
UPDATE good_job_processes SET cron = coalesce($2::jsonb, cron), memory_kb = coalesce($3, memory_kb) WHERE id = $1;

-- name: stats_by_queue_class
-- The Performance page: statistics of the hours from $1 on, per queue, job class and bin. A range
-- scan of the primary key; a week is (hours x queues x classes x bins used) rows.
SELECT queue_name, job_class, bin, sum(executions) AS executions, sum(failures) AS failures,
       sum(duration_ms_sum) AS duration_ms_sum, max(duration_ms_max) AS duration_ms_max
FROM good_job_stats
WHERE hour >= $1
GROUP BY queue_name, job_class, bin;

-- name: stats_hourly
-- Executions and failures per hour from $1 on, for the Performance page's chart.
SELECT hour, sum(executions) AS executions, sum(failures) AS failures
FROM good_job_stats WHERE hour >= $1 GROUP BY hour ORDER BY hour;

-- name: stats_job_classes
-- Job classes that ran in the statistics' window, with their executions: the jobs list's class
-- filter and the check that a paused class name is one the workers know.
SELECT job_class, sum(executions) AS executions FROM good_job_stats WHERE hour >= $1 GROUP BY job_class;

-- name: dashboard_digest
-- What changed, cheaply: Postgres's own counters of rows inserted, updated and deleted in goodjob's
-- tables (kept in shared memory, flushed by each backend within about a second of its commit), and
-- the tables' sizes. A page whose digest is the same has nothing new to show, so the browser asks
-- for this (microseconds) instead of the page. $1: include the processes table (heartbeats change it
-- every few seconds, which only the pages that show processes care about).
SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint::text || '.' || count(*)::text AS digest
FROM pg_stat_user_tables
WHERE schemaname = current_schema()
  AND (relname IN ('good_jobs', 'good_job_executions', 'good_job_settings', 'good_job_batches',
                   'good_job_cron_entries', 'good_job_stats')
       OR ($1::bool AND relname = 'good_job_processes'));

-- name: dashboard_estimate_column
-- A column's most common values and their estimated row counts, from the planner's statistics:
-- the job list's queue and class dropdowns on a table too large to count.
SELECT mcv.value, (mcv.freq * greatest(c.reltuples, 0))::bigint AS estimate
FROM pg_class AS c
JOIN pg_stats AS st ON st.schemaname = current_schema() AND st.tablename = 'good_jobs' AND st.attname = $1
CROSS JOIN LATERAL unnest(st.most_common_vals::text::text[], st.most_common_freqs) AS mcv(value, freq)
WHERE c.oid = 'good_jobs'::regclass
ORDER BY mcv.value;

-- name: dashboard_table_estimate
SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'good_jobs'::regclass;

-- name: dashboard_group_counts
-- Exact rows per queue and per class, for a table small enough to count ($1 = 'queue_name' or
-- 'job_class'; the dashboard checks the table's size first).
SELECT CASE WHEN $1 = 'queue_name' THEN queue_name ELSE job_class END AS value, count(*) AS n
FROM good_jobs GROUP BY 1 ORDER BY 1;

-- name: dashboard_cron_history
-- The latest runs of each cron entry ($1), newest occurrence first, through the (cron_key, cron_at)
-- index: $2 per entry.
SELECT k.key, j.id, j.state, j.scheduled_at, j.error, j.cron_at, j.created_at, j.finished_at
FROM unnest($1::text[]) AS k(key)
CROSS JOIN LATERAL (
    SELECT id, state, scheduled_at, error, cron_at, created_at, finished_at FROM good_jobs
    WHERE cron_key = k.key ORDER BY cron_at DESC NULLS LAST LIMIT $2
) AS j;

-- name: dashboard_published_cron
-- The cron entries the live worker processes published (one object per process).
SELECT id, hostname, pid, cron::text AS cron FROM good_job_processes WHERE cron IS NOT NULL ORDER BY started_at, id;
