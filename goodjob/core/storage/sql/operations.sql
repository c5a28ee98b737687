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
SELECT id, pg_notify('good_job', json_build_object('cancel', id, 'process', locked_by_id)::text) IS NULL AS sent
FROM marked;

-- name: operations_reschedule
-- Queued jobs (scheduled, due or retried) get a new time, and the workers hear of it.
WITH moved AS (
    UPDATE good_jobs SET scheduled_at = $2, updated_at = $3
    WHERE id = ANY($1::uuid[]) AND state = 'queued'
    RETURNING id, queue_name
), notified AS (
    SELECT pg_notify('good_job', json_build_object(
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
