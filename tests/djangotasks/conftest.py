"""A real Django project (djproject/) on the session's Postgres: one fresh database per test, the
GoodJobBackend rebuilt for it, side effects in an ``effects`` table written through Django's ORM
connection (psycopg)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

EFFECTS = """CREATE TABLE IF NOT EXISTS effects (
    id bigserial PRIMARY KEY, marker text NOT NULL, pid int, at timestamptz NOT NULL DEFAULT clock_timestamp())"""


@pytest.fixture(scope="session")
def django_ready(pg_url: str) -> None:
    """django.setup() once. The variables are removed again right away: other tests' worker
    subprocesses copy os.environ and must not become Django workers."""
    import django

    os.environ["GOODJOB_DJANGO_TEST_DB"] = pg_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "djproject.settings"
    try:
        django.setup()
    finally:
        del os.environ["GOODJOB_DJANGO_TEST_DB"], os.environ["DJANGO_SETTINGS_MODULE"]


@pytest.fixture
def dj(django_ready: None, gj: str) -> Iterator[str]:
    """Django pointed at this test's fresh database; goodjob configured by the backend's OPTIONS."""
    from django.conf import settings
    from django.db import connection, connections
    from django.test.utils import override_settings

    import goodjob
    from goodjob.core.runtime import get_runtime
    from goodjob.django.apps import build_backends
    from goodjob.django.options import forget_applied

    connections.close_all()
    settings.DATABASES["default"]["NAME"] = urlsplit(gj).path.lstrip("/")
    goodjob.reset_configuration()
    forget_applied()
    get_runtime().reset()
    with override_settings(TASKS=settings.TASKS):  # Django drops its backend instances
        build_backends()  # what the app's ready() did at django.setup(): OPTIONS -> goodjob
        with connection.cursor() as cursor:
            cursor.execute(EFFECTS)
        yield gj
        connections.close_all()
    get_runtime().reset()
    forget_applied()
