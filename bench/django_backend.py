"""Django Tasks on goodjob: enqueue rate through Django's API, drain rate of no-op tasks.

    .venv/bin/python bench/django_backend.py [--jobs 5000] [--enqueues 2000] [--runs 3]

Enqueue: ``task.enqueue()`` from plain sync code (autocommit), one row + NOTIFY each. Drain: one
`goodjob start --max-threads 10` under DJANGO_SETTINGS_MODULE, rows inserted beforehand, time from
the worker's registration until every row is finished (the rows are kept: preserve_job_records).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

import asyncpg
from common import fresh_database, server
from worker import start_worker, stop, wait_registered

ROOT = Path(__file__).resolve().parent.parent


def setup_django(url: str) -> None:
    os.environ["GOODJOB_BENCH_DJANGO_DB"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "djbench.settings"
    import django

    django.setup()


def enqueue_rate(count: int) -> float:
    from djbench.tasks import noop_sync

    noop_sync.enqueue()  # warm the pool
    t0 = time.perf_counter()
    for _ in range(count):
        noop_sync.enqueue()
    return count / (time.perf_counter() - t0)


PARAMS = '{"args":[],"kwargs":{},"meta":{"django":{"backend":"default"}}}'


async def drain(url: str, name: str, jobs: int) -> float:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM good_jobs")
        await conn.execute(
            """INSERT INTO good_jobs (id, queue_name, job_class, serialized_params)
               SELECT gen_random_uuid(), 'default', $1, $3::jsonb FROM generate_series(1, $2)""",
            f"djbench.tasks.{name}", jobs, PARAMS)
        proc = start_worker(url, "--max-threads", "10")  # DJANGO_SETTINGS_MODULE is inherited
        try:
            await wait_registered(conn, proc)
            t0 = time.perf_counter()
            while True:
                left = await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state <> 'succeeded'")
                if not left:
                    return jobs / (time.perf_counter() - t0)
                await asyncio.sleep(0.02)
        finally:
            stop(proc)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--enqueues", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with server() as admin:
        url = asyncio.run(fresh_database(admin, "goodjob_bench_django"))
        setup_django(url)
        enq = [enqueue_rate(args.enqueues) for _ in range(args.runs)]
        print(f"task.enqueue(), {args.enqueues} sequential: median {statistics.median(enq):,.0f} tasks/s "
              f"({', '.join(f'{r:,.0f}' for r in enq)})")
        for name in ("noop_async", "noop_sync"):
            rates = [asyncio.run(drain(url, name, args.jobs)) for _ in range(args.runs)]
            print(f"drain {args.jobs} {name} tasks, --max-threads 10: median {statistics.median(rates):,.0f} tasks/s "
                  f"({', '.join(f'{r:,.0f}' for r in rates)})")


if __name__ == "__main__":
    main()
