"""Django's Tasks framework, from wherever this environment has it.

Django 6.0+ ships it as ``django.tasks``; on older Django (and so on Python 3.11, which Django 6 does
not support) the ``django-tasks`` backport provides the same API as ``django_tasks``. Everything in
``goodjob.django`` imports the framework from here, so both work with one code base. Django 6 wins
when both are installed, because that is the framework Django's own ``@task`` users get.
"""

from __future__ import annotations

from typing import Any

try:  # Django 6.0+
    from django.tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, Task, TaskError
    from django.tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskException, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json

    FRAMEWORK = "django.tasks"
except ImportError:  # the django-tasks backport
    from django_tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, Task, TaskError
    from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskException, TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started
    from django_tasks.utils import normalize_json

    FRAMEWORK = "django_tasks"

__all__ = [
    "FRAMEWORK",
    "TASK_MAX_PRIORITY",
    "TASK_MIN_PRIORITY",
    "BaseTaskBackend",
    "InvalidTask",
    "InvalidTaskBackend",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskException",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "normalize",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]


def normalize(value: Any) -> Any:
    """Django's own JSON normalisation (tuples to lists, bytes to str; TypeError/ValueError else)."""
    return normalize_json(value)
