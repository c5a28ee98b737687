"""The goodjob exception tree.

Every error a user can cause derives from :class:`GoodJobError` and names the offending value, so a
message in a log is enough to find and fix the cause.
"""

from __future__ import annotations

from datetime import timedelta


class GoodJobError(Exception):
    """Base of every error raised by goodjob itself."""


class ConfigurationError(GoodJobError, ValueError):
    """A setting (keyword, environment variable or CLI flag) has a value goodjob cannot use."""


class QueueStringError(ConfigurationError):
    """A ``--queues`` / ``GOOD_JOB_QUEUES`` string is malformed."""


class JobOptionError(GoodJobError, ValueError, TypeError):
    """A per-enqueue option (``set(queue=, priority=, wait=, timeout=, labels=)`` or the class
    attribute it defaults to) is outside what goodjob can store; the message names the allowed range."""


class SerializationError(GoodJobError, TypeError):
    """A job argument cannot be stored as JSON and restored exactly."""


class UnknownJobError(GoodJobError, LookupError):
    """A row names a job class this process cannot import."""


class SchemaMissingError(GoodJobError):
    """The database has no (or an outdated) goodjob schema; run ``goodjob migrate``."""


class DatabaseNotConfiguredError(ConfigurationError):
    """No database URL is configured and the embedded Postgres is disabled."""


class DatabaseUnavailableError(GoodJobError):
    """The database cannot be reached (wrong URL, server down, network)."""


class SessionDatabaseError(DatabaseUnavailableError):
    """``session_database_url`` could not be reached at start (no silent fallback to leases)."""


class EmbeddedPostgresError(GoodJobError):
    """The embedded PostgreSQL could not be started or reached."""


class JobTimeoutError(GoodJobError, TimeoutError):
    """A job ran past its ``timeout``. Retry rules can match it like any other exception."""


class InterruptedJobError(GoodJobError):
    """Recorded on a job whose worker stopped (shutdown or crash) before the job finished."""


class JobCancelledError(GoodJobError):
    """Recorded on a job an operator cancelled (``goodjob.jobs.cancel``) while it ran."""


class Snooze(Exception):  # a verb, as in oban: `raise goodjob.Snooze(60)`
    """Raise from a job to run it again in ``seconds`` (a number or a timedelta).

    Not a failure: the attempt is not counted, no error is recorded and retry rules never see it;
    the execution history shows an attempt whose outcome is "snoozed".
    """

    def __init__(self, seconds: float | timedelta = 0) -> None:
        value = seconds.total_seconds() if isinstance(seconds, timedelta) else seconds
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ConfigurationError(
                f"Snooze(seconds={seconds!r}): expected a number of seconds >= 0 or a timedelta"
            )
        super().__init__(f"snoozed for {float(value):g}s")
        self.seconds = float(value)


class AlreadyRunningError(GoodJobError):
    """A pidfile names a process that is still alive."""


class JobStateError(GoodJobError):
    """An operator action (retry, discard, cancel, reschedule, delete) does not apply to the job's
    state. ``job_id``, ``state`` and ``accepted`` (the states the action takes) say which."""

    def __init__(self, message: str, *, job_id: object = None, state: str | None = None,
                 accepted: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.job_id, self.state, self.accepted = job_id, state, accepted


class JobNotFoundError(GoodJobError, LookupError):
    """No job with the given id exists."""
