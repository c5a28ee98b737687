-- goodjob schema, version 10: a NOTIFY channel per queue, so that a worker hears only its queues.
-- Every NOTIFY wakes every listening worker process (~0.13 ms of client CPU each on a 2-core box,
-- more than the enqueue's own statement): eight workers dedicated to other queues cut the enqueue
-- rate of a queue they do not serve almost in half. Job announcements now go to the shared channel
-- `good_job` (heard by "*" and "-a,b" pools, and by the dashboard) and to the queue's own channel;
-- a worker whose pools all name their queues LISTENs only on those channels and on
-- `good_job_control`, which carries what every worker must hear (pause changes, cancels).
-- The channel name is derived from the queue name (channels are identifiers of at most 63 bytes,
-- queue names are longer): goodjob/core/storage/channels.py computes the same name in Python.

CREATE FUNCTION good_job_queue_channel(queue text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT 'good_job_q_' || left(encode(sha256(convert_to(queue, 'UTF8')), 'hex'), 32) $$;

-- A job announcement (payload: {"queue", "at", "count"}): the shared channel and the queue's own.
CREATE FUNCTION good_job_notify(queue text, payload text) RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_notify('good_job', payload);
    PERFORM pg_notify(good_job_queue_channel(queue), payload);
END
$$;

-- What every worker must hear, whatever it serves (pauses, cancels): the shared channel and the
-- control channel.
CREATE FUNCTION good_job_notify_control(payload text) RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_notify('good_job', payload);
    PERFORM pg_notify('good_job_control', payload);
END
$$;
