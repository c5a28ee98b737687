-- goodjob schema, version 1: jobs, executions, processes, settings.
-- Every job is one row in good_jobs; its `state` column is explicit so that the claim query, the
-- dashboard tabs and its counts can each use a small partial index.

CREATE TABLE good_jobs (
    id                uuid PRIMARY KEY,
    queue_name        text        NOT NULL DEFAULT 'default',
    priority          integer     NOT NULL DEFAULT 0,
    job_class         text        NOT NULL,
    serialized_params jsonb       NOT NULL DEFAULT '{}'::jsonb,
    state             text        NOT NULL DEFAULT 'queued'
        CONSTRAINT good_jobs_state_check CHECK (state IN ('queued', 'running', 'succeeded', 'discarded')),
    scheduled_at      timestamptz NOT NULL DEFAULT now(),
    performed_at      timestamptz,
    finished_at       timestamptz,
    error             text,
    error_event       text,
    executions_count  integer     NOT NULL DEFAULT 0,
    concurrency_key   text,
    cron_key          text,
    cron_at           timestamptz,
    batch_id          uuid,
    labels            text[],
    locked_by_id      uuid,
    locked_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Claiming: due jobs of every queue in (priority, scheduled_at, id) order ("*" pools).
CREATE INDEX good_jobs_claim_all ON good_jobs (priority, scheduled_at, id) WHERE state = 'queued';
-- Claiming one named queue (include, "+" and exclusion pools probe it once per queue), and the
-- loose index scan that lists the queues that have waiting jobs.
CREATE INDEX good_jobs_claim_queue ON good_jobs (queue_name, priority, scheduled_at, id) WHERE state = 'queued';
-- Results are written back and crashed processes' jobs recovered by the claiming process id.
CREATE INDEX good_jobs_running ON good_jobs (locked_by_id) WHERE state = 'running';
-- Dashboard lists, newest first, per state; and cleanup of finished jobs by age.
CREATE INDEX good_jobs_state_created ON good_jobs (state, created_at DESC, id DESC);
CREATE INDEX good_jobs_finished ON good_jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX good_jobs_concurrency ON good_jobs (concurrency_key, state) WHERE concurrency_key IS NOT NULL;
CREATE UNIQUE INDEX good_jobs_cron ON good_jobs (cron_key, cron_at) WHERE cron_key IS NOT NULL;
CREATE INDEX good_jobs_batch ON good_jobs (batch_id) WHERE batch_id IS NOT NULL;

-- One row per attempt: the history the dashboard shows and the retry logic keeps.
CREATE TABLE good_job_executions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id           uuid        NOT NULL REFERENCES good_jobs (id) ON DELETE CASCADE,
    process_id       uuid,
    attempt          integer     NOT NULL,
    queue_name       text        NOT NULL,
    job_class        text        NOT NULL,
    scheduled_at     timestamptz,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    duration_ms      double precision,
    outcome          text        NOT NULL,
    error_class      text,
    error            text,
    error_backtrace  text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX good_job_executions_job ON good_job_executions (job_id, id);
CREATE INDEX good_job_executions_finished ON good_job_executions (finished_at);

-- Live worker processes. Each holds a session advisory lock on lock_key while it lives.
CREATE TABLE good_job_processes (
    id            uuid PRIMARY KEY,
    hostname      text        NOT NULL,
    pid           integer     NOT NULL,
    queues        text        NOT NULL,
    max_threads   integer     NOT NULL,
    lock_key      bigint      NOT NULL,
    execution_mode text       NOT NULL DEFAULT 'external',
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);

-- Small operator settings: paused queues and job classes, cron switches.
CREATE TABLE good_job_settings (
    key        text PRIMARY KEY,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
