"""Job classes by their stable name.

A row stores the job's import name (``package.module.ClassName``), not a pickle: a worker in another
process finds the class by importing its module. Classes register themselves when defined, so the
lookup is a dict hit on the hot path; an import happens only the first time a worker meets a name.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from goodjob.core.errors import UnknownJobError

_jobs: dict[str, type[Any]] = {}
_lock = threading.Lock()


def job_name(obj: Any) -> str:
    """The stable name of a class or function: ``module.QualName``."""
    return f"{obj.__module__}.{obj.__qualname__}"


def register(name: str, cls: type[Any]) -> None:
    """Remember ``cls`` under ``name``. Re-registering (a reloaded module) replaces the old class."""
    with _lock:
        _jobs[name] = cls


def registered() -> dict[str, type[Any]]:
    return dict(_jobs)


def resolve(name: str) -> type[Any]:
    """The job class for ``name``, importing its module if needed.

    Raises UnknownJobError (recorded on the job by the worker, never a crash) when the module or the
    class cannot be found, e.g. a job renamed while rows with the old name still wait.
    """
    cls = _jobs.get(name)
    if cls is not None:
        return cls
    module_name, _, attr = name.rpartition(".")
    errors: list[str] = []
    # Nested classes (Outer.Inner) mean the module is a shorter prefix: try each split point.
    while module_name:
        try:
            importlib.import_module(module_name)
        except ImportError as exc:
            errors.append(f"{module_name}: {exc}")
        else:
            cls = _jobs.get(name)
            if cls is not None:
                return cls
        module_name, _, head = module_name.rpartition(".")
        attr = f"{head}.{attr}"
    detail = "; ".join(errors[:2]) if errors else "the module imported but defines no such job"
    raise UnknownJobError(
        f"Unknown job class {name!r} ({detail}). Make sure the module that defines it is importable "
        "by the worker (same code version, on sys.path), or discard these jobs from the dashboard."
    )
