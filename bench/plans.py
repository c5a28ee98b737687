"""Query plans of the claim queries at depth: proof that claiming stays O(log n).

    .venv/bin/python bench/plans.py [--rows 1000000]

Seeds --rows waiting jobs in queue `elsewhere` plus a few in `mail`, `batch` and `default`, then
prints EXPLAIN (ANALYZE, BUFFERS) of every claim shape (single queue, `+` ordered, `*`, and the
loose index scan behind exclusion pools), as first run and as the plan a prepared statement settles
on (asyncpg prepares statements, and Postgres may switch one to a generic plan after five runs).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from common import fresh_database, server

from goodjob.core.storage import store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers import prepared_plan  # the plan test's own helper

EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)"


async def main(admin: str, rows: int) -> None:
    url = await fresh_database(admin, "goodjob_bench_plans")
    conn = await asyncpg.connect(url)
    await conn.execute(
        """INSERT INTO good_jobs (id, queue_name, job_class, serialized_params)
           SELECT gen_random_uuid(), 'elsewhere', 'x.Y', '{}' FROM generate_series(1, $1)""", rows)
    await conn.execute(
        """INSERT INTO good_jobs (id, queue_name, job_class, serialized_params)
           SELECT gen_random_uuid(), q, 'x.Y', '{}' FROM unnest(ARRAY['mail', 'batch', 'default']) AS q,
           generate_series(1, 1000)""")
    await conn.execute("VACUUM ANALYZE good_jobs")
    now, pid = datetime.now(UTC), uuid.uuid4()
    to = "'infinity'::timestamptz"
    shapes = [
        ("single queue (mail)", "claim_queue", (10, now, pid, "mail", []),
         f"10, {to}, gen_random_uuid(), 'mail', ARRAY[]::text[]"),
        ("'+' ordered (batch, mail)", "claim_queues", (10, now, pid, ["batch", "mail"], True, []),
         f"10, {to}, gen_random_uuid(), ARRAY['batch', 'mail'], true, ARRAY[]::text[]"),
        ("'*' every queue", "claim_all", (10, now, pid, [], []),
         f"10, {to}, gen_random_uuid(), ARRAY[]::text[], ARRAY[]::text[]"),
        ("exclusion pool: queues with waiting jobs", "waiting_queue_names", (), ""),
    ]
    # "first runs": EXPLAIN with bound parameters (always a custom plan); "settled": the plan a
    # prepared statement runs after its first five, when plan_cache_mode=auto may go generic.
    for mode in ("first runs", "settled"):
        for title, name, args, literals in shapes:
            if mode == "first runs":
                tx = conn.transaction()
                await tx.start()
                plan = await conn.fetch(f"{EXPLAIN} " + store.sql(name), *args)
                await tx.rollback()
                lines = [r[0] for r in plan]
            else:
                lines = (await prepared_plan(conn, store.sql(name), literals, EXPLAIN)).splitlines()
            total = next((ln for ln in lines if ln.startswith("Execution Time")), "")
            print(f"== {title} [{mode}] {total}")
            for line in lines:
                if "Scan" in line or "Index Cond" in line or "Rows Removed" in line:
                    print("   ", line.strip())
    await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with server() as admin_url:
        asyncio.run(main(admin_url, args.rows))
