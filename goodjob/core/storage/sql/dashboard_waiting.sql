-- The dashboard's scheduled and queued tabs ($1): waiting jobs without an error, in scheduled_at
-- order. They have no index of their own (migration 12: an enqueue enters none for the dashboard):
-- they read the claim indexes, good_jobs_claim_all (priority, scheduled_at, id) and, filtered by
-- queue ($3), good_jobs_claim_queue (queue_name, priority, scheduled_at, id), one range per waiting
-- priority (found by a loose index scan, one probe per distinct priority), and merge them. Each
-- range stops at the page's size, so a page reads at most (priorities x rows per page) entries at
-- any depth; the list reads the page's ids and times first and only those rows whole. Retries
-- (queued with an error) are in the claim indexes too and are filtered out row by row: few, except
-- in a retry storm. Parameters are those of the same statement in dashboard.sql
-- (dashboard_jobs_desc, dashboard_search_bound_desc, dashboard_count_jobs); like them they run
-- inside dashboard_read_session, so $1 and $3 are constants to the planner and the other tab's and
-- the other index's branches fold away.

-- name: waiting_priorities
-- The distinct priorities of waiting jobs (of queue $3, or of all), by a loose index scan.
WITH RECURSIVE ps(p) AS (
    (SELECT priority FROM good_jobs WHERE state = 'queued' AND ($3::text IS NULL OR queue_name = $3)
     ORDER BY priority LIMIT 1)
    UNION ALL
    SELECT (SELECT priority FROM good_jobs
            WHERE state = 'queued' AND ($3::text IS NULL OR queue_name = $3) AND priority > ps.p
            ORDER BY priority LIMIT 1)
    FROM ps WHERE ps.p IS NOT NULL
)
SELECT p FROM ps WHERE p IS NOT NULL;

-- name: dashboard_list_columns
-- What a list shows of each job (every tab's list selects these).
SELECT id, queue_name, priority, job_class, state, scheduled_at, performed_at, finished_at,
       left(error, 300) AS error, error_event, executions_count, created_at,
       left(serialized_params::text, 300) AS params, left((serialized_params -> 'args')::text, 400) AS args_json,
       left((serialized_params -> 'kwargs')::text, 400) AS kwargs_json, labels, cron_key, batch_id, locked_by_id;

-- name: dashboard_waiting_predicate
-- One priority's (q.p) rows of the tab, under the list's filters that do not depend on direction.
-- include: dashboard_waiting_predicate_plain
  AND error IS NULL AND ($4::text IS NULL OR job_class = $4);

-- name: dashboard_waiting_list_filters
-- The lists' filters that do not depend on direction (parameters of dashboard_jobs_desc).
  AND ($5::uuid IS NULL OR id = $5)
  AND ($6::text IS NULL OR serialized_params::text ILIKE $6 OR error ILIKE $6 OR id::text ILIKE $6)
  AND ($10::timestamptz IS NULL OR created_at <= $10)
  AND ($11::text IS NULL OR labels @> ARRAY[$11::text])
  AND ($12::text IS NULL OR cron_key = $12)
  AND ($13::uuid IS NULL OR batch_id = $13)
  AND ($14::uuid IS NULL OR locked_by_id = $14);

-- name: dashboard_waiting_jobs_desc
-- include: dashboard_list_columns
     , top.at AS sort_at
FROM (
    SELECT r.id AS ref, r.scheduled_at AS at FROM (
        -- include: waiting_priorities
    ) AS q
    CROSS JOIN LATERAL (
        SELECT id, scheduled_at FROM good_jobs
        -- include: dashboard_waiting_predicate
          -- include: dashboard_waiting_list_filters
          AND ($7::timestamptz IS NULL OR (scheduled_at <= $7 AND (scheduled_at, id) < ($7, $8::uuid)))
          AND ($15::timestamptz IS NULL OR (scheduled_at >= $15 AND (scheduled_at, id) >= ($15, $16::uuid)))
        ORDER BY scheduled_at DESC, id DESC
        LIMIT $9::int + $17::int
    ) AS r
    ORDER BY r.scheduled_at DESC, r.id DESC
    LIMIT $9 OFFSET $17
) AS top
JOIN good_jobs ON good_jobs.id = top.ref
ORDER BY top.at DESC, top.ref DESC;

-- name: dashboard_waiting_jobs_asc
-- include: dashboard_list_columns
     , top.at AS sort_at
FROM (
    SELECT r.id AS ref, r.scheduled_at AS at FROM (
        -- include: waiting_priorities
    ) AS q
    CROSS JOIN LATERAL (
        SELECT id, scheduled_at FROM good_jobs
        -- include: dashboard_waiting_predicate
          -- include: dashboard_waiting_list_filters
          AND ($7::timestamptz IS NULL OR (scheduled_at >= $7 AND (scheduled_at, id) > ($7, $8::uuid)))
          AND ($15::timestamptz IS NULL OR (scheduled_at <= $15 AND (scheduled_at, id) <= ($15, $16::uuid)))
        ORDER BY scheduled_at, id
        LIMIT $9::int + $17::int
    ) AS r
    ORDER BY r.scheduled_at, r.id
    LIMIT $9 OFFSET $17
) AS top
JOIN good_jobs ON good_jobs.id = top.ref
ORDER BY top.at, top.ref;

-- name: dashboard_waiting_search_bound_desc
-- Where a bounded search of the tab stops (see dashboard_search_bound_desc): index entries only.
SELECT r.scheduled_at AS sort_at, r.id FROM (
    -- include: waiting_priorities
) AS q
CROSS JOIN LATERAL (
    SELECT id, scheduled_at FROM good_jobs
    -- include: dashboard_waiting_predicate
      AND ($5::timestamptz IS NULL OR (scheduled_at <= $5 AND (scheduled_at, id) < ($5, $6::uuid)))
      AND ($7::timestamptz IS NULL OR created_at <= $7)
      AND ($8::text IS NULL OR labels @> ARRAY[$8::text])
      AND ($9::text IS NULL OR cron_key = $9)
      AND ($10::uuid IS NULL OR batch_id = $10)
      AND ($11::uuid IS NULL OR locked_by_id = $11)
    ORDER BY scheduled_at DESC, id DESC
    LIMIT $12::int + 1
) AS r
ORDER BY r.scheduled_at DESC, r.id DESC
OFFSET $12 LIMIT 1;

-- name: dashboard_waiting_search_bound_asc
SELECT r.scheduled_at AS sort_at, r.id FROM (
    -- include: waiting_priorities
) AS q
CROSS JOIN LATERAL (
    SELECT id, scheduled_at FROM good_jobs
    -- include: dashboard_waiting_predicate
      AND ($5::timestamptz IS NULL OR (scheduled_at >= $5 AND (scheduled_at, id) > ($5, $6::uuid)))
      AND ($7::timestamptz IS NULL OR created_at <= $7)
      AND ($8::text IS NULL OR labels @> ARRAY[$8::text])
      AND ($9::text IS NULL OR cron_key = $9)
      AND ($10::uuid IS NULL OR batch_id = $10)
      AND ($11::uuid IS NULL OR locked_by_id = $11)
    ORDER BY scheduled_at, id
    LIMIT $12::int + 1
) AS r
ORDER BY r.scheduled_at, r.id
OFFSET $12 LIMIT 1;

-- name: dashboard_waiting_count
-- The tab's count, exact up to $7 rows and capped there: at most $7 index entries in all.
SELECT count(*) AS n FROM (
    SELECT 1 FROM (
        -- include: waiting_priorities
    ) AS q
    CROSS JOIN LATERAL (
        SELECT 1 FROM good_jobs
        -- include: dashboard_waiting_predicate
          AND ($5::uuid IS NULL OR id = $5)
          AND ($6::text IS NULL OR serialized_params::text ILIKE $6 OR error ILIKE $6 OR id::text ILIKE $6)
          AND ($8::text IS NULL OR labels @> ARRAY[$8::text])
          AND ($9::text IS NULL OR cron_key = $9)
          AND ($10::uuid IS NULL OR batch_id = $10)
          AND ($11::uuid IS NULL OR locked_by_id = $11)
        ORDER BY scheduled_at LIMIT $7
    ) AS r
    LIMIT $7
) AS capped;

-- name: dashboard_waiting_count_plain
-- The same count when no filter but the queue ($3) applies (the tab counts every page shows): the
-- tab's waiting rows of any kind are counted index-only from the claim indexes, up to $4 plus the
-- retries among them, and those retries (counted from the retried indexes, up to $5) are
-- taken off; filtering each row's error instead reads every row from the table. NULL past $5
-- retries in the tab's time range (a retry storm): the caller then runs dashboard_waiting_count.
-- Parameters: $1 tab, $2 now, $3 queue, $4 cap, $5 retries' cap (ten times $4).
WITH retries AS (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM good_jobs
        WHERE state = 'queued' AND error IS NOT NULL AND ($3::text IS NULL OR queue_name = $3)
          AND (($1 = 'scheduled' AND scheduled_at > $2) OR ($1 = 'queued' AND scheduled_at <= $2))
        LIMIT $5::bigint
    ) AS r
)
SELECT (
    SELECT count(*) FROM (
        SELECT 1 FROM (
            -- include: waiting_priorities
        ) AS q
        CROSS JOIN LATERAL (
            SELECT 1 FROM good_jobs
            -- include: dashboard_waiting_predicate_plain
            ORDER BY scheduled_at LIMIT $4::bigint + retries.n
        ) AS w
        LIMIT $4::bigint + retries.n
    ) AS capped) - retries.n AS n
FROM retries
WHERE retries.n < $5::bigint;

-- name: dashboard_waiting_predicate_plain
-- One priority's (q.p) waiting rows in the tab's time range, retries included.
WHERE state = 'queued' AND priority = q.p AND ($3::text IS NULL OR queue_name = $3)
  AND (($1 = 'scheduled' AND scheduled_at > $2) OR ($1 = 'queued' AND scheduled_at <= $2));
