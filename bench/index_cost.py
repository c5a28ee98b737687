"""What each index of ``good_jobs`` costs a bulk enqueue: the server's side of issue 13's bulk target.

    GOOD_JOB_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:55432/postgres .venv/bin/python bench/index_cost.py

Copies ``good_jobs`` with all its indexes (``CREATE TABLE ... (LIKE good_jobs INCLUDING ALL)``),
then times goodjob's uniform bulk insert (1,000 waiting rows per statement, the statement
``perform_all_later`` sends for ``job.set(...).new(...)`` jobs, NOTIFY to a channel nobody hears)
50 times, drops one index, times it again, and so on until only the primary key is left. Each line
is the median statement time with the indexes that are still there: the difference between two
lines is what the dropped index costs 1,000 waiting rows. Without a URL it starts a throwaway
embedded Postgres (fsync on).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime

import asyncpg
from common import fresh_database, server

from goodjob.core.enqueue import uuid7
from goodjob.core.storage.store import sql

ROWS, RUNS = 1_000, 50


async def timed(conn: asyncpg.Connection, statement: str) -> float:
    await conn.execute("TRUNCATE gj_copy")
    times = []
    for _ in range(RUNS + 10):
        ids = [uuid7() for _ in range(ROWS)]
        params = "[" + ",".join(['{"args":[],"kwargs":{}}'] * ROWS) + "]"  # one JSON array, as enqueue sends
        started = time.perf_counter()
        now = datetime.now(UTC)
        await conn.execute(statement, ids, params, "bench", 0, "bench.Noop", now, "{}", now, "nobody")
        times.append(time.perf_counter() - started)
    return statistics.median(times[10:]) * 1000


async def measure(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS gj_copy; CREATE TABLE gj_copy (LIKE good_jobs INCLUDING ALL)")
        statement = sql("insert_jobs_uniform").replace("INSERT INTO good_jobs", "INSERT INTO gj_copy")
        indexes = [r["indexname"] for r in await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'gj_copy' AND indexname <> 'gj_copy_pkey'"
            " ORDER BY indexname")]
        previous = await timed(conn, statement)
        print(f"{ROWS:,} waiting rows per statement, median of {RUNS}: {previous:.2f} ms with every index")
        for name in indexes:
            definition = await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = $1", name)
            await conn.execute(f'DROP INDEX "{name}"')
            now = await timed(conn, statement)
            print(f"  {now:6.2f} ms without {definition.split(' USING ')[1]} (it cost {previous - now:+.2f} ms)")
            previous = now
        print(f"{previous:.2f} ms with the primary key only")
    finally:
        await conn.execute("DROP TABLE IF EXISTS gj_copy")
        await conn.close()


def main() -> None:
    with server() as admin_url:
        url = asyncio.run(fresh_database(admin_url, "goodjob_index_cost"))
        asyncio.run(measure(url))


if __name__ == "__main__":
    main()
