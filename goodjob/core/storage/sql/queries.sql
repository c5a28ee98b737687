-- Every query goodjob runs, by name. store.py is the only reader of this file.
-- Parameters are asyncpg's $n; time-dependent queries take `now` as a parameter so that tests can
-- move the clock and every process agrees on one notion of time per statement.

-- name: insert_job
-- One round trip: the row and its NOTIFY commit (or roll back) together with the caller's transaction.
-- Announced on the shared channel and on the queue's ($13, named by storage/channels.py: computing
-- it here, as good_job_notify does, costs the server ~50 us per statement).
WITH ins AS (
    INSERT INTO good_jobs (id, queue_name, priority, job_class, serialized_params, scheduled_at,
                           concurrency_key, labels, batch_id, cron_key, cron_at, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $12)
    ON CONFLICT DO NOTHING
    RETURNING queue_name, scheduled_at
)
SELECT pg_notify('good_job', n.payload) IS NULL AS inserted, pg_notify($13, n.payload) IS NULL AS queue_notified
FROM (SELECT json_build_object('queue', queue_name, 'at', extract(epoch FROM scheduled_at), 'count', 1)::text
      AS payload FROM ins) AS n;

-- name: insert_jobs
-- Bulk enqueue: one statement for any number of rows, plus one announcement per queue ($11: payloads
-- the caller built, with each queue's earliest time and count; $12: their queue channels), each on
-- the shared channel and its queue's (storage/channels.py). They ride in the same statement,
-- so they are sent only if the rows commit; building them in Python spares the server a RETURNING
-- and a GROUP BY over every inserted row.
WITH ins AS (
    INSERT INTO good_jobs (id, queue_name, priority, job_class, serialized_params, scheduled_at,
                           concurrency_key, labels, batch_id, created_at, updated_at)
    SELECT u.id, u.queue_name, u.priority, u.job_class, u.params::jsonb, u.scheduled_at,
           u.concurrency_key, NULLIF(string_to_array(u.labels, chr(31)), '{}'), u.batch_id, $10, $10
    FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[], $6::timestamptz[],
                $7::text[], $8::text[], $9::uuid[])
         AS u(id, queue_name, priority, job_class, params, scheduled_at, concurrency_key, labels, batch_id)
)
SELECT count(*) AS queues FROM unnest($11::text[], $12::text[]) AS n(payload, channel)
CROSS JOIN LATERAL pg_notify('good_job', n.payload) AS shared CROSS JOIN LATERAL pg_notify(n.channel, n.payload) AS own;

-- name: insert_jobs_uniform
-- Bulk enqueue of jobs that share queue, priority, class and time and carry no concurrency key,
-- labels or batch (what one `job.set(...).new(...)` per element builds): those columns go once, as
-- scalars, the ids as an array and the arguments as one JSON array ($2), paired by position.
-- Encoding one array element per job and column was a fifth of the client's time in a bulk
-- enqueue, and each text element is type-checked by the driver (a third of the rest): one JSON
-- text is built by a join and parsed by Postgres in one pass. $7: the NOTIFY payload, $9: the
-- queue's channel.
WITH ins AS (
    INSERT INTO good_jobs (id, queue_name, priority, job_class, serialized_params, scheduled_at,
                           created_at, updated_at)
    SELECT u.id, $3, $4, $5, u.params, $6, $8, $8
    FROM ROWS FROM (unnest($1::uuid[]), jsonb_array_elements($2::jsonb)) AS u(id, params)
)
SELECT pg_notify('good_job', $7), pg_notify($9, $7);

-- name: claim_perform_rules
-- The claims' concurrency filter (claim_all, claim_queues, claim_queue include it): rows carrying
-- perform rules (core/concurrency.py) pass good_job_concurrency_claimable; rows without pay two
-- NULL tests. $2: the claim's time.
AND (concurrency_perform_limit IS NULL AND concurrency_perform_throttle IS NULL
     OR good_job_concurrency_claimable(id, concurrency_key, concurrency_perform_limit,
                                       concurrency_perform_throttle, concurrency_perform_period, $2));

-- name: claim_update
-- The end of every claim (claim_all, claim_queues, claim_queue include it): mark the rows of the
-- `next` CTE running under process $3 at $2 and return what ClaimedJob.from_record reads.
UPDATE good_jobs AS j
SET state = 'running', locked_by_id = $3, locked_at = $2, performed_at = $2,
    executions_count = j.executions_count + 1, updated_at = $2
FROM next WHERE j.id = next.id
RETURNING j.id, j.queue_name, j.priority, j.job_class, j.serialized_params::text AS params,
          j.scheduled_at, j.executions_count, j.concurrency_key, j.batch_id, j.labels, j.created_at,
          j.concurrency_perform_limit IS NOT NULL OR j.concurrency_perform_throttle IS NOT NULL
              AS concurrency_checked,
          j.concurrency_perform_throttle, j.concurrency_perform_period;

-- name: claim_all
-- "*" pools: the next due jobs of every queue, skipping rows other workers hold. Rows carrying
-- perform rules (core/concurrency.py) pass good_job_concurrency_claimable; rows without rules pay
-- two NULL tests, and the statement keeps claim_all's shape (no extra CTE or
-- INSERT: measured, those cost more than the filter). concurrency_checked tells the scheduler the
-- claim enforced the row's rules; for a throttled row the scheduler then writes the perform event
-- before the job runs (until then the filter counts the running row itself).
WITH next AS (
    SELECT id FROM good_jobs
    WHERE state = 'queued' AND scheduled_at <= $2
      AND NOT (queue_name = ANY($4::text[])) AND NOT (job_class = ANY($5::text[]))  -- paused queues, classes
      -- include: claim_perform_rules
    ORDER BY priority, scheduled_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
-- include: claim_update

-- name: claim_queues
-- Include and "+" pools: one index probe per named queue ($4), merged. With $5 true the queue's
-- position in $4 orders before priority. Same concurrency filter and columns as claim_all.
WITH next AS (
    SELECT c.id
    FROM unnest($4::text[]) WITH ORDINALITY AS q(name, ord)
    CROSS JOIN LATERAL (
        SELECT id, priority, scheduled_at FROM good_jobs
        WHERE state = 'queued' AND queue_name >= q.name AND queue_name <= q.name AND scheduled_at <= $2
          AND NOT (job_class = ANY($6::text[]))  -- paused job classes (core/pauses.py)
          -- include: claim_perform_rules
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
-- include: claim_update

-- name: claim_queue
-- A pool of one named queue (the usual `--queues=mail:5`): claim_queues without the unnest, the
-- LATERAL join and the outer sort. Postgres plans the claim on every execution (its generic plan is
-- estimated dearer, so a prepared claim keeps custom plans; test_schema checks both), and this
-- shape plans and runs faster: 0.42 -> 0.30 ms planning, 0.44 -> 0.37 ms execution at 1M rows.
-- $4: the queue (spelled as a range, as in claim_queues), $5: paused job classes.
WITH next AS (
    SELECT id FROM good_jobs
    WHERE state = 'queued' AND queue_name >= $4 AND queue_name <= $4 AND scheduled_at <= $2
      AND NOT (job_class = ANY($5::text[]))  -- paused job classes (core/pauses.py)
      -- include: claim_perform_rules
    ORDER BY queue_name, priority, scheduled_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
-- include: claim_update

-- name: claim_deleting
-- A prefix for claim_all, claim_queues and claim_queue (store.py joins them): the same claim, and in the same
-- statement the deletion of rows this process finished since its last claim ($0 stands for the
-- next free parameter number). A worker draining a queue then pays one round trip and one commit
-- per claim for both, instead of a claim plus a separate write of the results.
WITH gone AS (
    DELETE FROM good_jobs WHERE id = ANY($0::uuid[]) AND locked_by_id = $3 AND state = 'running'
),

-- name: waiting_queue_names
-- The queues that have waiting jobs, by a loose index scan: one probe per distinct queue, not per row.
-- Exclusion pools turn "-a,b" into the list of the other queues with this.
WITH RECURSIVE qs(name) AS (
    (SELECT queue_name FROM good_jobs WHERE state = 'queued' ORDER BY queue_name LIMIT 1)
    UNION ALL
    SELECT (SELECT queue_name FROM good_jobs
            WHERE state = 'queued' AND queue_name > qs.name ORDER BY queue_name LIMIT 1)
    FROM qs WHERE qs.name IS NOT NULL
)
SELECT name FROM qs WHERE name IS NOT NULL;

-- name: claim_job
-- Inline mode and the local fast path: claim one known job if it is still due.
UPDATE good_jobs AS j
SET state = 'running', locked_by_id = $3, locked_at = $2, performed_at = $2,
    executions_count = j.executions_count + 1, updated_at = $2
WHERE j.id = (SELECT id FROM good_jobs WHERE id = $1 AND state = 'queued' AND scheduled_at <= $2
              FOR UPDATE SKIP LOCKED)
RETURNING j.id, j.queue_name, j.priority, j.job_class, j.serialized_params::text AS params,
          j.scheduled_at, j.executions_count, j.concurrency_key, j.batch_id, j.labels, j.created_at;

-- name: due_job_ids
-- Inline mode's helper: the jobs that are due now, in claim order.
SELECT id FROM good_jobs
WHERE state = 'queued' AND scheduled_at <= $1
ORDER BY priority, scheduled_at, id
LIMIT $2;

-- name: all_waiting_priorities
-- The distinct priorities of waiting jobs, by a loose index scan of good_jobs_claim_all: one probe
-- per priority, not per row.
WITH RECURSIVE ps(p) AS (
    (SELECT priority FROM good_jobs WHERE state = 'queued' ORDER BY priority LIMIT 1)
    UNION ALL
    SELECT (SELECT priority FROM good_jobs WHERE state = 'queued' AND priority > ps.p ORDER BY priority LIMIT 1)
    FROM ps WHERE ps.p IS NOT NULL
)
SELECT p FROM ps WHERE p IS NOT NULL;

-- name: fresh_plan_session
-- For the rest of this transaction (store.fetch_fresh_plan): no JIT, a custom plan per execution.
SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true);

-- name: future_scheduled
-- Warm the scheduled-time cache at start: the soonest future jobs (retries included), per matching
-- pool filter later. Read from good_jobs_claim_all one range per priority, each from now on and
-- stopping at $2, so a backlog of due jobs is never read. One scan with `scheduled_at > $1` over
-- every queued row read the whole backlog: 190 ms at 1M queued jobs.
SELECT f.queue_name, f.scheduled_at FROM (
    -- include: all_waiting_priorities
) AS q
CROSS JOIN LATERAL (
    SELECT queue_name, scheduled_at FROM good_jobs
    WHERE state = 'queued' AND priority = q.p AND scheduled_at > $1
    ORDER BY scheduled_at LIMIT $2
) AS f
ORDER BY f.scheduled_at
LIMIT $2;

-- name: delete_finished
-- Results: finished jobs that are not preserved. Guarded by the claim so a recovered job is untouched.
DELETE FROM good_jobs WHERE id = ANY($1::uuid[]) AND locked_by_id = $2 AND state = 'running'
RETURNING id;

-- name: record_results
-- Results: every other outcome in one statement. A NULL scheduled_at keeps the old value.
-- A row an operator cancelled (cancelled_at, migration 0008) never goes back to the queue: an
-- outcome that would requeue it (interrupted, retried, snoozed) discards it instead. This covers a
-- cancel that reached the database but not (yet) this process.
UPDATE good_jobs AS j
SET state = CASE WHEN j.cancelled_at IS NOT NULL AND u.state = 'queued' THEN 'discarded' ELSE u.state END,
    finished_at = CASE WHEN j.cancelled_at IS NOT NULL AND u.state = 'queued' THEN $8 ELSE u.finished_at END,
    error = CASE WHEN j.cancelled_at IS NOT NULL AND u.state = 'queued' THEN 'cancelled by operator' ELSE u.error END,
    error_event = CASE WHEN j.cancelled_at IS NOT NULL AND u.state = 'queued' THEN 'cancelled' ELSE u.error_event END,
    scheduled_at = COALESCE(u.scheduled_at, j.scheduled_at),
    executions_count = j.executions_count + u.executions_delta,
    locked_by_id = NULL, locked_at = NULL, updated_at = $8
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::timestamptz[],
            $7::int[])
     AS u(id, state, finished_at, error, error_event, scheduled_at, executions_delta)
WHERE j.id = u.id AND j.locked_by_id = $9 AND j.state = 'running'
RETURNING j.id;

-- name: record_outcomes
-- Results in ONE statement (one round trip, autocommit): delete the finished rows that are not kept
-- ($1), update the others ($3..$9) and insert their executions ($11..$22, only for rows this
-- process still held). Each write is guarded by the claim ($2). The time from a job's end to this
-- commit is the window in which a SIGKILL makes a finished job run again: a transaction of four
-- round trips (BEGIN, UPDATE, INSERT, COMMIT) made it about four times as long.
WITH gone AS (
    DELETE FROM good_jobs WHERE id = ANY($1::uuid[]) AND locked_by_id = $2 AND state = 'running'
    RETURNING id
), kept AS (
    UPDATE good_jobs AS j
    -- An operator's cancel (cancelled_at) turns an outcome that would requeue the row into a
    -- discard, as in record_results.
    SET state = CASE WHEN j.cancelled_at IS NOT NULL AND u.state = 'queued' THEN 'discarded' ELSE u.state END,
        finished_at = CASE WHEN j.cancelled_at IS NOT NULL AND u.state = 'queued' THEN $10 ELSE u.finished_at END,
        error = CASE WHEN j.cancelled_at IS NOT NULL AND u.state = 'queued' THEN 'cancelled by operator'
                     ELSE u.error END,
        error_event = CASE WHEN j.cancelled_at IS NOT NULL AND u.state = 'queued' THEN 'cancelled'
                           ELSE u.error_event END,
        scheduled_at = COALESCE(u.scheduled_at, j.scheduled_at),
        executions_count = j.executions_count + u.executions_delta,
        locked_by_id = NULL, locked_at = NULL, updated_at = $10
    FROM unnest($3::uuid[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::timestamptz[],
                $9::int[])
         AS u(id, state, finished_at, error, error_event, scheduled_at, executions_delta)
    WHERE j.id = u.id AND j.locked_by_id = $2 AND j.state = 'running'
    RETURNING j.id
), history AS (
    INSERT INTO good_job_executions (job_id, process_id, attempt, queue_name, job_class, scheduled_at,
                                     started_at, finished_at, duration_ms, outcome, error_class, error,
                                     error_backtrace)
    SELECT u.job_id, $2, u.attempt, u.queue_name, u.job_class, u.scheduled_at, u.started_at, u.finished_at,
           u.duration_ms, u.outcome, u.error_class, u.error, u.error_backtrace
    FROM unnest($11::uuid[], $12::int[], $13::text[], $14::text[], $15::timestamptz[], $16::timestamptz[],
                $17::timestamptz[], $18::float8[], $19::text[], $20::text[], $21::text[], $22::text[])
         AS u(job_id, attempt, queue_name, job_class, scheduled_at, started_at, finished_at, duration_ms,
              outcome, error_class, error, error_backtrace)
    WHERE u.job_id IN (SELECT id FROM kept)
)
SELECT id FROM kept;

-- name: insert_executions
INSERT INTO good_job_executions (job_id, process_id, attempt, queue_name, job_class, scheduled_at,
                                 started_at, finished_at, duration_ms, outcome, error_class, error,
                                 error_backtrace)
SELECT u.job_id, $1, u.attempt, u.queue_name, u.job_class, u.scheduled_at, u.started_at, u.finished_at,
       u.duration_ms, u.outcome, u.error_class, u.error, u.error_backtrace
FROM unnest($2::uuid[], $3::int[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
            $8::timestamptz[], $9::float8[], $10::text[], $11::text[], $12::text[], $13::text[])
     AS u(job_id, attempt, queue_name, job_class, scheduled_at, started_at, finished_at, duration_ms,
          outcome, error_class, error, error_backtrace)
WHERE EXISTS (SELECT 1 FROM good_jobs WHERE good_jobs.id = u.job_id);

-- name: register_process
-- heartbeat_at is the database's clock, like every liveness comparison: machines' clocks differ.
INSERT INTO good_job_processes (id, hostname, pid, queues, max_threads, lock_key, execution_mode,
                                started_at, heartbeat_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, clock_timestamp());

-- name: lock_process
SELECT pg_try_advisory_lock($1) AS locked;

-- name: heartbeat
UPDATE good_job_processes SET heartbeat_at = clock_timestamp() WHERE id = $1 RETURNING id;

-- name: deregister_process
DELETE FROM good_job_processes WHERE id = $1;

-- name: heartbeat_sweep
-- A process's one periodic statement (see liveness.py): its heartbeat; whether it is the sweeper
-- (lock mode, $2 = 'lock', on the session connection: it holds advisory lock $4 (tried unless $3
-- says it already does); lease mode: no fresher process has a smaller id); for the sweeper the
-- suspects (inline callers: a row per inline perform, no lock, no heartbeat: row older than $8 s;
-- lock_key 0 = lease liveness: heartbeat older than $5 s; else: liveness lock free and heartbeat
-- older than $6 s) and the orphans (running rows older than $9 s whose process row is gone: their
-- process stopped without writing their results, see orphaned_running_jobs); the live worker
-- processes ($5 s) when their digest differs from $7; and the pause settings, the slow safety
-- re-read behind the pause NOTIFY. Inline callers' rows are neither sweepers nor members.
WITH beat AS (
    UPDATE good_job_processes SET heartbeat_at = clock_timestamp() WHERE id = $1 RETURNING id
), lead AS MATERIALIZED (
    SELECT CASE
        WHEN $2::text = 'lock' THEN $3::bool OR pg_try_advisory_lock($4::bigint)
        WHEN $2::text = 'lease' THEN NOT EXISTS (
            SELECT 1 FROM good_job_processes AS p
            WHERE p.id < $1 AND p.execution_mode <> 'inline'
              AND p.heartbeat_at > clock_timestamp() - make_interval(secs => $5::float8))
        ELSE false
    END AS yes
), members AS MATERIALIZED (
    SELECT coalesce(string_agg(p.id::text || ' ' || p.max_threads || ' ' || p.queues, chr(10) ORDER BY p.id), '')
           AS list
    FROM good_job_processes AS p
    WHERE p.id = $1 OR (p.execution_mode <> 'inline'
                        AND p.heartbeat_at > clock_timestamp() - make_interval(secs => $5::float8))
)
SELECT EXISTS (SELECT 1 FROM beat) AS alive,
       lead.yes AS leader,
       clock_timestamp() AS observed_at,
       CASE WHEN lead.yes THEN ARRAY(
           SELECT p.id FROM good_job_processes AS p
           WHERE p.id <> $1 AND (
               (p.execution_mode = 'inline' AND p.heartbeat_at < clock_timestamp() - make_interval(secs => $8::float8))
               OR (p.execution_mode <> 'inline' AND p.lock_key = 0
                   AND p.heartbeat_at < clock_timestamp() - make_interval(secs => $5::float8))
               OR (p.execution_mode <> 'inline' AND p.lock_key <> 0
                   AND p.heartbeat_at < clock_timestamp() - make_interval(secs => $6::float8)
                   AND NOT EXISTS (
                       SELECT 1 FROM pg_locks AS l
                       WHERE l.locktype = 'advisory' AND l.granted
                         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                         AND l.classid = ((p.lock_key >> 32) & 4294967295)::oid
                         AND l.objid = (p.lock_key & 4294967295)::oid AND l.objsubid = 1)))
       ) ELSE '{}'::uuid[] END AS suspects,
       CASE WHEN lead.yes THEN ARRAY(
           SELECT j.id FROM good_jobs AS j
           WHERE j.state = 'running' AND j.locked_at < clock_timestamp() - make_interval(secs => $9::float8)
             AND NOT EXISTS (SELECT 1 FROM good_job_processes AS p WHERE p.id = j.locked_by_id)
       ) ELSE '{}'::uuid[] END AS orphans,
       CASE WHEN md5(members.list) = $7::text THEN NULL ELSE members.list END AS members,
       md5(members.list) AS digest,
       (SELECT value::text FROM good_job_settings WHERE key = 'paused_queues') AS paused_queues,
       (SELECT value::text FROM good_job_settings WHERE key = 'paused_job_classes') AS paused_job_classes
FROM lead, members;

-- name: dead_processes
-- Suspects, as heartbeat_sweep finds them ($2: lease seconds, $3: grace seconds, $4: inline age
-- seconds), for a process that is not the sweeper (start, tests). Returns when it looked, for
-- confirm_dead_processes. pg_locks is read instead of trying the locks so that checking never
-- takes anyone's lock.
SELECT p.id, clock_timestamp() AS observed_at FROM good_job_processes AS p
WHERE p.id <> $1 AND (
    (p.execution_mode = 'inline' AND p.heartbeat_at < clock_timestamp() - make_interval(secs => $4::float8))
    OR (p.execution_mode <> 'inline' AND p.lock_key = 0
        AND p.heartbeat_at < clock_timestamp() - make_interval(secs => $2::float8))
    OR (p.execution_mode <> 'inline' AND p.lock_key <> 0
        AND p.heartbeat_at < clock_timestamp() - make_interval(secs => $3::float8)
        AND NOT EXISTS (
            SELECT 1 FROM pg_locks AS l
            WHERE l.locktype = 'advisory' AND l.granted
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.classid = ((p.lock_key >> 32) & 4294967295)::oid
              AND l.objid = (p.lock_key & 4294967295)::oid AND l.objsubid = 1)));

-- name: confirm_dead_processes
-- The second look, a moment after the first ($2: when that was): still dead, and no heartbeat since.
-- A process whose liveness connection dropped writes a heartbeat at once (through its pool), so it
-- fails this check and keeps its jobs. Row locks keep two sweepers from releasing the same process.
-- Inline callers' rows were found by age ($4 s), which a second look cannot change.
SELECT p.id FROM good_job_processes AS p
WHERE p.id = ANY($1::uuid[]) AND p.heartbeat_at < $2 AND (
    (p.execution_mode = 'inline' AND p.heartbeat_at < clock_timestamp() - make_interval(secs => $4::float8))
    OR (p.execution_mode <> 'inline' AND p.lock_key = 0
        AND p.heartbeat_at < clock_timestamp() - make_interval(secs => $3::float8))
    OR (p.execution_mode <> 'inline' AND p.lock_key <> 0
        AND NOT EXISTS (
            SELECT 1 FROM pg_locks AS l
            WHERE l.locktype = 'advisory' AND l.granted
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.classid = ((p.lock_key >> 32) & 4294967295)::oid
              AND l.objid = (p.lock_key & 4294967295)::oid AND l.objsubid = 1)))
FOR UPDATE SKIP LOCKED;

-- name: orphaned_running_jobs
-- Running jobs whose process row is gone: its process stopped without writing their results
-- (it gave up at shutdown, or its row was deleted by hand). Every claimer has a process row
-- while it holds rows (workers from start to stop, inline callers per perform), so such a row
-- belongs to nobody once it is older than the grace period ($1).
SELECT j.id FROM good_jobs AS j
WHERE j.state = 'running' AND j.locked_at < $1
  AND NOT EXISTS (SELECT 1 FROM good_job_processes AS p WHERE p.id = j.locked_by_id);

-- name: release_jobs_of
-- Recovery: make the running jobs of dead processes (or the given orphan ids, if still without a
-- process row: one seen a moment ago may have been recovered and claimed again since) runnable
-- again, and record each interruption as an execution. scheduled_at is left alone: an interrupted
-- job keeps its place in line (priority, then its original time) instead of waiting behind the
-- backlog. A job an operator cancelled (cancelled_at) is discarded instead.
WITH released AS (
    UPDATE good_jobs AS j
    SET state = CASE WHEN j.cancelled_at IS NULL THEN 'queued' ELSE 'discarded' END,
        finished_at = CASE WHEN j.cancelled_at IS NULL THEN NULL ELSE $3::timestamptz END,
        locked_by_id = NULL, locked_at = NULL,
        error = CASE WHEN j.cancelled_at IS NULL THEN 'goodjob.core.errors.InterruptedJobError: ' || $4
                     ELSE 'cancelled by operator' END,
        error_event = CASE WHEN j.cancelled_at IS NULL THEN 'interrupted' ELSE 'cancelled' END, updated_at = $3
    WHERE j.state = 'running' AND (
        j.locked_by_id = ANY($1::uuid[])
        OR j.id = ANY($2::uuid[]) AND NOT EXISTS (SELECT 1 FROM good_job_processes AS p WHERE p.id = j.locked_by_id))
    RETURNING j.id, j.locked_at, j.executions_count, j.queue_name, j.job_class, j.scheduled_at, j.performed_at
), history AS (
    INSERT INTO good_job_executions (job_id, process_id, attempt, queue_name, job_class, scheduled_at,
                                     started_at, finished_at, outcome, error_class, error)
    SELECT r.id, NULL, r.executions_count, r.queue_name, r.job_class, r.scheduled_at,
           COALESCE(r.performed_at, $3), $3, 'interrupted', 'goodjob.core.errors.InterruptedJobError', $4
    FROM released AS r
)
SELECT r.id, r.queue_name FROM released AS r;

-- name: delete_processes
DELETE FROM good_job_processes WHERE id = ANY($1::uuid[]);

-- name: release_own_jobs
-- Shutdown: give back jobs this process claimed but never started.
UPDATE good_jobs SET state = 'queued', locked_by_id = NULL, locked_at = NULL,
    executions_count = executions_count - 1, updated_at = $3
WHERE id = ANY($1::uuid[]) AND locked_by_id = $2 AND state = 'running';

-- name: release_claims
-- A claim statement that raised may still have committed (connection cut after the commit, a row
-- the client could not decode). Its rows are found by the claim's timestamp ($2, unique per process)
-- and given back as if never claimed.
UPDATE good_jobs SET state = 'queued', locked_by_id = NULL, locked_at = NULL,
    executions_count = executions_count - 1, updated_at = $3
WHERE locked_by_id = $1 AND state = 'running' AND locked_at = ANY($2::timestamptz[])
RETURNING id;

-- name: get_job
SELECT id, queue_name, priority, job_class, serialized_params::text AS params, state, scheduled_at,
       performed_at, finished_at, error, error_event, executions_count, concurrency_key, cron_key,
       cron_at, batch_id, labels, locked_by_id, locked_at, created_at, updated_at
FROM good_jobs WHERE id = $1;

-- name: job_executions
SELECT id, job_id, process_id, attempt, queue_name, job_class, scheduled_at, started_at, finished_at,
       duration_ms, outcome, error_class, error, error_backtrace
FROM good_job_executions WHERE job_id = $1 ORDER BY id;

-- name: schema_version
SELECT coalesce(max(version), 0) AS version FROM good_job_schema_migrations;

-- name: migration_lock
SELECT pg_advisory_xact_lock($1);

-- name: create_bookkeeping
CREATE TABLE IF NOT EXISTS good_job_schema_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: migration_applied
SELECT EXISTS (SELECT 1 FROM good_job_schema_migrations WHERE version = $1);

-- name: record_migration
INSERT INTO good_job_schema_migrations (version, name) VALUES ($1, $2);

-- name: cleanup_batch
-- Delete one bounded batch of finished jobs (their executions go by cascade): short transactions, so
-- a table of millions never holds a long lock.
WITH doomed AS (
    SELECT id FROM good_jobs
    WHERE finished_at < $1 AND state IN ('succeeded', 'discarded')
    ORDER BY finished_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM good_jobs AS j USING doomed WHERE j.id = doomed.id;

-- name: recent_jobs
-- The newest jobs, for `goodjob demo --once`'s summary.
SELECT id, job_class, queue_name, state, executions_count, error FROM good_jobs ORDER BY created_at DESC LIMIT $1;

-- name: unfinished_due_count
-- Jobs still to run now (running, or queued and due): how the demo knows a batch is done.
SELECT count(*) FROM good_jobs WHERE state = 'running' OR (state = 'queued' AND scheduled_at <= $1);
