"""goodjob as a backend of Django's Tasks framework (``django.tasks``, or the ``django-tasks``
backport on Django < 6): ``TASKS = {"default": {"BACKEND": "goodjob.django.GoodJobBackend"}}``.

The only part of goodjob that imports Django (install ``goodjob-pg[django]``).
"""

from __future__ import annotations

from goodjob.django.adapter import goodjob_options
from goodjob.django.backend import GoodJobBackend
from goodjob.django.errors import (
    EnqueueRefused,
    GoodJobResultDoesNotExist,
    InvalidGoodJobBackend,
    InvalidGoodJobTask,
    UnserializableArguments,
    UnstorableResult,
)

__all__ = [
    "EnqueueRefused",
    "GoodJobBackend",
    "GoodJobResultDoesNotExist",
    "InvalidGoodJobBackend",
    "InvalidGoodJobTask",
    "UnserializableArguments",
    "UnstorableResult",
    "goodjob_options",
]
