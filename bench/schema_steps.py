"""What the next candidate schema steps would save a bulk enqueue (issue 13's bulk target), measured.

    GOOD_JOB_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:55432/postgres .venv/bin/python bench/schema_steps.py

Copies ``good_jobs`` with all its indexes and times goodjob's uniform bulk insert (1,000 waiting rows
per statement, as ``bench/index_cost.py``) in three shapes, alternating three times so that a drift of
the machine shows: (a) today's indexes (schema version 11: waiting rows are in the primary key, the
two claim indexes, ``(created_at, id)`` and the two pending indexes); (b) without the pending
``(scheduled_at, id)`` index (the scheduled and queued tabs would then merge per-queue scans of
``(queue_name, scheduled_at)``); (c) without both pending indexes (those tabs and the queues page
served from the claim indexes). Neither step is built (bench/README.md says what each needs); this
is the measurement for the next one. Without a URL it starts a throwaway embedded Postgres.
"""

from __future__ import annotations

import asyncio

import asyncpg
from common import fresh_database, server
from index_cost import timed

from goodjob.core.storage.store import sql

PENDING = "(scheduled_at, id)"
QUEUE_PENDING = "(queue_name, scheduled_at)"


async def shape(conn: asyncpg.Connection, step: str, definitions: dict[str, str]) -> None:
    """Rebuild the copy's indexes as ``step`` ('today', 'no pending', 'no pending two') has them."""
    for name in definitions:
        await conn.execute(f'DROP INDEX IF EXISTS "{name}"')
    for definition in definitions.values():
        pending = " WHERE ((state = 'queued'::text) AND (error IS NULL))" in definition
        if step != "today" and pending and PENDING in definition:
            continue
        if step == "no pending two" and pending and QUEUE_PENDING in definition:
            continue
        await conn.execute(definition)


async def measure(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS gj_copy; CREATE TABLE gj_copy (LIKE good_jobs INCLUDING ALL)")
        statement = sql("insert_jobs_uniform").replace("INSERT INTO good_jobs", "INSERT INTO gj_copy")
        definitions = {r["indexname"]: r["indexdef"] for r in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'gj_copy' AND indexname <> 'gj_copy_pkey'")}
        for _ in range(3):
            line = []
            for step in ("today", "no pending", "no pending two"):
                await shape(conn, step, definitions)
                line.append(f"{step} {await timed(conn, statement):.2f} ms")
            print("1,000 waiting rows per statement: " + "; ".join(line))
    finally:
        await conn.execute("DROP TABLE IF EXISTS gj_copy")
        await conn.close()


def main() -> None:
    with server() as admin_url:
        url = asyncio.run(fresh_database(admin_url, "goodjob_schema_steps"))
        asyncio.run(measure(url))


if __name__ == "__main__":
    main()
