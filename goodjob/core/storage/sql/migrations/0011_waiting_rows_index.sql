-- goodjob schema, version 11: a cheaper index entry for every waiting job (issue 13's bulk enqueue).
-- Every enqueued row entered (state, created_at DESC, id DESC), the dashboard's lists by state. An
-- index whose first column is text costs Postgres about twice as much per entry as one of
-- fixed-width columns (the attributes after a variable-width one are found by walking the tuple at
-- every comparison): it was a sixth of a bulk insert's server time. Waiting rows now go to their
-- own (created_at, id) index (the "all" tab's stream of waiting jobs, read backwards for newest
-- first), and the per-state index keeps running and finished rows. (Leaving running rows out of it
-- too, so that a claim enters one index fewer, was measured: no difference in a drain.)
-- Builds two indexes on a table that may be large, blocking writes to it meanwhile: run it when a
-- pause of a few seconds per million rows is acceptable.
CREATE INDEX good_jobs_queued_created ON good_jobs (created_at, id) WHERE state = 'queued';
DROP INDEX good_jobs_state_created;
CREATE INDEX good_jobs_state_created ON good_jobs (state, created_at DESC, id DESC) WHERE state <> 'queued';
