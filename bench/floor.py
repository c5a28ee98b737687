"""The floor under a single enqueue on this machine: what raw asyncpg costs, without goodjob.

    GOOD_JOB_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:55432/postgres .venv/bin/python bench/floor.py

Prints, for 5,000 sequential awaits on one connection: ``SELECT 1`` (a round trip), a one-column
INSERT into an UNLOGGED table (a round trip and a row, no WAL flush) and the same INSERT into a
logged table (a durable commit, as every job queue's single enqueue is). Rate and client CPU per
call: a library's single enqueue cannot beat the durable INSERT's rate, nor spend less client CPU
than the driver does here. The side-by-side harness's figures are judged against these.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
from common import fresh_database, server

N = 5_000


async def measure(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE UNLOGGED TABLE floor_unlogged (id uuid PRIMARY KEY, q text)")
        await conn.execute("CREATE TABLE floor_logged (id uuid PRIMARY KEY, q text)")
        cases = [
            ("SELECT 1 (round trip)", "SELECT 1", False),
            ("INSERT, unlogged table (no WAL flush)", "INSERT INTO floor_unlogged VALUES ($1, 'x')", True),
            ("INSERT, logged table (a durable commit)", "INSERT INTO floor_logged VALUES ($1, 'x')", True),
        ]
        for label, sql, with_id in cases:
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(N):
                if with_id:
                    await conn.fetchrow(sql, uuid.uuid4())
                else:
                    await conn.fetchrow(sql)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"raw asyncpg, {label}: {N / wall:,.0f}/s, client CPU {cpu / N * 1000:.3f} ms per call")
    finally:
        await conn.close()


def main() -> None:
    with server() as admin_url:
        url = asyncio.run(fresh_database(admin_url, "goodjob_floor"))
        asyncio.run(measure(url))


if __name__ == "__main__":
    main()
