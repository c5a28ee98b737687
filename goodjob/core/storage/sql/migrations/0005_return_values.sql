-- goodjob schema, version 5: the return value of jobs that keep one (Django tasks, goodjob/django/).
-- `json` rather than `jsonb`: it keeps the text as written (object key order included), and the
-- value is only ever read back whole, never queried into. NULL for every other job.
ALTER TABLE good_jobs ADD COLUMN return_value json;
