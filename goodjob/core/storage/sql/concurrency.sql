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
SELECT pg_notify('good_job', n.payload) IS NULL AS inserted, pg_notify($18, n.payload) IS NULL AS queue_notified
FROM (SELECT json_build_object('queue', queue_name, 'at', extract(epoch FROM scheduled_at), 'count', 1)::text
      AS payload FROM ins) AS n;  -- as insert_job ($18: the queue's channel)

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
