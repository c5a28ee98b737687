"""The goodjob exception tree.

Every error a user can cause derives from :class:`GoodJobError` and names the offending value, so a
message in a log is enough to find and fix the cause.
"""

from __future__ import annotations


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


class AlreadyRunningError(GoodJobError):
    """A pidfile names a process that is still alive."""


class JobStateError(GoodJobError):
    """An operator action (retry, discard, reschedule, delete) does not apply to the job's state."""


class JobNotFoundError(GoodJobError, LookupError):
    """No job with the given id exists."""
