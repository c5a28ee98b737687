-- Return values of jobs that keep one (Django tasks). Written by the recorder in the same
-- transaction as the result, only for the rows it just updated.

-- name: record_return_values
UPDATE good_jobs AS j
SET return_value = u.value::json
FROM unnest($1::uuid[], $2::text[]) AS u(id, value)
WHERE j.id = u.id;

-- name: job_return_value
SELECT return_value::text FROM good_jobs WHERE id = $1;
