-- goodjob schema, version 8: cancelling running jobs (goodjob.jobs.cancel, issue 14).
-- An operator's cancel of a running job cannot change its state (the worker that holds it writes the
-- result), so it is a mark: the owning process hears of it by NOTIFY or, failing that, at its next
-- heartbeat; the recorder and the recovery of a dead process's jobs turn a marked row into a
-- discarded one instead of queueing it again. Nullable, no default: adding it rewrites nothing.
ALTER TABLE good_jobs ADD COLUMN cancelled_at timestamptz;
