-- The job API's queries (goodjob.jobs, core/operations/), by name. The list and count filters are
-- those of dashboard.sql (one set of tab predicates); these are the reads of whole rows and the
-- actions the dashboard's forms did not have.

-- name: operations_jobs
-- Whole rows by id (find() lists ids with the dashboard's keyset queries, then reads them here).
SELECT id, queue_name, priority, job_class, serialized_params::text AS params, state, scheduled_at,
       performed_at, finished_at, error, error_event, executions_count, cron_key, batch_id, labels,
       locked_by_id, cancelled_at, created_at
FROM good_jobs WHERE id = ANY($1::uuid[]);

-- name: operations_executions
SELECT id, job_id, process_id, attempt, queue_name, outcome, scheduled_at, started_at, finished_at,
       duration_ms, error_class, error, error_backtrace
FROM good_job_executions WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, id;

-- name: operations_cancel_running
-- Mark running jobs cancelled and tell each owner: NOTIFY {"cancel": job id, "process": owner id}.
-- Marking again re-sends the NOTIFY (an operator may retry a cancel whose NOTIFY was lost). The
-- owner's heartbeat (heartbeat_cancelled) is the safety net when LISTEN is not available.
WITH marked AS (
    UPDATE good_jobs SET cancelled_at = coalesce(cancelled_at, $2), updated_at = $2
    WHERE id = ANY($1::uuid[]) AND state = 'running'
    RETURNING id, locked_by_id
)
SELECT id, good_job_notify_control(json_build_object('cancel', id, 'process', locked_by_id)::text) IS NULL AS sent
FROM marked;

-- name: operations_reschedule
-- Queued jobs (scheduled, due or retried) get a new time, and the workers hear of it.
WITH moved AS (
    UPDATE good_jobs SET scheduled_at = $2, updated_at = $3
    WHERE id = ANY($1::uuid[]) AND state = 'queued'
    RETURNING id, queue_name
), notified AS (
    SELECT good_job_notify(queue_name, json_build_object(
               'queue', queue_name, 'at', extract(epoch FROM $2::timestamptz), 'count', count(*))::text)
    FROM moved GROUP BY queue_name
)
SELECT id, (SELECT count(*) FROM notified) AS queues FROM moved;

-- name: heartbeat_cancelled
-- The heartbeat's safety net for cancels: this process's running jobs that an operator cancelled
-- (a few entries of the partial good_jobs_running index).
SELECT id FROM good_jobs WHERE state = 'running' AND locked_by_id = $1 AND cancelled_at IS NOT NULL;

-- name: testing_enqueued
-- goodjob.testing: the waiting jobs ($1: of this class, or all), oldest first, as whole rows.
SELECT id, queue_name, priority, job_class, serialized_params::text AS params, state, scheduled_at,
       performed_at, finished_at, error, error_event, executions_count, cron_key, batch_id, labels,
       locked_by_id, cancelled_at, created_at
FROM good_jobs WHERE state = 'queued' AND ($1::text IS NULL OR job_class = $1)
ORDER BY created_at, id;

-- name: testing_waiting_ids
-- goodjob.testing.perform_enqueued_jobs: the next waiting jobs ($1: of this queue, or any), due or not,
-- in claim order.
SELECT id, scheduled_at FROM good_jobs
WHERE state = 'queued' AND ($1::text IS NULL OR queue_name = $1)
ORDER BY priority, scheduled_at, id
LIMIT $2;

-- name: testing_truncate
-- goodjob.testing: empty every goodjob table (a fresh schema for the next test, in milliseconds).
TRUNCATE good_jobs, good_job_executions, good_job_processes, good_job_settings, good_job_batches,
         good_job_cron_entries, good_job_concurrency_events;

-- name: metrics_cluster
-- goodjob.metrics' one query per scrape: (metric, queue, state, value) rows. Every part is bounded:
--   waiting jobs per queue: the queues come from a loose index scan (one probe per queue), each
--     figure reads one range per priority of the queue (queue_waiting_figures: counts capped at $2
--     entries, the oldest due time one probe per priority);
--   running jobs: the partial good_jobs_running index (at most the cluster's thread count);
--   finished jobs: the planner's estimates per state (pg_stats), because an exact count would scan;
--   processes: good_job_processes (one row per worker process).
WITH RECURSIVE qs(name) AS (
    (SELECT queue_name FROM good_jobs WHERE state = 'queued' ORDER BY queue_name LIMIT 1)
    UNION ALL
    SELECT (SELECT queue_name FROM good_jobs
            WHERE state = 'queued' AND queue_name > qs.name ORDER BY queue_name LIMIT 1)
    FROM qs WHERE qs.name IS NOT NULL
), waiting AS (
    SELECT q.name, w.due, w.later, w.oldest
    FROM qs AS q
    CROSS JOIN LATERAL (
        -- include: queue_waiting_figures
    ) AS w
    WHERE q.name IS NOT NULL
)
SELECT 'jobs' AS metric, name AS queue, 'queued' AS state, due::float8 AS value FROM waiting
UNION ALL SELECT 'jobs', name, 'scheduled', later::float8 FROM waiting
UNION ALL SELECT 'oldest', name, NULL, coalesce(extract(epoch FROM $1::timestamptz - oldest), 0)::float8 FROM waiting
UNION ALL SELECT 'jobs', queue_name, 'running', count(*)::float8 FROM good_jobs WHERE state = 'running' GROUP BY queue_name
UNION ALL SELECT 'estimate', NULL, mcv.state, (mcv.freq * greatest(c.reltuples, 0))::float8
          FROM pg_class AS c
          JOIN pg_stats AS st ON st.schemaname = current_schema() AND st.tablename = 'good_jobs' AND st.attname = 'state'
          CROSS JOIN LATERAL unnest(st.most_common_vals::text::text[], st.most_common_freqs) AS mcv(state, freq)
          WHERE c.oid = 'good_jobs'::regclass AND mcv.state IN ('succeeded', 'discarded')
UNION ALL SELECT 'processes', NULL, NULL, count(*)::float8 FROM good_job_processes
UNION ALL SELECT 'threads', NULL, NULL, coalesce(sum(max_threads), 0)::float8 FROM good_job_processes;
