"""Finding a Django task by the dotted path a row stores (``myapp.tasks.send_email``)."""

from __future__ import annotations

from typing import Any

from goodjob.django.compat import Task


def resolve_task(path: str) -> Any:
    """The Task object a module defines at ``path``; ImportError or LookupError naming it."""
    from django.utils.module_loading import import_string

    found = import_string(path)
    if not isinstance(found, Task):
        raise LookupError(f"{path!r} is {type(found).__name__}, not a Django task (@task)")
    return found
