"""What the schema steps of issue 13's bulk target save a bulk enqueue, measured.

    GOOD_JOB_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:55432/postgres .venv/bin/python bench/schema_steps.py

Copies ``good_jobs`` with all its indexes and times goodjob's uniform bulk insert (1,000 waiting rows
per statement, as ``bench/index_cost.py``) in three shapes, alternating three times so that a drift of
the machine shows: (a) schema version 11 (waiting rows in the primary key, the two claim indexes,
``(created_at, id)`` and two dashboard indexes, ``(scheduled_at, id)`` and ``(queue_name,
scheduled_at)``); (b) the step tried first, those two replaced by one ``(queue_name, scheduled_at,
id)``; (c) today's, version 12: no dashboard index for waiting rows (the scheduled and queued tabs,
the queues page and the scheduled-time cache read the claim indexes one range per priority).
Without a URL it starts a throwaway embedded Postgres.
"""

from __future__ import annotations

import asyncio

import asyncpg
from common import fresh_database, server
from index_cost import timed

from goodjob.core.storage.store import sql

WAITING = "WHERE state = 'queued' AND error IS NULL"
EXTRA = {
    "schema 11": ("CREATE INDEX gj_copy_pending ON gj_copy (scheduled_at, id) " + WAITING,
                  "CREATE INDEX gj_copy_queue_pending ON gj_copy (queue_name, scheduled_at) " + WAITING),
    "one queue index": ("CREATE INDEX gj_copy_waiting_queue ON gj_copy (queue_name, scheduled_at, id) " + WAITING,),
    "today": (),
}


async def shape(conn: asyncpg.Connection, step: str) -> None:
    """Give the copy today's indexes plus what ``step`` (a key of EXTRA) adds."""
    for name in ("gj_copy_pending", "gj_copy_queue_pending", "gj_copy_waiting_queue"):
        await conn.execute(f"DROP INDEX IF EXISTS {name}")
    for definition in EXTRA[step]:
        await conn.execute(definition)


async def measure(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS gj_copy; CREATE TABLE gj_copy (LIKE good_jobs INCLUDING ALL)")
        statement = sql("insert_jobs_uniform").replace("INSERT INTO good_jobs", "INSERT INTO gj_copy")
        for _ in range(3):
            line = []
            for step in EXTRA:
                await shape(conn, step)
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
