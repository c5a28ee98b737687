"""Enqueue throughput: single awaited enqueues and bulk enqueue, jobs/s (median of 3 runs).

    .venv/bin/python bench/enqueue.py [--single 10000] [--bulk 100000] [--batch 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from common import fresh_database, median, server

import goodjob
from goodjob.core.runtime import get_runtime


class BenchJob(goodjob.Job):
    async def perform(self, n: int) -> None:
        return None


async def single(count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        await BenchJob.perform_later(i)
    return count / (time.perf_counter() - started)


async def bulk(count: int, batch: int) -> float:
    started = time.perf_counter()
    for offset in range(0, count, batch):
        await goodjob.perform_all_later([BenchJob.new(i) for i in range(offset, min(count, offset + batch))])
    return count / (time.perf_counter() - started)


async def main(args: argparse.Namespace, admin_url: str) -> None:
    singles, bulks = [], []
    for run in range(args.runs):
        url = await fresh_database(admin_url, "goodjob_bench_enqueue")
        goodjob.reset_configuration()
        goodjob.configure(database_url=url, execution_mode="external")
        get_runtime().reset()
        await (await get_runtime().database()).pool.execute("SELECT 1")  # warm the pool
        singles.append(await single(args.single))
        bulks.append(await bulk(args.bulk, args.batch))
        await get_runtime().close_database()
        print(f"run {run + 1}: single {singles[-1]:,.0f} jobs/s, bulk {bulks[-1]:,.0f} jobs/s", flush=True)
    print(f"single enqueue ({args.single:,} sequential awaits): median {median(singles):,.0f} jobs/s")
    print(f"bulk enqueue ({args.bulk:,} in batches of {args.batch:,}): median {median(bulks):,.0f} jobs/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=10_000)
    parser.add_argument("--bulk", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    with server() as admin:
        asyncio.run(main(arguments, admin))
