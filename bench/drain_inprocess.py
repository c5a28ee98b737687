"""The worker's per-job cost without subprocesses: 20,000 no-op async jobs drained in this process.

    .venv/bin/python bench/drain_inprocess.py [--profile]   # GOOD_JOB_BENCH_DATABASE_URL: your server

The harness's goodjob adapter runs its worker the same way (``execution_mode="async"``,
``queues="bench:10"``, ``async with goodjob.lifespan()``). Prints jobs/s and this process's CPU per
job; ``--profile`` adds cProfile's top functions by own time (where the worker's Python goes).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time

from common import fresh_database, server

import goodjob

N = 20_000
DONE = 0
FINISHED = asyncio.Event()


@goodjob.job(queue="bench")
async def noop(**args: object) -> None:
    global DONE
    DONE += 1
    if DONE >= N:
        FINISHED.set()


async def drain(url: str, profile: bool) -> None:
    goodjob.configure(database_url=url, embedded=False)
    for _ in range(0, N, 1000):
        await goodjob.perform_all_later([noop.set(queue="bench").new() for _ in range(1000)])
    await goodjob.get_runtime().close_database()
    goodjob.configure(execution_mode="async", queues="bench:10")
    profiler = cProfile.Profile() if profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    async with goodjob.lifespan():
        if profiler is not None:
            profiler.enable()
        await FINISHED.wait()
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"drain in-process: {N / wall:,.0f} jobs/s, worker CPU {cpu / N * 1000:.3f} ms per job")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with server() as admin_url:
        url = asyncio.run(fresh_database(admin_url, "goodjob_drain_inprocess"))
        asyncio.run(drain(url, args.profile))


if __name__ == "__main__":
    main()
