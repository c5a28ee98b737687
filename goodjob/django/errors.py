"""Errors of the Django backend: Django's own exception types, with goodjob's messages.

Each class derives from the Django Tasks exception a Django user already catches (``InvalidTask``,
``InvalidTaskBackend``, ...) and from :class:`goodjob.GoodJobError`, so both kinds of handler work.
"""

from __future__ import annotations

from goodjob.core.errors import GoodJobError
from goodjob.django.compat import InvalidTask, InvalidTaskBackend, TaskException, TaskResultDoesNotExist


class InvalidGoodJobTask(InvalidTask, GoodJobError):
    """A task (or one call of it) that this backend cannot enqueue: the message names the value."""


class UnserializableArguments(InvalidGoodJobTask, TypeError):
    """An argument that is not JSON (Django's contract for task arguments)."""


class InvalidGoodJobBackend(InvalidTaskBackend, GoodJobError):
    """TASKS[alias] for goodjob.django.GoodJobBackend is misconfigured."""


class EnqueueRefused(TaskException, GoodJobError):
    """goodjob refused the enqueue (an enqueue concurrency limit or throttle): no job was written."""


class GoodJobResultDoesNotExist(TaskResultDoesNotExist, GoodJobError):
    """No Django task result with that id (never enqueued, or its row was cleaned up)."""


class UnstorableResult(GoodJobError, TypeError):
    """A task returned something that is not JSON, or too large to keep: the attempt fails."""
