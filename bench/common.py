"""Shared setup for the benchmarks: a Postgres with default durability settings (fsync on).

Uses GOOD_JOB_BENCH_DATABASE_URL if set (a server you manage); otherwise a throwaway embedded
server with PostgreSQL's default settings, so numbers are comparable with the peers' figures.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULTS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on", "max_connections": "200"}


@contextmanager
def server(settings: dict[str, str] | None = None) -> Iterator[str]:
    """Yield a maintenance URL of a Postgres server for the benchmark (``settings`` on top of the
    defaults, for the embedded server)."""
    external = os.environ.get("GOOD_JOB_BENCH_DATABASE_URL")
    if external:
        print(describe(external, "external (GOOD_JOB_BENCH_DATABASE_URL)"), flush=True)
        yield external
        return
    from goodjob.core.storage.embedded import start_temporary

    pg = start_temporary(settings={**DEFAULTS, **(settings or {})})
    try:
        print(describe(pg.url("postgres"), "embedded, throwaway"), flush=True)
        yield pg.url("postgres")
    finally:
        pg.stop()


def describe(url: str, kind: str) -> str:
    """One line to print above every figure: which server, which version, which durability."""

    async def read() -> str:
        conn = await asyncpg.connect(url)
        try:
            version = await conn.fetchval("SHOW server_version")
            rows = await conn.fetch(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers') ORDER BY name"
            )
            where = await conn.fetchval("SELECT coalesce(inet_server_addr()::text, 'unix socket')")
        finally:
            await conn.close()
        settings = ", ".join(f"{r['name']}={r['setting']}" for r in rows)
        return (f"# server: PostgreSQL {version}, {kind}, {where}; {settings}; "
                f"machine: {os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(read())
    # Called from inside a running loop (bench/scale.py): read on a loop of its own, in a thread.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read()).result()


async def fresh_database(admin_url: str, name: str) -> str:
    """Drop and create ``name``, migrate it, return its URL."""
    from urllib.parse import urlsplit, urlunsplit

    from goodjob.core.storage.migrate import migrate

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    parts = urlsplit(admin_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return url


def median(values: list[float]) -> float:
    return statistics.median(values)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]
