"""``"goodjob.django"`` in INSTALLED_APPS: build the GoodJobBackend aliases when Django starts.

A backend hands its OPTIONS to ``goodjob.configure`` when Django builds it, which Django does
lazily (the first ``@task`` of that alias, or the first enqueue). With this app installed, goodjob's
own APIs used before any task (``goodjob.Batch``, the dashboard, ``goodjob.migrate_sync``) already
see the project's database. Optional, and recommended.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class GoodJobDjangoConfig(AppConfig):
    name = "goodjob.django"
    label = "goodjob"
    verbose_name = "goodjob"

    def ready(self) -> None:
        build_backends()


def build_backends() -> list[Any]:
    """Every TASKS alias whose BACKEND is a GoodJobBackend, built (so its OPTIONS are applied)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    from goodjob.django.backend import GoodJobBackend
    from goodjob.django.compat import task_backends

    built = []
    for alias, params in (getattr(settings, "TASKS", None) or {}).items():
        if issubclass(import_string(params["BACKEND"]), GoodJobBackend):
            built.append(task_backends[alias])
    return built
