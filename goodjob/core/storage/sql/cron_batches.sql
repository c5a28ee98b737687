-- Cron bookkeeping, batches, pauses and labels (goodjob/core/cron.py, batches.py, pauses.py;
-- design in docs/cron_batches.md). Settings keys: 'paused_queues' and 'paused_job_classes' (JSON
-- arrays of names, the format the dashboard already writes), 'cron_enabled' ({key: bool}).

-- name: pauses_get
SELECT key, value::text AS value FROM good_job_settings WHERE key IN ('paused_queues', 'paused_job_classes');

-- name: pauses_set
-- Add ($3 true) or remove ($3 false) name $2 in the JSON array setting $1, and tell every worker at
-- once with the dashboard's NOTIFY {"paused": true} (workers re-read the settings).
WITH changed AS (
    INSERT INTO good_job_settings AS s (key, value, updated_at)
    VALUES ($1, CASE WHEN $3::bool THEN jsonb_build_array($2::text) ELSE '[]'::jsonb END, $4)
    ON CONFLICT (key) DO UPDATE
    SET value = (SELECT coalesce(jsonb_agg(DISTINCT name ORDER BY name), '[]'::jsonb)
                 FROM (SELECT jsonb_array_elements_text(s.value) AS name
                       UNION SELECT $2::text WHERE $3::bool) AS names
                 WHERE $3::bool OR name <> $2::text),
        updated_at = $4
    RETURNING value
)
SELECT value::text AS value, good_job_notify_control('{"paused": true}') IS NULL AS notified FROM changed;

-- name: cron_enabled_get
SELECT value::text AS value FROM good_job_settings WHERE key = 'cron_enabled';

-- name: cron_enabled_set
-- Enable ($2 true) or disable cron entry $1: one key of the 'cron_enabled' object.
INSERT INTO good_job_settings AS s (key, value, updated_at)
VALUES ('cron_enabled', jsonb_build_object($1::text, $2::bool), $3)
ON CONFLICT (key) DO UPDATE SET value = s.value || jsonb_build_object($1::text, $2::bool), updated_at = $3
RETURNING value::text AS value;

-- name: cron_claim_occurrence
-- Take occurrence $2 of entry $1, unless this or a later one was already taken: a row comes back
-- only to the one process that may enqueue it. ON CONFLICT locks the entry's row, so a second
-- process waits for the first to commit and then sees its last_at. Run in the enqueue's transaction.
INSERT INTO good_job_cron_entries AS e (key, last_at, last_enqueued_at, updated_at)
VALUES ($1, $2, $3, $3)
ON CONFLICT (key) DO UPDATE
SET last_at = EXCLUDED.last_at, last_enqueued_at = EXCLUDED.last_enqueued_at, updated_at = EXCLUDED.updated_at
WHERE e.last_at IS NULL OR e.last_at < EXCLUDED.last_at
RETURNING key;

-- name: cron_record_job
-- The job of the latest enqueue of entry $1 (scheduled or "enqueue now").
INSERT INTO good_job_cron_entries AS e (key, last_job_id, last_enqueued_at, updated_at)
VALUES ($1, $2, $3, $3)
ON CONFLICT (key) DO UPDATE
SET last_job_id = EXCLUDED.last_job_id, last_enqueued_at = EXCLUDED.last_enqueued_at, updated_at = EXCLUDED.updated_at;

-- name: cron_entries_state
SELECT key, last_at, last_job_id, last_enqueued_at FROM good_job_cron_entries WHERE key = ANY($1::text[]);

-- name: batch_insert
INSERT INTO good_job_batches (id, description, properties, callbacks, created_at, updated_at)
VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $5);

-- name: batch_mark_enqueued
-- The creating block ended: the batch may finish once its jobs have.
UPDATE good_job_batches SET enqueued_at = coalesce(enqueued_at, $2), updated_at = $2 WHERE id = $1 RETURNING id;

-- name: batch_lock
-- Before batch_settle or batch_retry, in the same transaction. Sorted, so that two transactions
-- settling overlapping batches lock them in one order and never deadlock.
SELECT id FROM good_job_batches WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE;

-- name: batch_settle
-- Run after batch_lock as its own statement: its snapshot then includes every job result committed
-- by the lock's previous holders, so of two workers finishing a batch's last two jobs at once, the
-- second to get the lock sees both finished and the first sees one still running. Exactly one of
-- them sets finished_at (and enqueues on_finish / on_success); likewise for discarded_at and
-- on_discard. Retried jobs are queued, so they are not finished.
WITH seen AS (
    SELECT b.id,
           b.discarded_at IS NULL
               AND EXISTS (SELECT 1 FROM good_jobs AS j WHERE j.batch_id = b.id AND j.state = 'discarded')
               AS newly_discarded,
           b.enqueued_at IS NOT NULL AND b.finished_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM good_jobs AS j
                               WHERE j.batch_id = b.id AND j.state IN ('queued', 'running'))
               AS done
    FROM good_job_batches AS b
    WHERE b.id = ANY($1::uuid[])
)
UPDATE good_job_batches AS b
SET discarded_at = CASE WHEN s.newly_discarded THEN $2 ELSE b.discarded_at END,
    finished_at = CASE WHEN s.done THEN $2 ELSE b.finished_at END,
    updated_at = $2
FROM seen AS s
WHERE b.id = s.id AND (s.newly_discarded OR s.done)
RETURNING b.id, b.callbacks::text AS callbacks, s.newly_discarded, s.done,
          b.discarded_at IS NOT NULL AS any_discarded;

-- name: batch_unsettled
-- The sweeper: open batches that need settling because a job finished without a worker's result
-- (an operator discarded it, say). Uses good_job_batches_open and good_jobs_batch.
SELECT b.id FROM good_job_batches AS b
WHERE b.finished_at IS NULL AND b.enqueued_at IS NOT NULL
  AND (NOT EXISTS (SELECT 1 FROM good_jobs AS j WHERE j.batch_id = b.id AND j.state IN ('queued', 'running'))
       OR (b.discarded_at IS NULL
           AND EXISTS (SELECT 1 FROM good_jobs AS j WHERE j.batch_id = b.id AND j.state = 'discarded')))
ORDER BY b.id
LIMIT $1;

-- name: batch_retry
-- Run after batch_lock: the batch's discarded jobs become queued and due now, and the batch is open
-- again (its callbacks may fire once more). NOTIFY per queue, in the enqueue format.
WITH moved AS (
    UPDATE good_jobs
    SET state = 'queued', scheduled_at = $2, finished_at = NULL, error = NULL, error_event = NULL,
        locked_by_id = NULL, locked_at = NULL, updated_at = $2
    WHERE batch_id = $1 AND state = 'discarded'
    RETURNING id, queue_name
), reopened AS (
    UPDATE good_job_batches SET finished_at = NULL, discarded_at = NULL, updated_at = $2
    WHERE id = $1 AND EXISTS (SELECT 1 FROM moved)
), notified AS (
    SELECT good_job_notify(queue_name, json_build_object(
               'queue', queue_name, 'at', extract(epoch FROM $2::timestamptz), 'count', count(*))::text)
    FROM moved GROUP BY queue_name
)
SELECT (SELECT count(*) FROM moved) AS retried, (SELECT count(*) FROM notified) AS queues;

-- name: batch_get
SELECT id, description, properties::text AS properties, callbacks::text AS callbacks, enqueued_at,
       discarded_at, finished_at, created_at, updated_at
FROM good_job_batches WHERE id = $1;

-- name: batch_list
-- Newest first (ids are time-ordered UUIDs), keyset-paginated on id ($1: the last id seen).
SELECT id, description, properties::text AS properties, callbacks::text AS callbacks, enqueued_at,
       discarded_at, finished_at, created_at, updated_at
FROM good_job_batches
WHERE $1::uuid IS NULL OR id < $1
ORDER BY id DESC
LIMIT $2;

-- name: batch_counts
-- Jobs per batch and state: index-only on good_jobs_batch.
SELECT batch_id, state, count(*) AS n FROM good_jobs WHERE batch_id = ANY($1::uuid[]) GROUP BY batch_id, state;

-- name: batch_jobs
-- A batch's jobs in creation order (time-ordered ids), keyset-paginated on id.
SELECT id, queue_name, priority, job_class, state, scheduled_at, performed_at, finished_at, error,
       executions_count, labels, created_at
FROM good_jobs
WHERE batch_id = $1 AND ($2::uuid IS NULL OR id > $2)
ORDER BY id
LIMIT $3;

-- name: batch_cleanup
-- Finished batches older than $1 whose jobs the job cleanup has already deleted.
DELETE FROM good_job_batches AS b
WHERE b.id IN (SELECT id FROM good_job_batches AS o
               WHERE o.finished_at < $1
                 AND NOT EXISTS (SELECT 1 FROM good_jobs AS j WHERE j.batch_id = o.id)
               LIMIT $2);

-- name: label_jobs
-- Jobs carrying label $1 (and state $2, if given), newest first, keyset-paginated on (created_at, id).
-- labels @> ARRAY[...] is what the partial GIN index good_jobs_labels serves.
SELECT id, queue_name, priority, job_class, state, scheduled_at, finished_at, error, executions_count,
       labels, batch_id, cron_key, created_at
FROM good_jobs
WHERE labels @> ARRAY[$1::text] AND ($2::text IS NULL OR state = $2)
  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $5;
