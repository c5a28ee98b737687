-- goodjob schema, version 9: what the dashboard needs at scale (issue 16).

-- Execution statistics per hour (span 1) and per day (span 24), queue, job class and duration bin,
-- written by the recorder in the transaction that records the results (so they count jobs whose
-- rows are not preserved, too). The bins are quarter powers of two from 0.1 ms (core/stats.py):
-- percentiles come from them within ~10%. A window reads whole days where it can and hours at its
-- ends, so a week is about (8 days + 38 hours) x queues x classes x bins used rows, whatever the
-- number of executions. Each recorder batch adds to its rows in key order: no deadlocks.
CREATE TABLE good_job_stats (
    span            smallint         NOT NULL,
    hour            timestamptz      NOT NULL,
    queue_name      text             NOT NULL,
    job_class       text             NOT NULL,
    bin             smallint         NOT NULL,
    executions      bigint           NOT NULL,
    failures        bigint           NOT NULL,
    duration_ms_sum double precision NOT NULL,
    duration_ms_max double precision NOT NULL,
    PRIMARY KEY (span, hour, queue_name, job_class, bin)
);

-- What each worker process publishes about itself: its resident memory (updated with the heartbeat)
-- and the cron entries it schedules (NULL when cron is off), so that a dashboard running in another
-- process shows the workers' cron configuration rather than its own.
ALTER TABLE good_job_processes
    ADD COLUMN memory_kb bigint,
    ADD COLUMN cron      jsonb;
