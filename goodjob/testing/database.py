"""A goodjob schema of the test run's own, emptied before every test.

One schema per test process (``goodjob_test_<pid>``, so pytest-xdist workers never share one) in
the configured database, or in the embedded Postgres when none is configured; migrated once, then
emptied with one TRUNCATE per test (milliseconds, where a migration per test would cost tens).
goodjob is configured to use it through the URL's ``search_path``: the application's own tables
in other schemas are not touched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from goodjob.core import config as config_module
from goodjob.core.errors import ConfigurationError
from goodjob.core.runtime import get_runtime
from goodjob.core.storage import db, migrate, store_operations
from goodjob.core.storage.embedded import resolve_database_url

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "search_path"] + [("search_path", schema)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _run(factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion from sync code, even inside a running loop (an async test's
    setUp): then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(factory())
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(factory())).result()


class TestDatabase:
    """``start()`` once, ``reset()`` before each test, ``stop()`` at the end (the pytest plugin and
    :class:`goodjob.testing.GoodJobTestCase` do this for you)."""

    __test__ = False  # not a pytest test class

    def __init__(self, url: str | None = None, *, schema: str | None = None, **configure: Any) -> None:
        self.schema = schema or f"goodjob_test_{os.getpid()}"
        if not _SCHEMA.match(self.schema):
            raise ConfigurationError(f"schema={self.schema!r}: use lowercase letters, digits and _ (max 63)")
        self._base_url = url
        self.url: str | None = None
        self.configure = {"execution_mode": "external", **configure}

    def start(self) -> str:
        """Create and migrate the schema; returns the URL goodjob now uses."""
        base = self._base_url or os.environ.get("GOOD_JOB_DATABASE_URL") or os.environ.get("DATABASE_URL")
        if not base:
            base = resolve_database_url(config_module.current_config())  # the embedded Postgres
        self.url = with_search_path(base, self.schema)
        _run(lambda: self._create(base))
        return self.url

    async def _create(self, base: str) -> None:
        conn = await db.connect(base, application_name="goodjob-testing")
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE; CREATE SCHEMA "{self.schema}"')
            await conn.execute(f'SET search_path TO "{self.schema}"')
            await migrate.migrate(conn)
        finally:
            await conn.close()

    def reset(self, **configure: Any) -> None:
        """Empty every goodjob table and configure goodjob for the next test."""
        if self.url is None:
            self.start()
        assert self.url is not None
        get_runtime().reset()
        config_module.reset_configuration()
        config_module.configure(database_url=self.url, **{**self.configure, **configure})
        _run(self._truncate)

    async def _truncate(self) -> None:
        assert self.url is not None
        conn = await db.connect(self.url, application_name="goodjob-testing")
        try:
            await store_operations.testing_truncate(conn)
        finally:
            await conn.close()

    def stop(self) -> None:
        """Drop the schema; goodjob forgets the configuration."""
        get_runtime().reset()
        config_module.reset_configuration()
        if self.url is not None:
            _run(self._drop)
            self.url = None

    async def _drop(self) -> None:
        assert self.url is not None
        conn = await db.connect(self.url, application_name="goodjob-testing")
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await conn.close()
