-- goodjob schema, version 3: concurrency controls (see docs/concurrency.md).
--
-- A job's perform rules are stored on its row at enqueue, beside its concurrency_key, so that the
-- claim itself can skip rows whose key is at its limit: a worker never claims a job it may not run,
-- so nothing spins. Nullable columns without defaults: adding them rewrites nothing.
ALTER TABLE good_jobs
    ADD COLUMN concurrency_perform_limit    integer,
    ADD COLUMN concurrency_perform_throttle integer,
    ADD COLUMN concurrency_perform_period   double precision;

-- Throttle windows count enqueues and performs per key. good_jobs cannot be the source (finished
-- rows are deleted when preserve_job_records is off, and a row enqueued once may perform many
-- times), so each enqueue/perform of a throttled key leaves one small row here. Every write also
-- deletes a few expired rows of any key (oldest first), so the table holds little more than the
-- events still inside their windows, without a cleanup job.
CREATE TABLE good_job_concurrency_events (
    concurrency_key text        NOT NULL,
    kind            text        NOT NULL CONSTRAINT good_job_concurrency_events_kind CHECK (kind IN ('enqueue', 'perform')),
    at              timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    job_id          uuid
);
CREATE INDEX good_job_concurrency_events_window ON good_job_concurrency_events (concurrency_key, kind, at);
CREATE INDEX good_job_concurrency_events_expired ON good_job_concurrency_events (expires_at);

-- The claim's filter for rows that carry perform rules: true if the claiming statement may take row
-- p_id, whose key is p_key. Why a VOLATILE function rather than plain SQL in the claim:
--   * Two claimers must not both take the last slot. The function takes a transaction-level advisory
--     lock on the key (namespace 1735000066 = 0x676A0002, "perform"), and a VOLATILE function's
--     queries take a fresh snapshot, so its counts see every claim committed by the lock's previous
--     holder (a plain subquery would use the statement's older snapshot and miss it).
--   * It only *tries* the lock: a key busy in another claim is skipped for this statement, so
--     claimers never wait on each other and never deadlock.
--   * The rows this statement has already accepted may or may not be `running` yet when the next
--     row is checked (that depends on the plan), so the function remembers their ids in a
--     transaction-local setting ({key: [ids]}, or {key: false} once the key is full) and counts
--     them exactly once: accepted ids + running rows (or perform events) of other ids.
-- Skipping a key only ever claims fewer rows than allowed, never more.
CREATE FUNCTION good_job_concurrency_claimable(
    p_id uuid, p_key text, p_limit integer, p_throttle integer, p_period double precision, p_now timestamptz
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    memo jsonb := coalesce(nullif(current_setting('goodjob.concurrency_claims', true), ''), '{}')::jsonb;
    entry jsonb := memo -> p_key;
    taken uuid[] := '{}';
    busy integer;
    open boolean := true;
BEGIN
    IF p_key IS NULL THEN
        RETURN true;
    ELSIF entry = 'false'::jsonb THEN
        RETURN false;
    ELSIF entry IS NULL THEN
        open := pg_try_advisory_xact_lock(1735000066, hashtext(p_key));
    ELSE
        taken := ARRAY(SELECT jsonb_array_elements_text(entry)::uuid);
        IF p_id = ANY (taken) THEN
            RETURN true;  -- the same row checked again (a concurrent update made Postgres recheck it)
        END IF;
    END IF;
    IF open AND p_limit IS NOT NULL THEN
        SELECT count(*) INTO busy FROM good_jobs
        WHERE concurrency_key = p_key AND state = 'running' AND id <> ALL (taken);
        open := busy + cardinality(taken) < p_limit;
    END IF;
    IF open AND p_throttle IS NOT NULL THEN
        DELETE FROM good_job_concurrency_events WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM good_job_concurrency_events WHERE expires_at < p_now
            ORDER BY expires_at LIMIT 16 FOR UPDATE SKIP LOCKED));
        -- Performs in the window: their events, plus claimed rows whose event is not written yet
        -- (the scheduler writes it just after the claim, before the job runs). One statement, so
        -- one snapshot: a job whose event commits meanwhile is counted exactly once.
        SELECT (SELECT count(*) FROM good_job_concurrency_events
                WHERE concurrency_key = p_key AND kind = 'perform'
                  AND at > p_now - make_interval(secs => p_period) AND (job_id IS NULL OR job_id <> ALL (taken)))
             + (SELECT count(*) FROM good_jobs AS g
                WHERE g.concurrency_key = p_key AND g.state = 'running' AND g.id <> ALL (taken)
                  AND g.performed_at > p_now - make_interval(secs => p_period)
                  AND NOT EXISTS (SELECT 1 FROM good_job_concurrency_events AS e
                                  WHERE e.concurrency_key = p_key AND e.kind = 'perform' AND e.job_id = g.id
                                    AND e.at >= g.performed_at))
        INTO busy;
        open := busy + cardinality(taken) < p_throttle;
    END IF;
    PERFORM set_config('goodjob.concurrency_claims',
                       jsonb_set(memo, ARRAY[p_key], CASE WHEN open THEN to_jsonb(taken || p_id) ELSE 'false'::jsonb END)::text,
                       true);
    RETURN open;
END
$$;
