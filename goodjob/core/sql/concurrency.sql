-- Concurrency controls by key (goodjob/core/concurrency.py; design in docs/concurrency.md).
-- Advisory lock namespaces (the two-int form, so they never meet the one-bigint locks of processes
-- and migrations): 1735000065 = 0x676A0001 guards enqueue checks, 1735000066 = 0x676A0002 guards
-- perform checks (also hard-coded in good_job_concurrency_claimable, migration 0003). Enqueuers and
-- claimers use different namespaces so that neither ever makes the other skip or wait.

-- name: concurrency_lock_enqueue
-- Held until the enqueuing transaction ends: the next enqueuer with this key counts after our commit.
SELECT pg_advisory_xact_lock(1735000065, hashtext($1));

-- name: concurrency_enqueue_counts
-- Run after concurrency_lock_enqueue, as its own statement, so that its snapshot includes the rows
-- the lock's previous holder committed. $2 is the start of the enqueue_throttle window (NULL: no
-- throttle); with a throttle, a few expired events (of any key) are pruned on the way.
WITH pruned AS (
    DELETE FROM good_job_concurrency_events WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM good_job_concurrency_events WHERE $2::timestamptz IS NOT NULL AND expires_at < $3
        ORDER BY expires_at LIMIT 16 FOR UPDATE SKIP LOCKED))
)
SELECT (SELECT count(*) FROM good_jobs WHERE concurrency_key = $1 AND state = 'queued') AS queued,
       (SELECT count(*) FROM good_jobs WHERE concurrency_key = $1 AND state = 'running') AS running,
       (SELECT count(*) FROM good_job_concurrency_events
        WHERE $2::timestamptz IS NOT NULL AND concurrency_key = $1 AND kind = 'enqueue' AND at > $2) AS recent;

-- name: concurrency_insert_job
-- insert_job plus the job's perform rules ($13-$15) and, with $16, an enqueue event for the throttle
-- (whose window is $17 seconds).
WITH ins AS (
    INSERT INTO good_jobs (id, queue_name, priority, job_class, serialized_params, scheduled_at,
                           concurrency_key, labels, batch_id, cron_key, cron_at, created_at, updated_at,
                           concurrency_perform_limit, concurrency_perform_throttle, concurrency_perform_period)
    VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15)
    ON CONFLICT DO NOTHING
    RETURNING id, queue_name, scheduled_at, concurrency_key
), enqueued AS (
    INSERT INTO good_job_concurrency_events (concurrency_key, kind, at, expires_at, job_id)
    SELECT concurrency_key, 'enqueue', $12, $12 + make_interval(secs => $17::float8), id FROM ins WHERE $16::bool
)
SELECT pg_notify('good_job', json_build_object(
           'queue', queue_name, 'at', extract(epoch FROM scheduled_at), 'count', 1)::text) IS NULL AS inserted
FROM ins;

-- name: concurrency_claim_all
-- claim_all, except that rows carrying perform rules pass good_job_concurrency_claimable; rows
-- without rules pay two NULL tests, and the statement keeps claim_all's shape (no extra CTE or
-- INSERT: measured, those cost more than the filter). concurrency_checked tells the scheduler the
-- claim enforced the row's rules; for a throttled row the scheduler then writes the perform event
-- before the job runs (until then the filter counts the running row itself).
WITH next AS (
    SELECT id FROM good_jobs
    WHERE state = 'queued' AND scheduled_at <= $2
      AND NOT (queue_name = ANY($4::text[])) AND NOT (job_class = ANY($5::text[]))  -- paused queues, classes
      AND (concurrency_perform_limit IS NULL AND concurrency_perform_throttle IS NULL
           OR good_job_concurrency_claimable(id, concurrency_key, concurrency_perform_limit,
                                             concurrency_perform_throttle, concurrency_perform_period, $2))
    ORDER BY priority, scheduled_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE good_jobs AS j
SET state = 'running', locked_by_id = $3, locked_at = $2, performed_at = $2,
    executions_count = j.executions_count + 1, updated_at = $2
FROM next WHERE j.id = next.id
RETURNING j.id, j.queue_name, j.priority, j.job_class, j.serialized_params::text AS params,
          j.scheduled_at, j.executions_count, j.concurrency_key, j.batch_id, j.labels, j.created_at,
          j.concurrency_perform_limit IS NOT NULL OR j.concurrency_perform_throttle IS NOT NULL
              AS concurrency_checked,
          j.concurrency_perform_throttle, j.concurrency_perform_period;

-- name: concurrency_claim_queues
-- claim_queues with the same filter and extra columns as concurrency_claim_all.
WITH next AS (
    SELECT c.id
    FROM unnest($4::text[]) WITH ORDINALITY AS q(name, ord)
    CROSS JOIN LATERAL (
        SELECT id, priority, scheduled_at FROM good_jobs
        WHERE state = 'queued' AND queue_name >= q.name AND queue_name <= q.name AND scheduled_at <= $2
          AND NOT (job_class = ANY($6::text[]))  -- paused job classes (core/pauses.py)
          AND (concurrency_perform_limit IS NULL AND concurrency_perform_throttle IS NULL
               OR good_job_concurrency_claimable(id, concurrency_key, concurrency_perform_limit,
                                                 concurrency_perform_throttle, concurrency_perform_period, $2))
        -- `queue_name = q.name` spelled as a range, and ordered by: with an equality the planner
        -- treats queue_name as constant, and a generic plan may then walk good_jobs_claim_all
        -- through every other queue's rows (measured: 260 ms at 1M rows). As a range only
        -- good_jobs_claim_queue delivers this order, so every plan probes one queue's entries.
        ORDER BY queue_name, priority, scheduled_at, id
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    ) AS c
    ORDER BY CASE WHEN $5::bool THEN q.ord ELSE 0 END, c.priority, c.scheduled_at, c.id
    LIMIT $1
)
UPDATE good_jobs AS j
SET state = 'running', locked_by_id = $3, locked_at = $2, performed_at = $2,
    executions_count = j.executions_count + 1, updated_at = $2
FROM next WHERE j.id = next.id
RETURNING j.id, j.queue_name, j.priority, j.job_class, j.serialized_params::text AS params,
          j.scheduled_at, j.executions_count, j.concurrency_key, j.batch_id, j.labels, j.created_at,
          j.concurrency_perform_limit IS NOT NULL OR j.concurrency_perform_throttle IS NOT NULL
              AS concurrency_checked,
          j.concurrency_perform_throttle, j.concurrency_perform_period;

-- name: concurrency_lock_perform
-- The check before perform for rows the claim did not filter (inline mode, rows enqueued without
-- stored rules): the same namespace as the claim's filter, so the two exclude each other.
SELECT pg_advisory_xact_lock(1735000066, hashtext($1));

-- name: concurrency_admit_counts
-- Run after concurrency_lock_perform. The rules stored on the row win; the class's ($3-$5) apply to
-- rows enqueued without any. `running` excludes the job itself (it is already claimed).
WITH stored AS (
    SELECT concurrency_perform_limit IS NULL AND concurrency_perform_throttle IS NULL AS bare,
           concurrency_perform_limit AS perform_limit, concurrency_perform_throttle AS throttle,
           concurrency_perform_period AS period
    FROM good_jobs WHERE id = $2
), rules AS (
    SELECT CASE WHEN bare THEN $3::int ELSE perform_limit END AS perform_limit,
           CASE WHEN bare THEN $4::int ELSE throttle END AS throttle,
           CASE WHEN bare THEN $5::float8 ELSE period END AS period
    FROM stored
)
SELECT r.perform_limit, r.throttle, r.period,
       (SELECT count(*) FROM good_jobs
        WHERE concurrency_key = $1 AND state = 'running' AND id <> $2) AS running,
       (SELECT count(*) FROM good_job_concurrency_events
        WHERE r.throttle IS NOT NULL AND concurrency_key = $1 AND kind = 'perform'
          AND at > $6::timestamptz - make_interval(secs => r.period))
       + (SELECT count(*) FROM good_jobs AS g
          WHERE r.throttle IS NOT NULL AND g.concurrency_key = $1 AND g.state = 'running' AND g.id <> $2
            AND g.performed_at > $6::timestamptz - make_interval(secs => r.period)
            AND NOT EXISTS (SELECT 1 FROM good_job_concurrency_events AS e
                            WHERE e.concurrency_key = $1 AND e.kind = 'perform' AND e.job_id = g.id
                              AND e.at >= g.performed_at)) AS recent,
       (SELECT min(at) FROM good_job_concurrency_events
        WHERE r.throttle IS NOT NULL AND concurrency_key = $1 AND kind = 'perform'
          AND at > $6::timestamptz - make_interval(secs => r.period)) AS oldest,
       (SELECT count(*) FROM good_job_executions WHERE job_id = $2 AND outcome = 'throttled') AS throttles
FROM rules AS r;

-- name: concurrency_record_perform
-- A perform of a throttled key, written before the job runs: one event, and a few expired events
-- pruned.
WITH pruned AS (
    DELETE FROM good_job_concurrency_events WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM good_job_concurrency_events WHERE expires_at < $2
        ORDER BY expires_at LIMIT 16 FOR UPDATE SKIP LOCKED))
)
INSERT INTO good_job_concurrency_events (concurrency_key, kind, at, expires_at, job_id)
VALUES ($1, 'perform', $2, $2 + make_interval(secs => $3::float8), $4);
