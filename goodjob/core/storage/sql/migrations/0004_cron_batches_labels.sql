-- goodjob schema, version 4: batches, cron bookkeeping, the label filter (see docs/cron_batches.md).

-- A batch groups jobs (good_jobs.batch_id) and enqueues callback jobs when they are done. Progress
-- is read from the batch's own job rows, which the recorder keeps whatever preserve_job_records
-- says (a finished batch job is deleted only by the age-based cleanup), so nothing here has to be
-- kept in step by every code path that changes a job's state.
CREATE TABLE good_job_batches (
    id            uuid PRIMARY KEY,
    description   text,
    properties    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- {"finish" | "success" | "discard": {"job_class", "queue_name", "priority", "labels"}}
    callbacks     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    enqueued_at   timestamptz,  -- the block that created it ended: from now on it may finish
    discarded_at  timestamptz,  -- a discarded job was seen and on_discard enqueued (reset by retry)
    finished_at   timestamptz,  -- every job finished and on_finish / on_success enqueued
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Open batches, for the sweeper that settles batches finished by other paths than a worker's result.
CREATE INDEX good_job_batches_open ON good_job_batches (id) WHERE finished_at IS NULL AND enqueued_at IS NOT NULL;
-- Finished batches by age, for the cleanup of batches whose jobs are gone.
CREATE INDEX good_job_batches_finished ON good_job_batches (finished_at) WHERE finished_at IS NOT NULL;

-- A batch's jobs by state: "any unfinished job left?" is one index probe however large the batch,
-- and progress counts are index-only. Replaces the plain batch_id index (same leading column).
DROP INDEX good_jobs_batch;
CREATE INDEX good_jobs_batch ON good_jobs (batch_id, state) WHERE batch_id IS NOT NULL;

-- One row per cron entry that has run. last_at only grows: an occurrence at or before it was already
-- enqueued by some process. This (not the job rows, which may be deleted once performed) is what
-- makes every occurrence run once across processes and restarts; the unique (cron_key, cron_at)
-- index on good_jobs is the second guard.
CREATE TABLE good_job_cron_entries (
    key              text PRIMARY KEY,
    last_at          timestamptz,  -- the latest scheduled occurrence enqueued
    last_job_id      uuid,
    last_enqueued_at timestamptz,  -- wall time of the latest enqueue, scheduled or "enqueue now"
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The dashboard's label filter (labels @> ARRAY[...]). Partial: unlabelled jobs pay nothing.
CREATE INDEX good_jobs_labels ON good_jobs USING gin (labels) WHERE labels IS NOT NULL;
