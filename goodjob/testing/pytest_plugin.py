"""goodjob's pytest plugin: ``pytest_plugins = ["goodjob.testing.pytest_plugin"]`` in a conftest.py.

``goodjob_test`` (function scope) gives each test an empty goodjob schema with goodjob configured
to use it in external mode (jobs wait for ``goodjob.testing.perform_enqueued_jobs``); it yields
the database URL. ``goodjob_test_database`` is the session's :class:`TestDatabase`. Mark a test
``@pytest.mark.goodjob(execution_mode="inline", ...)`` to configure more for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from goodjob.testing.database import TestDatabase


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "goodjob(**options): goodjob.configure() options for this test")


@pytest.fixture(scope="session")
def goodjob_test_database() -> Iterator[TestDatabase]:
    database = TestDatabase()
    database.start()
    yield database
    database.stop()


@pytest.fixture
def goodjob_test(goodjob_test_database: TestDatabase, request: pytest.FixtureRequest) -> Iterator[str]:
    marker = request.node.get_closest_marker("goodjob")
    goodjob_test_database.reset(**(marker.kwargs if marker else {}))
    assert goodjob_test_database.url is not None
    yield goodjob_test_database.url
    from goodjob.core.runtime import get_runtime

    get_runtime().reset()
