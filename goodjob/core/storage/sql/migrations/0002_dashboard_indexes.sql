-- goodjob schema, version 2: indexes for the dashboard.
-- Each one is partial: on queued rows (inserted once per enqueue or retry, untouched while a job is
-- claimed and run) or on finished rows (inserted once when a preserved job finishes). The hot path
-- pays one index entry per job for a dashboard whose lists and counts stay fast at millions of rows.
-- The "all" tab needs no index of its own: it merges the per-state (state, created_at, id) scans.

-- The "retried" tab (a queued job carrying the error of its last attempt), newest first, and its count.
CREATE INDEX good_jobs_retried ON good_jobs (created_at DESC, id DESC)
    WHERE state = 'queued' AND error IS NOT NULL;
-- The "scheduled" (scheduled_at > now) and "queued" (due) tabs: one range scan each, either direction.
CREATE INDEX good_jobs_pending ON good_jobs (scheduled_at, id) WHERE state = 'queued' AND error IS NULL;
-- The same three tabs filtered by queue, and the queues page (waiting jobs, their oldest time): range
-- scans, index-only.
CREATE INDEX good_jobs_queue_pending ON good_jobs (queue_name, scheduled_at)
    WHERE state = 'queued' AND error IS NULL;
CREATE INDEX good_jobs_queue_retried ON good_jobs (queue_name, scheduled_at)
    WHERE state = 'queued' AND error IS NOT NULL;
-- The succeeded and discarded tabs filtered by queue: counts index-only, lists newest first.
CREATE INDEX good_jobs_queue_finished ON good_jobs (queue_name, state, created_at DESC, id DESC)
    WHERE state IN ('succeeded', 'discarded');
-- The throughput chart counts executions per minute and outcome with an index-only scan. It makes the
-- plain finished_at index redundant (same leading column).
DROP INDEX good_job_executions_finished;
CREATE INDEX good_job_executions_finished ON good_job_executions (finished_at, outcome);
