"""One PostgreSQL per test session; a fresh database per test, cloned from a migrated template.

The server is the embedded one unless GOOD_JOB_DATABASE_URL names another. Cloning a template is
a file copy inside Postgres: tens of milliseconds, so every test gets an empty, migrated database.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

TEMPLATE = "goodjob_template"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A URL of the session's server (its maintenance database)."""
    external = os.environ.get("GOOD_JOB_DATABASE_URL")
    if external:
        yield external
        return
    from goodjob.core.storage.embedded import start_temporary

    server = start_temporary(
        settings={
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "400",
        }
    )
    try:
        yield server.url("postgres")
    finally:
        server.stop()


@pytest.fixture
def pgbouncer(pg_url: str) -> Iterator[Any]:
    """PgBouncer in transaction mode in front of the session's server (tests/pgbouncer.py). One per
    test (it starts in tens of milliseconds), so no test inherits another's client or server
    connections (to databases already dropped) or a stalled pool."""
    from pgbouncer import PgBouncer

    try:
        bouncer = PgBouncer(pg_url)
    except RuntimeError as err:
        pytest.fail(str(err), pytrace=False)
    try:
        yield bouncer
    finally:
        bouncer.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``pgbouncer`` run twice: directly, and through PgBouncer in transaction mode."""
    if "route" in metafunc.fixturenames:
        routes = ["direct", "pgbouncer"] if metafunc.definition.get_closest_marker("pgbouncer") else ["direct"]
        metafunc.parametrize("route", routes, indirect=True)


@pytest.fixture
def route(request: pytest.FixtureRequest) -> str:
    """How goodjob reaches the test database: ``direct`` or ``pgbouncer`` (transaction mode)."""
    return str(getattr(request, "param", "direct"))


@pytest.fixture
def pooled_url(route: str, database_url: str, request: pytest.FixtureRequest) -> str | None:
    """The test database's URL through PgBouncer, when the test runs through it."""
    if route != "pgbouncer":
        return None
    bouncer = request.getfixturevalue("pgbouncer")
    return str(bouncer.url(urlsplit(database_url).path.lstrip("/")))


@pytest.fixture(scope="session")
def template_url(pg_url: str) -> str:
    from goodjob.core.storage.migrate import migrate

    async def build() -> None:
        await _admin(pg_url, f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)", f"CREATE DATABASE {TEMPLATE}")
        conn = await asyncpg.connect(_with_database(pg_url, TEMPLATE))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    return _with_database(pg_url, TEMPLATE)


@pytest.fixture
def make_database(pg_url: str, template_url: str) -> Iterator[Callable[..., str]]:
    """Create fresh databases (migrated by default); all are dropped after the test."""
    created: list[str] = []

    def make(*, migrated: bool = True) -> str:
        name = f"gj_test_{uuid.uuid4().hex[:12]}"
        template = f" TEMPLATE {TEMPLATE}" if migrated else ""
        asyncio.run(_admin(pg_url, f"CREATE DATABASE {name}{template}"))
        created.append(name)
        return _with_database(pg_url, name)

    yield make
    if created:
        asyncio.run(_admin(pg_url, *(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in created)))


@pytest.fixture
def database_url(make_database: Callable[..., str]) -> str:
    return make_database()


@pytest.fixture
def gj(database_url: str, pooled_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """goodjob configured against a fresh database (external mode unless a test says otherwise);
    through PgBouncer (``database_pooler="transaction"``) for tests marked ``pgbouncer``. The URL
    returned is always the direct one, for the tests' own assertions."""
    import goodjob
    from goodjob.core.runtime import get_runtime

    for key in list(os.environ):
        if key.startswith("GOOD_JOB_"):
            monkeypatch.delenv(key)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    goodjob.reset_configuration()
    if pooled_url is not None:
        goodjob.configure(database_url=pooled_url, database_pooler="transaction", execution_mode="external")
    else:
        goodjob.configure(database_url=database_url, execution_mode="external")
    get_runtime().reset()
    yield database_url
    get_runtime().reset()
    goodjob.reset_configuration()


@pytest.fixture
async def conn(gj: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test database, for assertions."""
    from goodjob.core.runtime import get_runtime

    connection = await asyncpg.connect(gj)
    try:
        yield connection
    finally:
        await connection.close()
        await get_runtime().close_database()


@pytest.fixture
async def start_worker(gj: str) -> AsyncIterator[Callable[..., Any]]:
    """Start in-process workers (config = current config with overrides); all stop after the test."""
    import dataclasses

    import goodjob
    from goodjob.core.runtime import get_runtime
    from goodjob.core.worker.launcher import Worker

    workers: list[Worker] = []
    runtime = get_runtime()

    async def url() -> str:
        return runtime.database_url()

    async def start(**options: Any) -> Worker:
        listen = options.pop("listen", True)
        config = dataclasses.replace(goodjob.current_config(), **options)
        worker = Worker(config, database=runtime.database, url=url)
        worker.listen = listen
        await worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        await worker.shutdown(timeout=5)
    await runtime.close_database()
