-- goodjob schema, version 2: indexes for the dashboard.
-- Every index here but the last is partial on queued rows, so claiming a job (queued -> running) and
-- finishing it add no entries to them: the hot path pays almost nothing for a fast dashboard.
-- The "all" tab needs no index of its own: it merges the per-state (state, created_at, id) scans.

-- The "retried" tab (a queued job carrying the error of its last attempt), newest first, and its count.
CREATE INDEX good_jobs_retried ON good_jobs (created_at DESC, id DESC)
    WHERE state = 'queued' AND error IS NOT NULL;
-- The "scheduled" (scheduled_at > now) and "queued" (due) tabs: one range scan each, either direction.
CREATE INDEX good_jobs_pending ON good_jobs (scheduled_at, id) WHERE state = 'queued' AND error IS NULL;
-- The queues page and the overview's latency: per queue, the oldest due job is the first entry and
-- the number waiting is a range count, both index-only.
CREATE INDEX good_jobs_queue_waiting ON good_jobs (queue_name, scheduled_at) WHERE state = 'queued';
-- The throughput chart counts executions per minute and outcome with an index-only scan. It makes the
-- plain finished_at index redundant (same leading column).
DROP INDEX good_job_executions_finished;
CREATE INDEX good_job_executions_finished ON good_job_executions (finished_at, outcome);
