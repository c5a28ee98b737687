-- goodjob schema, version 12: no dashboard index entry for a waiting job (issue 13's bulk enqueue).
-- The scheduled and queued tabs, the queues page and the scheduled-time cache read waiting rows
-- from (scheduled_at, id) and (queue_name, scheduled_at); every enqueue paid for both (a fifth of
-- a bulk insert's server time: bench/schema_steps.py). The claim indexes hold the same rows in
-- (priority, scheduled_at, id) and (queue_name, priority, scheduled_at, id) order: those reads now
-- take one range per waiting priority (found by a loose index scan, one probe per distinct
-- priority) and merge them, each range stopping at the page's size (sql/dashboard_waiting.sql).
-- (One (queue_name, scheduled_at, id) index instead of the two saved only 4%: with the id every
-- key is unique, and a bulk insert's rows, which share queue and time, no longer deduplicate.)
DROP INDEX good_jobs_pending;
DROP INDEX good_jobs_queue_pending;
