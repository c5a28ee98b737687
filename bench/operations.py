"""goodjob.jobs and goodjob.metrics at scale: seed N job rows (bench/dashboard.py's mix, default
1,000,000), then time the job API's reads and one metrics scrape (the cluster query).

    .venv/bin/python bench/operations.py [--rows 1000000] [--runs 20]

Uses GOOD_JOB_BENCH_DATABASE_URL if set, else a throwaway embedded server.
"""

from __future__ import annotations

import argparse
import asyncio

import asyncpg
from common import fresh_database, server
from dashboard import report, seed, timed

from goodjob import jobs
from goodjob.metrics import cluster


async def main(args: argparse.Namespace, admin_url: str) -> None:
    url = await fresh_database(admin_url, "goodjob_bench_operations")
    print(f"seeding {args.rows:,} jobs ...", flush=True)
    print(f"seeded in {await seed(url, args.rows):.1f} s")
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    try:
        some = await pool.fetchval("SELECT id FROM good_jobs WHERE state = 'discarded' LIMIT 1")
        first = await jobs.find(state="succeeded", limit=50, database=pool)
        cases = {
            "metrics scrape (the one cluster query)": lambda: cluster.render(pool),
            "jobs.get(id, executions=True)": lambda: jobs.get(some, executions=True, database=pool),
            "jobs.find() newest 50": lambda: jobs.find(limit=50, database=pool),
            "jobs.find(state=succeeded, after=page 1)": lambda: jobs.find(state="succeeded", after=first[-1],
                                                                         database=pool),
            "jobs.find(state=discarded, queue=mailers)": lambda: jobs.find(state="discarded", queue="mailers",
                                                                          database=pool),
            "jobs.find(job_class=..., state=retried)": lambda: jobs.find(job_class="ChargeInvoice",
                                                                        state="retried", database=pool),
            "jobs.count(state=queued, queue=mailers)": lambda: jobs.count(state="queued", queue="mailers",
                                                                         database=pool),
            "jobs.count(state=discarded) (exact: an index-only scan)": lambda: jobs.count(state="discarded",
                                                                                          database=pool),
        }
        for name, fn in cases.items():
            report(name, *(await timed(fn, args.runs)))
    finally:
        await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    arguments = parser.parse_args()
    with server() as maintenance_url:
        asyncio.run(main(arguments, maintenance_url))
