"""Helpers of the Django tests (a unique module name: every test folder has its own conftest)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def rows(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read through a connection of Django's own (psycopg), in autocommit: what other processes see."""
    from django.db import connections

    alias = connections.create_connection("default")
    try:
        with alias.cursor() as cursor:
            cursor.execute(sql, list(params))
            return list(cursor.fetchall())
    finally:
        alias.close()


def jobs() -> list[tuple[Any, ...]]:
    return rows("SELECT job_class, queue_name, priority, state FROM good_jobs ORDER BY created_at")


def worker_env(database_url: str) -> dict[str, str]:
    """The environment of a `goodjob start` in the test project: Django settings, no GOOD_JOB_*
    database (the backend's OPTIONS take goodjob's URL from DATABASES)."""
    root = HERE.parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOOD_JOB_")}
    env.update(
        DJANGO_SETTINGS_MODULE="djproject.settings",
        GOODJOB_DJANGO_TEST_DB=database_url,
        PYTHONPATH=os.pathsep.join([str(HERE), str(root)]),
        PYTHONUNBUFFERED="1",
    )
    return env
