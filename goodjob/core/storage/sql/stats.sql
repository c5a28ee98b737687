-- Execution statistics and what worker processes publish about themselves (migration 0009).

-- name: stats_record
-- Add one recorder batch to the hourly statistics. The rows come sorted by key (core/stats.py), so
-- concurrent recorders lock the rows they share in one order and cannot deadlock.
INSERT INTO good_job_stats AS s (span, hour, queue_name, job_class, bin, executions, failures, duration_ms_sum,
                                 duration_ms_max)
SELECT * FROM unnest($1::smallint[], $2::timestamptz[], $3::text[], $4::text[], $5::smallint[], $6::bigint[],
                     $7::bigint[], $8::float8[], $9::float8[])
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (span, hour, queue_name, job_class, bin) DO UPDATE
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
-- The Performance page: statistics from hour $1 on, per queue, job class and bin: the whole days in
-- [$2, $3) from the day rows, the hours before $2 and from $3 on from the hour rows (three range
-- scans of the primary key). $2 is the first midnight at or after $1, $3 today's midnight.
SELECT queue_name, job_class, bin, sum(executions) AS executions, sum(failures) AS failures,
       sum(duration_ms_sum) AS duration_ms_sum, max(duration_ms_max) AS duration_ms_max
FROM (SELECT queue_name, job_class, bin, executions, failures, duration_ms_sum, duration_ms_max
      FROM good_job_stats WHERE span = 24 AND hour >= $2 AND hour < $3
      UNION ALL
      SELECT queue_name, job_class, bin, executions, failures, duration_ms_sum, duration_ms_max
      FROM good_job_stats WHERE span = 1 AND hour >= $1 AND hour < least($2, $3)
      UNION ALL
      SELECT queue_name, job_class, bin, executions, failures, duration_ms_sum, duration_ms_max
      FROM good_job_stats WHERE span = 1 AND hour >= greatest($1, $3)) AS s
GROUP BY queue_name, job_class, bin;

-- name: stats_series
-- Executions and failures per hour ($2 = 1) or per day ($2 = 24) from $1 on: the chart.
SELECT hour, sum(executions) AS executions, sum(failures) AS failures
FROM good_job_stats WHERE span = $2 AND hour >= $1 GROUP BY hour ORDER BY hour;

-- name: stats_job_classes
-- Job classes that ran since day $1, with their executions: the jobs list's class filter and the
-- check that a paused class name is one the workers know.
SELECT job_class, sum(executions) AS executions FROM good_job_stats WHERE span = 24 AND hour >= $1 GROUP BY job_class;

-- name: dashboard_digest
-- What changed, cheaply (well under a millisecond at any size): a page whose digest is the same has
-- nothing new to show, so a live page asks with If-None-Match and gets 304 without its queries.
--   * Postgres's counters of rows inserted, updated and deleted in goodjob's tables (shared memory;
--     each backend flushes its own within about a second of committing, 10 s at worst);
--   * the newest queued job's created_at (an enqueue changes it) and the executions recorded this hour
--     (good_job_stats): enqueues and results show at once;
--   * the next time a scheduled job becomes due (a scheduled job turning queued changes no row):
--     good_jobs_claim_all read from now per waiting priority, past any retries due before it;
--   * $1: the processes' heartbeats too (only the pages that show processes care).
SELECT concat_ws('.',
    (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint FROM pg_stat_user_tables
     WHERE schemaname = current_schema()
       AND relname IN ('good_jobs', 'good_job_executions', 'good_job_settings', 'good_job_batches',
                       'good_job_cron_entries')),
    (SELECT max(created_at) FROM good_jobs WHERE state = 'queued')::text,
    (SELECT sum(executions) FROM good_job_stats WHERE span = 1 AND hour = date_trunc('hour', $2::timestamptz)),
    (SELECT min(f.scheduled_at) FROM (
        -- include: all_waiting_priorities
     ) AS q
     CROSS JOIN LATERAL (
        SELECT scheduled_at FROM good_jobs
        WHERE state = 'queued' AND priority = q.p AND scheduled_at > $2 AND error IS NULL
        ORDER BY scheduled_at LIMIT 1
     ) AS f)::text,
    CASE WHEN $1::bool THEN (SELECT count(*) || ':' || coalesce(max(heartbeat_at)::text, '')
                             FROM good_job_processes) END
) AS digest;

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

-- name: dashboard_tab_rows
-- Not run: EXPLAINed, for the planner's estimate of a tab's rows under the list's filters (the
-- parameters of dashboard_count_jobs without the cap) when the exact count reached its cap.
SELECT 1 FROM good_jobs
WHERE (($1 = 'scheduled' AND state = 'queued' AND error IS NULL AND scheduled_at > $2)
    OR ($1 = 'queued' AND state = 'queued' AND error IS NULL AND scheduled_at <= $2)
    OR ($1 = 'retried' AND state = 'queued' AND error IS NOT NULL)
    OR ($1 IN ('running', 'succeeded', 'discarded') AND state = $1))
  AND ($3::text IS NULL OR queue_name = $3)
  AND ($4::text IS NULL OR job_class = $4)
  AND ($5::uuid IS NULL OR id = $5)
  AND ($6::text IS NULL OR serialized_params::text ILIKE $6 OR error ILIKE $6 OR id::text ILIKE $6)
  AND ($7::text IS NULL OR labels @> ARRAY[$7::text])
  AND ($8::text IS NULL OR cron_key = $8)
  AND ($9::uuid IS NULL OR batch_id = $9)
  AND ($10::uuid IS NULL OR locked_by_id = $10);

-- name: dashboard_exact_count
-- The exact number of jobs a bulk action is about to touch (the confirmation shows it).
SELECT count(*) FROM good_jobs
WHERE ($1 = 'all'
    OR ($1 = 'scheduled' AND state = 'queued' AND error IS NULL AND scheduled_at > $2)
    OR ($1 = 'queued' AND state = 'queued' AND error IS NULL AND scheduled_at <= $2)
    OR ($1 = 'retried' AND state = 'queued' AND error IS NOT NULL)
    OR ($1 IN ('running', 'succeeded', 'discarded') AND state = $1))
  AND ($3::text IS NULL OR queue_name = $3)
  AND ($4::text IS NULL OR job_class = $4)
  AND ($5::uuid IS NULL OR id = $5)
  AND ($6::text IS NULL OR serialized_params::text ILIKE $6 OR error ILIKE $6 OR id::text ILIKE $6)
  AND ($7::text IS NULL OR labels @> ARRAY[$7::text])
  AND ($8::text IS NULL OR cron_key = $8)
  AND ($9::uuid IS NULL OR batch_id = $9)
  AND ($10::uuid IS NULL OR locked_by_id = $10)
  AND ($11::timestamptz IS NULL OR created_at <= $11);

-- name: dashboard_batches_due
-- Of the batches $1, those with a job that is running or due (not only scheduled for later): a
-- running batch without one is waiting for its jobs' time, and the dashboard labels it "scheduled".
SELECT b.id FROM unnest($1::uuid[]) AS b(id)
WHERE EXISTS (SELECT 1 FROM good_jobs AS j WHERE j.batch_id = b.id AND j.state = 'running')
   OR EXISTS (SELECT 1 FROM good_jobs AS j WHERE j.batch_id = b.id AND j.state = 'queued' AND j.scheduled_at <= $2);
