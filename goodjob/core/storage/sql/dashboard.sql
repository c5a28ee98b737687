-- The dashboard's queries, by name (store.py reads every sql/*.sql file; names are global).
--
-- Tabs. Every job is in exactly one tab, so the tab counts add up to the total:
--   scheduled  state = 'queued' AND error IS NULL AND scheduled_at > now
--   queued     state = 'queued' AND error IS NULL AND scheduled_at <= now     (due, waiting for a worker)
--   retried    state = 'queued' AND error IS NOT NULL   (its last attempt failed or was interrupted;
--              it runs again at scheduled_at)
--   running, succeeded, discarded: state = the tab's name
--
-- The scheduled and queued tabs are read per queue (dashboard_waiting.sql); the others here. The
-- list and count queries name the tab as parameter $1 and spell out every tab's predicate, OR-ed.
-- The dashboard runs them with plan_cache_mode = force_custom_plan (dashboard_read_session), so the
-- planner sees $1 as a constant, folds the other tabs' branches (and the IS NULL filter branches)
-- away, and picks the tab's own partial index. Without that setting a generic plan could not.
--
-- Lists are keyset-paginated on (sort_at, id): newest first by created_at, except that the queued tab
-- sorts by scheduled_at (newest due first) and the scheduled tab by scheduled_at ascending (next to
-- run first: none of them has happened yet). "_desc" and "_asc" read in either direction from an
-- optional cursor; the dashboard reverses the rows of a backwards read.

-- name: dashboard_read_session
-- Per read transaction: custom plans (see above), a ceiling on a pathological search, and no JIT
-- compilation: the reads that merge one range per priority are estimated at a hundred ranges, past
-- jit_above_cost, and compiling took longer than running them (and cannot be cut short by the
-- statement timeout: a 49 ms count ran 280 ms).
SELECT set_config('plan_cache_mode', 'force_custom_plan', true),
       set_config('statement_timeout', $1, true),
       set_config('jit', 'off', true);

-- name: dashboard_search_plans
-- Around a list with a search text ($1 true, then false): the planner cannot know how often ILIKE
-- '%text%' matches and, guessing "rarely", would read and sort the whole tab. Reading the tab in index
-- order and stopping when the page is full is what a search needs (bounded by statement_timeout).
SELECT set_config('enable_sort', CASE WHEN $1::bool THEN 'off' ELSE 'on' END, true),
       set_config('enable_seqscan', CASE WHEN $1::bool THEN 'off' ELSE 'on' END, true),
       set_config('enable_bitmapscan', CASE WHEN $1::bool THEN 'off' ELSE 'on' END, true);

-- name: dashboard_jobs_desc
-- include: dashboard_list_columns
     , created_at AS sort_at
FROM good_jobs
WHERE (($1 = 'retried' AND state = 'queued' AND error IS NOT NULL)
    OR ($1 IN ('running', 'succeeded', 'discarded') AND state = $1))
  AND ($2::text IS NULL OR queue_name = $2)
  AND ($3::text IS NULL OR job_class = $3)
  AND ($4::uuid IS NULL OR id = $4)
  AND ($5::text IS NULL OR serialized_params::text ILIKE $5 OR error ILIKE $5 OR id::text ILIKE $5)
  AND ($6::timestamptz IS NULL
       OR (created_at, id) < ($6, $7::uuid))
  AND ($9::timestamptz IS NULL OR created_at <= $9)
  AND ($10::text IS NULL OR labels @> ARRAY[$10::text])
  AND ($11::text IS NULL OR cron_key = $11)
  AND ($12::uuid IS NULL OR batch_id = $12)
  AND ($13::uuid IS NULL OR locked_by_id = $13)
  AND ($14::timestamptz IS NULL
       OR (created_at, id) >= ($14, $15::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $8 OFFSET $16;

-- name: dashboard_jobs_asc
-- include: dashboard_list_columns
     , created_at AS sort_at
FROM good_jobs
WHERE (($1 = 'retried' AND state = 'queued' AND error IS NOT NULL)
    OR ($1 IN ('running', 'succeeded', 'discarded') AND state = $1))
  AND ($2::text IS NULL OR queue_name = $2)
  AND ($3::text IS NULL OR job_class = $3)
  AND ($4::uuid IS NULL OR id = $4)
  AND ($5::text IS NULL OR serialized_params::text ILIKE $5 OR error ILIKE $5 OR id::text ILIKE $5)
  AND ($6::timestamptz IS NULL
       OR (created_at, id) > ($6, $7::uuid))
  AND ($9::timestamptz IS NULL OR created_at <= $9)
  AND ($10::text IS NULL OR labels @> ARRAY[$10::text])
  AND ($11::text IS NULL OR cron_key = $11)
  AND ($12::uuid IS NULL OR batch_id = $12)
  AND ($13::uuid IS NULL OR locked_by_id = $13)
  AND ($14::timestamptz IS NULL
       OR (created_at, id) <= ($14, $15::uuid))
ORDER BY created_at, id
LIMIT $8 OFFSET $16;

-- name: dashboard_all_jobs_desc
-- The "all" tab merges one read per state, each stopping at the limit, instead of needing an index
-- over every row on the hot path: waiting rows from good_jobs_queued_created, the others from
-- good_jobs_state_created (which holds no waiting row). Each branch names its state as a constant,
-- so that the planner can prove which partial index serves it. The parameters are those of
-- dashboard_jobs_desc without the tab and the time ($1, $2), renumbered.
SELECT j.*, j.created_at AS sort_at FROM (
    (
    -- include: dashboard_all_columns
    WHERE state = 'queued'
    -- include: dashboard_all_filters_desc
    )
    UNION ALL
    (
    -- include: dashboard_all_columns
    WHERE state = 'running'
    -- include: dashboard_all_filters_desc
    )
    UNION ALL
    (
    -- include: dashboard_all_columns
    WHERE state = 'succeeded'
    -- include: dashboard_all_filters_desc
    )
    UNION ALL
    (
    -- include: dashboard_all_columns
    WHERE state = 'discarded'
    -- include: dashboard_all_filters_desc
    )
) AS j
ORDER BY j.created_at DESC, j.id DESC
LIMIT $7 OFFSET $15;

-- name: dashboard_all_jobs_asc
SELECT j.*, j.created_at AS sort_at FROM (
    (
    -- include: dashboard_all_columns
    WHERE state = 'queued'
    -- include: dashboard_all_filters_asc
    )
    UNION ALL
    (
    -- include: dashboard_all_columns
    WHERE state = 'running'
    -- include: dashboard_all_filters_asc
    )
    UNION ALL
    (
    -- include: dashboard_all_columns
    WHERE state = 'succeeded'
    -- include: dashboard_all_filters_asc
    )
    UNION ALL
    (
    -- include: dashboard_all_columns
    WHERE state = 'discarded'
    -- include: dashboard_all_filters_asc
    )
) AS j
ORDER BY j.created_at, j.id
LIMIT $7 OFFSET $15;

-- name: dashboard_all_columns
-- What the "all" tab's branches select (dashboard_all_jobs_desc, _asc).
-- include: dashboard_list_columns
FROM good_jobs;

-- name: dashboard_all_filters_desc
-- The filters, order and limit of each branch of dashboard_all_jobs_desc.
  AND ($1::text IS NULL OR queue_name = $1)
  AND ($2::text IS NULL OR job_class = $2)
  AND ($3::uuid IS NULL OR id = $3)
  AND ($4::text IS NULL OR serialized_params::text ILIKE $4 OR error ILIKE $4 OR id::text ILIKE $4)
  AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6::uuid))
  AND ($8::timestamptz IS NULL OR created_at <= $8)
  AND ($9::text IS NULL OR labels @> ARRAY[$9::text])
  AND ($10::text IS NULL OR cron_key = $10)
  AND ($11::uuid IS NULL OR batch_id = $11)
  AND ($12::uuid IS NULL OR locked_by_id = $12)
  AND ($13::timestamptz IS NULL OR (created_at >= $13 AND (created_at, id) >= ($13, $14::uuid)))
ORDER BY created_at DESC, id DESC
LIMIT $7::int + $15::int;

-- name: dashboard_all_filters_asc
  AND ($1::text IS NULL OR queue_name = $1)
  AND ($2::text IS NULL OR job_class = $2)
  AND ($3::uuid IS NULL OR id = $3)
  AND ($4::text IS NULL OR serialized_params::text ILIKE $4 OR error ILIKE $4 OR id::text ILIKE $4)
  AND ($5::timestamptz IS NULL OR (created_at, id) > ($5, $6::uuid))
  AND ($8::timestamptz IS NULL OR created_at <= $8)
  AND ($9::text IS NULL OR labels @> ARRAY[$9::text])
  AND ($10::text IS NULL OR cron_key = $10)
  AND ($11::uuid IS NULL OR batch_id = $11)
  AND ($12::uuid IS NULL OR locked_by_id = $12)
  AND ($13::timestamptz IS NULL OR (created_at <= $13 AND (created_at, id) <= ($13, $14::uuid)))
ORDER BY created_at, id
LIMIT $7::int + $15::int;

-- name: dashboard_search_bound_desc
-- Where a bounded text search of a tab ($1) stops: the ($11 + 1)-th row in list order after the
-- cursor ($4, $5), under the list's other filters (the parameters of dashboard_jobs_desc without the
-- search, the stop and the page size). Only (sort_at, id) is read, from the tab's index (an index-only
-- scan without other filters): finding the bound decodes no row, so the search's cost is the window's
-- rows alone. Run inside dashboard_search_plans, like the search.
SELECT created_at AS sort_at, id
FROM good_jobs
WHERE (($1 = 'retried' AND state = 'queued' AND error IS NOT NULL)
    OR ($1 IN ('running', 'succeeded', 'discarded') AND state = $1))
  AND ($2::text IS NULL OR queue_name = $2)
  AND ($3::text IS NULL OR job_class = $3)
  AND ($4::timestamptz IS NULL
       OR (created_at, id) < ($4, $5::uuid))
  AND ($6::timestamptz IS NULL OR created_at <= $6)
  AND ($7::text IS NULL OR labels @> ARRAY[$7::text])
  AND ($8::text IS NULL OR cron_key = $8)
  AND ($9::uuid IS NULL OR batch_id = $9)
  AND ($10::uuid IS NULL OR locked_by_id = $10)
ORDER BY created_at DESC, id DESC
OFFSET $11 LIMIT 1;

-- name: dashboard_search_bound_asc
SELECT created_at AS sort_at, id
FROM good_jobs
WHERE (($1 = 'retried' AND state = 'queued' AND error IS NOT NULL)
    OR ($1 IN ('running', 'succeeded', 'discarded') AND state = $1))
  AND ($2::text IS NULL OR queue_name = $2)
  AND ($3::text IS NULL OR job_class = $3)
  AND ($4::timestamptz IS NULL
       OR (created_at, id) > ($4, $5::uuid))
  AND ($6::timestamptz IS NULL OR created_at <= $6)
  AND ($7::text IS NULL OR labels @> ARRAY[$7::text])
  AND ($8::text IS NULL OR cron_key = $8)
  AND ($9::uuid IS NULL OR batch_id = $9)
  AND ($10::uuid IS NULL OR locked_by_id = $10)
ORDER BY created_at, id
OFFSET $11 LIMIT 1;

-- name: dashboard_all_search_bound_desc
-- The same for the "all" tab: one window shared by the four states. The states' (created_at, id)
-- orders (as dashboard_all_jobs_desc reads them) are merged in list order (a Merge Append) and the
-- read stops at the ($10 + 1)-th entry, so finding the bound reads $10 + 1 index entries in all, not
-- that many per state.
-- Parameters: those of dashboard_all_jobs_desc without the search, the page size and the stop.
SELECT created_at AS sort_at, id FROM (
    (SELECT created_at, id FROM good_jobs
    WHERE state = 'queued'
      AND ($1::text IS NULL OR queue_name = $1) AND ($2::text IS NULL OR job_class = $2)
      AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
      AND ($5::timestamptz IS NULL OR created_at <= $5) AND ($6::text IS NULL OR labels @> ARRAY[$6::text])
      AND ($7::text IS NULL OR cron_key = $7) AND ($8::uuid IS NULL OR batch_id = $8)
      AND ($9::uuid IS NULL OR locked_by_id = $9)
     ORDER BY created_at DESC, id DESC LIMIT $10 + 1)
    UNION ALL
    (SELECT created_at, id FROM good_jobs
    WHERE state = 'running'
      AND ($1::text IS NULL OR queue_name = $1) AND ($2::text IS NULL OR job_class = $2)
      AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
      AND ($5::timestamptz IS NULL OR created_at <= $5) AND ($6::text IS NULL OR labels @> ARRAY[$6::text])
      AND ($7::text IS NULL OR cron_key = $7) AND ($8::uuid IS NULL OR batch_id = $8)
      AND ($9::uuid IS NULL OR locked_by_id = $9)
     ORDER BY created_at DESC, id DESC LIMIT $10 + 1)
    UNION ALL
    (SELECT created_at, id FROM good_jobs
    WHERE state = 'succeeded'
      AND ($1::text IS NULL OR queue_name = $1) AND ($2::text IS NULL OR job_class = $2)
      AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
      AND ($5::timestamptz IS NULL OR created_at <= $5) AND ($6::text IS NULL OR labels @> ARRAY[$6::text])
      AND ($7::text IS NULL OR cron_key = $7) AND ($8::uuid IS NULL OR batch_id = $8)
      AND ($9::uuid IS NULL OR locked_by_id = $9)
     ORDER BY created_at DESC, id DESC LIMIT $10 + 1)
    UNION ALL
    (SELECT created_at, id FROM good_jobs
    WHERE state = 'discarded'
      AND ($1::text IS NULL OR queue_name = $1) AND ($2::text IS NULL OR job_class = $2)
      AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
      AND ($5::timestamptz IS NULL OR created_at <= $5) AND ($6::text IS NULL OR labels @> ARRAY[$6::text])
      AND ($7::text IS NULL OR cron_key = $7) AND ($8::uuid IS NULL OR batch_id = $8)
      AND ($9::uuid IS NULL OR locked_by_id = $9)
     ORDER BY created_at DESC, id DESC LIMIT $10 + 1)
) AS j
ORDER BY created_at DESC, id DESC
OFFSET $10 LIMIT 1;

-- name: dashboard_all_search_bound_asc
SELECT created_at AS sort_at, id FROM (
    (SELECT created_at, id FROM good_jobs
    WHERE state = 'queued'
      AND ($1::text IS NULL OR queue_name = $1) AND ($2::text IS NULL OR job_class = $2)
      AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))
      AND ($5::timestamptz IS NULL OR created_at <= $5) AND ($6::text IS NULL OR labels @> ARRAY[$6::text])
      AND ($7::text IS NULL OR cron_key = $7) AND ($8::uuid IS NULL OR batch_id = $8)
      AND ($9::uuid IS NULL OR locked_by_id = $9)
     ORDER BY created_at, id LIMIT $10 + 1)
    UNION ALL
    (SELECT created_at, id FROM good_jobs
    WHERE state = 'running'
      AND ($1::text IS NULL OR queue_name = $1) AND ($2::text IS NULL OR job_class = $2)
      AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))
      AND ($5::timestamptz IS NULL OR created_at <= $5) AND ($6::text IS NULL OR labels @> ARRAY[$6::text])
      AND ($7::text IS NULL OR cron_key = $7) AND ($8::uuid IS NULL OR batch_id = $8)
      AND ($9::uuid IS NULL OR locked_by_id = $9)
     ORDER BY created_at, id LIMIT $10 + 1)
    UNION ALL
    (SELECT created_at, id FROM good_jobs
    WHERE state = 'succeeded'
      AND ($1::text IS NULL OR queue_name = $1) AND ($2::text IS NULL OR job_class = $2)
      AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))
      AND ($5::timestamptz IS NULL OR created_at <= $5) AND ($6::text IS NULL OR labels @> ARRAY[$6::text])
      AND ($7::text IS NULL OR cron_key = $7) AND ($8::uuid IS NULL OR batch_id = $8)
      AND ($9::uuid IS NULL OR locked_by_id = $9)
     ORDER BY created_at, id LIMIT $10 + 1)
    UNION ALL
    (SELECT created_at, id FROM good_jobs
    WHERE state = 'discarded'
      AND ($1::text IS NULL OR queue_name = $1) AND ($2::text IS NULL OR job_class = $2)
      AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))
      AND ($5::timestamptz IS NULL OR created_at <= $5) AND ($6::text IS NULL OR labels @> ARRAY[$6::text])
      AND ($7::text IS NULL OR cron_key = $7) AND ($8::uuid IS NULL OR batch_id = $8)
      AND ($9::uuid IS NULL OR locked_by_id = $9)
     ORDER BY created_at, id LIMIT $10 + 1)
) AS j
ORDER BY created_at, id
OFFSET $10 LIMIT 1;

-- name: dashboard_count_jobs
-- One tab's count, exact up to $6 rows and capped there: an index-only scan of at most $6 entries.
SELECT count(*) AS n FROM (
    SELECT 1 FROM good_jobs
    WHERE (($1 = 'retried' AND state = 'queued' AND error IS NOT NULL)
        OR ($1 IN ('running', 'succeeded', 'discarded') AND state = $1))
      AND ($2::text IS NULL OR queue_name = $2)
      AND ($3::text IS NULL OR job_class = $3)
      AND ($4::uuid IS NULL OR id = $4)
      AND ($5::text IS NULL OR serialized_params::text ILIKE $5 OR error ILIKE $5 OR id::text ILIKE $5)
      AND ($7::text IS NULL OR labels @> ARRAY[$7::text])
      AND ($8::text IS NULL OR cron_key = $8)
      AND ($9::uuid IS NULL OR batch_id = $9)
      AND ($10::uuid IS NULL OR locked_by_id = $10)
    LIMIT $6
) AS capped;

-- name: dashboard_state_estimates
-- Rows per state as the planner estimates them (reltuples x the column's most-common-value
-- frequencies, kept by autovacuum's ANALYZE): shown when an exact count reached its cap.
SELECT mcv.state, (mcv.freq * greatest(c.reltuples, 0))::bigint AS estimate
FROM pg_class AS c
JOIN pg_stats AS st ON st.schemaname = current_schema() AND st.tablename = 'good_jobs' AND st.attname = 'state'
CROSS JOIN LATERAL unnest(st.most_common_vals::text::text[], st.most_common_freqs) AS mcv(state, freq)
WHERE c.oid = 'good_jobs'::regclass;

-- name: dashboard_job
SELECT id, queue_name, priority, job_class, jsonb_pretty(serialized_params) AS params, state,
       scheduled_at, performed_at, finished_at, error, error_event, executions_count, concurrency_key,
       cron_key, cron_at, batch_id, labels, locked_by_id, locked_at, created_at, updated_at
FROM good_jobs WHERE id = $1;

-- name: dashboard_job_executions
SELECT e.id, e.attempt, e.process_id, e.queue_name, e.scheduled_at, e.started_at, e.finished_at,
       e.duration_ms, e.outcome, e.error_class, e.error, e.error_backtrace,
       p.hostname AS process_hostname, p.pid AS process_pid
FROM good_job_executions AS e
LEFT JOIN good_job_processes AS p ON p.id = e.process_id
WHERE e.job_id = $1
ORDER BY e.id;

-- name: dashboard_job_process
-- The process holding a running job (its row disappears when the process stops).
SELECT id, hostname, pid FROM good_job_processes WHERE id = $1;

-- name: dashboard_throughput
-- Executions finished in [$1, $2) per $3-second slot (counted from $1) and outcome. An index-only scan
-- of good_job_executions (finished_at, outcome).
SELECT floor(extract(epoch FROM finished_at - $1::timestamptz) / $3)::int AS slot, outcome, count(*) AS n
FROM good_job_executions
WHERE finished_at >= $1 AND finished_at < $2
GROUP BY 1, 2;

-- name: dashboard_running_queue_names
-- Queues with running jobs (few rows, the partial good_jobs_running index); the queues with waiting
-- jobs come from waiting_queue_names (queries.sql), the loose index scan the claim also uses.
SELECT DISTINCT queue_name FROM good_jobs WHERE state = 'running';

-- name: dashboard_queue_stats
-- Per queue ($3): due jobs at $1 (capped at $2), the oldest due time, jobs due later (capped), running
-- jobs. Waiting jobs (retries included) are read from good_jobs_claim_queue, one range per priority
-- of the queue (queue_waiting_figures).
SELECT q.name, w.due AS waiting, w.oldest AS oldest_waiting_at, w.later AS scheduled,
       (SELECT count(*) FROM good_jobs WHERE state = 'running' AND queue_name = q.name) AS running
FROM unnest($3::text[]) AS q(name)
CROSS JOIN LATERAL (
    -- include: queue_waiting_figures
) AS w
ORDER BY q.name;

-- name: queue_waiting_figures
-- One queue's (q.name) waiting jobs at $1: due (capped at $2), later (capped), the oldest due time.
-- Its priorities come from a loose index scan of good_jobs_claim_queue; each figure reads one
-- range of (queue_name, priority, scheduled_at) per priority, so a backlog due later is never read
-- to count the due jobs, nor the other way round. (Each range is read in index order, ORDER BY:
-- without it the planner, not knowing the queue, may expect a table scan to fill the cap sooner.)
WITH RECURSIVE ps(p) AS (
    (SELECT priority FROM good_jobs WHERE state = 'queued' AND queue_name = q.name ORDER BY priority LIMIT 1)
    UNION ALL
    SELECT (SELECT priority FROM good_jobs WHERE state = 'queued' AND queue_name = q.name AND priority > ps.p
            ORDER BY priority LIMIT 1)
    FROM ps WHERE ps.p IS NOT NULL
)
SELECT (SELECT count(*) FROM (
            SELECT 1 FROM ps CROSS JOIN LATERAL (
                SELECT 1 FROM good_jobs WHERE state = 'queued' AND queue_name = q.name AND priority = ps.p
                  AND scheduled_at <= $1 ORDER BY scheduled_at LIMIT $2) AS r
            LIMIT $2) AS c) AS due,
       (SELECT count(*) FROM (
            SELECT 1 FROM ps CROSS JOIN LATERAL (
                SELECT 1 FROM good_jobs WHERE state = 'queued' AND queue_name = q.name AND priority = ps.p
                  AND scheduled_at > $1 ORDER BY scheduled_at LIMIT $2) AS r
            LIMIT $2) AS c) AS later,
       (SELECT min(r.at) FROM ps CROSS JOIN LATERAL (
            SELECT scheduled_at AS at FROM good_jobs WHERE state = 'queued' AND queue_name = q.name
              AND priority = ps.p AND scheduled_at <= $1 ORDER BY scheduled_at LIMIT 1) AS r) AS oldest;

-- name: dashboard_processes
SELECT p.id, p.hostname, p.pid, p.queues, p.max_threads, p.execution_mode, p.started_at, p.heartbeat_at,
       p.memory_kb, p.cron IS NOT NULL AS cron,
       (SELECT count(*) FROM good_jobs AS j WHERE j.state = 'running' AND j.locked_by_id = p.id) AS running
FROM good_job_processes AS p
ORDER BY p.hostname, p.pid, p.id;

-- name: dashboard_get_setting
SELECT value::text AS value FROM good_job_settings WHERE key = $1;

-- name: dashboard_set_paused_queues
-- Add ($2 true) or remove ($2 false) queue $1 in the 'paused_queues' setting (a JSON array of names)
-- and tell every worker at once: NOTIFY {"paused": true} (workers re-read the setting).
WITH changed AS (
    INSERT INTO good_job_settings AS s (key, value, updated_at)
    VALUES ('paused_queues', CASE WHEN $2::bool THEN jsonb_build_array($1::text) ELSE '[]'::jsonb END, $3)
    ON CONFLICT (key) DO UPDATE
    SET value = (SELECT coalesce(jsonb_agg(DISTINCT name ORDER BY name), '[]'::jsonb)
                 FROM (SELECT jsonb_array_elements_text(s.value) AS name
                       UNION SELECT $1::text WHERE $2::bool) AS names
                 WHERE $2::bool OR name <> $1::text),
        updated_at = $3
    RETURNING value
)
SELECT value::text AS value, good_job_notify_control('{"paused": true}') IS NULL AS notified FROM changed;

-- name: dashboard_retry_jobs
-- Discarded -> queued and due now; its executions (the history) stay. NOTIFY per queue, in the
-- enqueue format, so that idle workers claim at once.
WITH moved AS (
    UPDATE good_jobs
    SET state = 'queued', scheduled_at = $2, finished_at = NULL, error = NULL, error_event = NULL,
        locked_by_id = NULL, locked_at = NULL, cancelled_at = NULL, updated_at = $2
    WHERE id = ANY($1::uuid[]) AND state = 'discarded'
    RETURNING id, queue_name, batch_id
), reopened AS (
    -- A retried job reopens its batch (it finishes, and fires its callbacks, again), and clears the
    -- batch's discard mark unless another of its jobs is still discarded: as Batch.retry() does.
    UPDATE good_job_batches AS b
    SET finished_at = NULL, updated_at = $2,
        discarded_at = CASE WHEN EXISTS (
            SELECT 1 FROM good_jobs AS other
            WHERE other.batch_id = b.id AND other.state = 'discarded' AND NOT (other.id = ANY($1::uuid[]))
        ) THEN b.discarded_at END
    WHERE b.id IN (SELECT batch_id FROM moved WHERE batch_id IS NOT NULL)
), notified AS (
    SELECT good_job_notify(queue_name, json_build_object(
               'queue', queue_name, 'at', extract(epoch FROM $2::timestamptz), 'count', count(*))::text)
    FROM moved GROUP BY queue_name
)
SELECT id, (SELECT count(*) FROM notified) AS queues FROM moved;

-- name: dashboard_discard_jobs
-- Any queued job (scheduled, due or retried) -> discarded; a running job is left to its worker
-- (operations_cancel_running asks the worker to stop it). $4: the error_event ('discarded', 'cancelled').
UPDATE good_jobs
SET state = 'discarded', finished_at = $2, error = $3, error_event = $4, updated_at = $2
WHERE id = ANY($1::uuid[]) AND state = 'queued'
RETURNING id;

-- name: dashboard_run_jobs_now
-- A queued job whose time is in the future becomes due now, and the workers hear of it.
WITH moved AS (
    UPDATE good_jobs SET scheduled_at = $2, updated_at = $2
    WHERE id = ANY($1::uuid[]) AND state = 'queued' AND scheduled_at > $2
    RETURNING id, queue_name
), notified AS (
    SELECT good_job_notify(queue_name, json_build_object(
               'queue', queue_name, 'at', extract(epoch FROM $2::timestamptz), 'count', count(*))::text)
    FROM moved GROUP BY queue_name
)
SELECT id, (SELECT count(*) FROM notified) AS queues FROM moved;

-- name: dashboard_delete_jobs
-- Finished jobs only; their executions go by cascade.
DELETE FROM good_jobs WHERE id = ANY($1::uuid[]) AND state IN ('succeeded', 'discarded') RETURNING id;

-- name: dashboard_job_states
SELECT id, state, scheduled_at, error FROM good_jobs WHERE id = ANY($1::uuid[]);
