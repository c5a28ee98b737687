"""Worker benchmarks: drain rate, enqueue-to-start latency, drain at depth (median of runs).

    .venv/bin/python bench/worker.py [--jobs 20000] [--threads 10] [--runs 3] [--depth 1000000]
        [--scenarios drain,latency,depth]

One `goodjob start` subprocess with --max-threads 10 (log level warning) against a Postgres with
default durability settings. Jobs are no-op `async def` jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
from common import fresh_database, server

ROOT = Path(__file__).resolve().parent.parent


def start_worker(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GOOD_JOB_")}
    environ.update(
        GOOD_JOB_DATABASE_URL=url, GOOD_JOB_LOG_LEVEL="warning",
        PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
    )
    environ.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "goodjob", "start", *args], env=environ)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def enqueue_bulk(url: str, count: int, queue: str = "default", batch: int = 5000) -> None:
    conn = await asyncpg.connect(url)
    try:
        for offset in range(0, count, batch):
            n = min(batch, count - offset)
            await conn.execute(
                """INSERT INTO good_jobs (id, queue_name, job_class, serialized_params)
                   SELECT gen_random_uuid(), $1, 'bench_jobs.NoopJob', '{"args":[],"kwargs":{}}'
                   FROM generate_series(1, $2)""",
                queue, n,
            )
    finally:
        await conn.close()


async def wait_registered(conn: asyncpg.Connection, proc: subprocess.Popen[bytes]) -> None:
    while not await conn.fetchval("SELECT count(*) FROM good_job_processes WHERE pid = $1", proc.pid):
        if proc.poll() is not None:
            raise RuntimeError("worker exited")
        await asyncio.sleep(0.02)


async def drain(admin: str, jobs: int, threads: int, depth: int = 0, args_queues: str = "default") -> float:
    url = await fresh_database(admin, "goodjob_bench_worker")
    if depth:
        await enqueue_bulk(url, depth, queue="elsewhere")
        conn = await asyncpg.connect(url)
        await conn.execute("VACUUM ANALYZE good_jobs")
        await conn.close()
    await enqueue_bulk(url, jobs)
    conn = await asyncpg.connect(url)
    # The same worker either way (it serves "default"), so depth is the only difference.
    proc = start_worker(url, "--max-threads", str(threads), "--queues", args_queues)
    try:
        total = jobs + depth
        started = None
        while True:
            # Both counts use partial indexes: cheap even with a million rows in other queues.
            left = await conn.fetchval(
                "SELECT (SELECT count(*) FROM good_jobs WHERE state = 'queued' AND queue_name = 'default')"
                " + (SELECT count(*) FROM good_jobs WHERE state = 'running')"
            )
            now = time.perf_counter()
            if started is None and left < jobs:
                started = now
                first_left = left
            if left == 0:
                assert started is not None
                return (jobs - 0 - (jobs - first_left)) / (now - started) if now > started else float("nan")
            if proc.poll() is not None:
                raise RuntimeError("worker exited")
            await asyncio.sleep(0.01)
        del total
    finally:
        stop(proc)
        await conn.close()


async def latency(admin: str, count: int, threads: int, interval: float) -> tuple[float, float, float]:
    url = await fresh_database(admin, "goodjob_bench_latency")
    conn = await asyncpg.connect(url)
    proc = start_worker(url, "--max-threads", str(threads), env={"GOOD_JOB_PRESERVE_JOB_RECORDS": "true"})
    try:
        await wait_registered(conn, proc)
        await asyncio.sleep(1.0)  # let LISTEN connect
        sql = """WITH ins AS (INSERT INTO good_jobs (id, queue_name, job_class, serialized_params,
                        scheduled_at, created_at)
                     VALUES (gen_random_uuid(), 'default', 'bench_jobs.NoopJob', '{"args":[],"kwargs":{}}',
                             clock_timestamp(), clock_timestamp()) RETURNING queue_name)
                 SELECT pg_notify('good_job', json_build_object('queue', queue_name)::text) FROM ins"""
        for _ in range(count):
            t = time.perf_counter()
            await conn.execute(sql)
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t)))
        while await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state <> 'succeeded'"):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        rows = await conn.fetch(
            "SELECT extract(epoch FROM performed_at - created_at) * 1000 AS ms FROM good_jobs"
        )
    finally:
        stop(proc)
        await conn.close()
    values = sorted(float(r["ms"]) for r in rows)
    q = statistics.quantiles(values, n=100)
    return q[49], q[94], q[98]


async def main(args: argparse.Namespace, admin: str) -> None:
    scenarios = args.scenarios.split(",")
    if "drain" in scenarios:
        rates = [await drain(admin, args.jobs, args.threads, args_queues="*") for _ in range(args.runs)]
        print(f"drain ('*' pool): {args.jobs:,} no-op async jobs, --max-threads {args.threads}: "
              f"{', '.join(f'{r:,.0f}' for r in rates)} -> median {statistics.median(rates):,.0f} jobs/s", flush=True)
        rates = [await drain(admin, args.jobs, args.threads) for _ in range(args.runs)]
        print(f"drain (--queues default): {args.jobs:,} no-op async jobs, --max-threads {args.threads}: "
              f"{', '.join(f'{r:,.0f}' for r in rates)} -> median {statistics.median(rates):,.0f} jobs/s", flush=True)
    if "latency" in scenarios:
        results = [await latency(admin, args.latency_jobs, args.threads, 0.02) for _ in range(args.runs)]
        p50 = statistics.median(r[0] for r in results)
        p95 = statistics.median(r[1] for r in results)
        p99 = statistics.median(r[2] for r in results)
        print(f"latency: {args.latency_jobs} jobs, one every 20 ms, enqueue-to-start: "
              f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms (medians of {args.runs})", flush=True)
    if "depth" in scenarios:
        rates = [await drain(admin, args.jobs, args.threads, depth=args.depth) for _ in range(args.runs)]
        print(f"depth (--queues default): same drain with {args.depth:,} jobs waiting in an unserved queue: "
              f"{', '.join(f'{r:,.0f}' for r in rates)} -> median {statistics.median(rates):,.0f} jobs/s", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--depth", type=int, default=1_000_000)
    parser.add_argument("--latency-jobs", type=int, default=300)
    parser.add_argument("--scenarios", default="drain,latency,depth")
    arguments = parser.parse_args()
    with server() as admin_url:
        asyncio.run(main(arguments, admin_url))
