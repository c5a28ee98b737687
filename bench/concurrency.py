"""Concurrency-control benchmarks; the latest figures are in bench/concurrency.md.

    .venv/bin/python bench/concurrency.py [--jobs 100] [--naive-jobs 30] [--threads 10] [--job-ms 20]
        [--blocked 0,1000,10000] [--enqueues 2000] [--scenarios perform,blocked,enqueue]

perform  N jobs with one key and perform_limit=1 on one in-process worker with T threads, three ways:
         "claim filter" (goodjob: the claim skips rows whose key is full), "no key" (the same jobs
         without a limit: the unconstrained baseline), and "check after claim" (rows carrying a key
         but no stored rules, so only the check before perform applies: GoodJob's approach, which
         throttles and reschedules). Reports wall time, most jobs running at once, claim statements,
         throttled executions, commits (pg_stat_database.xact_commit) and the database server's CPU
         (user+system of the postmaster and its children, from /proc), overall and per 0.5 s sample.
blocked  the cost the claim filter does add: B queued rows of one key held back by a running job of
         that key, ahead (in claim order) of plain rows; latency of claiming 10 plain rows.
enqueue  perform_later latency: plain, perform_limit only (one statement), enqueue_limit (a
         transaction with an advisory lock and a count).

A throwaway embedded Postgres with default durability settings (fsync on), as the other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import describe, fresh_database

import goodjob
from goodjob.core.enqueue import JobRequest
from goodjob.core.runtime import get_runtime
from goodjob.core.storage import store
from goodjob.core.storage.embedded import start_temporary
from goodjob.core.worker.launcher import Worker

DEFAULTS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on", "max_connections": "200"}
SPANS: list[tuple[float, float]] = []
JOB_SECONDS = 0.02


class LimitedJob(goodjob.Job):
    concurrency = goodjob.Concurrency(key="bench", perform_limit=1)

    async def perform(self) -> None:
        start = time.monotonic()
        await asyncio.sleep(JOB_SECONDS)
        SPANS.append((start, time.monotonic()))


class PlainJob(goodjob.Job):
    async def perform(self) -> None:
        start = time.monotonic()
        await asyncio.sleep(JOB_SECONDS)
        SPANS.append((start, time.monotonic()))


class EnqueueLimitedJob(goodjob.Job):
    concurrency = goodjob.Concurrency(key="bench-enqueue", enqueue_limit=10**9)

    async def perform(self) -> None:
        return None


# --- measuring the server ---------------------------------------------------------------------------


class ServerCpu:
    """CPU seconds used by the postmaster and all its children (live ones plus reaped ones)."""

    def __init__(self, data_dir: Path) -> None:
        self.postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
        self.tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(entry.name), int(fields[1])
            if pid == self.postmaster:
                total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
            elif ppid == self.postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / self.tick


def max_overlap(spans: list[tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in points:
        running += delta
        peak = max(peak, running)
    return peak


async def commits(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))


# --- scenario: perform_limit ------------------------------------------------------------------------


async def perform_case(admin_url: str, cpu: ServerCpu, label: str, jobs: int, threads: int) -> dict[str, Any]:
    url = await fresh_database(admin_url, "bench_concurrency_perform")
    goodjob.reset_configuration()
    goodjob.configure(database_url=url, execution_mode="external",
                      preserve_job_records=True, poll_interval=1.0)
    runtime = get_runtime()
    runtime.reset()
    if label == "claim filter":
        await goodjob.perform_all_later([LimitedJob.new() for _ in range(jobs)])
    elif label == "no key":
        await goodjob.perform_all_later([PlainJob.new() for _ in range(jobs)])
    else:  # a key on the row but no stored rules: only the check before perform applies
        await runtime.enqueue_many(
            [JobRequest(job_class=LimitedJob.job_name, concurrency_key="bench") for _ in range(jobs)]
        )
    claims = 0
    originals = (store.claim_all, store.claim_queues)

    async def counted_all(*args: Any) -> Any:
        nonlocal claims
        claims += 1
        return await originals[0](*args)

    store.claim_all = counted_all  # type: ignore[assignment]
    conn = await asyncpg.connect(url)
    SPANS.clear()
    samples: list[float] = []

    async def get_url() -> str:
        return url

    try:
        # An idle backend may hold its statistics back for up to 10 s: close the pools around the
        # measurement so that every counted commit is published (a closing backend flushes).
        await runtime.close_database()
        await asyncio.sleep(0.5)
        commits0, cpu0, t0 = await commits(conn), cpu.seconds(), time.monotonic()
        config = dataclasses.replace(goodjob.current_config(), max_threads=threads, queues="*")
        worker = Worker(config, database=runtime.database, url=get_url)
        await worker.start()
        last_cpu, last_t = cpu0, t0
        while len(SPANS) < jobs:
            await asyncio.sleep(0.5)
            now_cpu, now_t = cpu.seconds(), time.monotonic()
            samples.append(100 * (now_cpu - last_cpu) / (now_t - last_t))
            last_cpu, last_t = now_cpu, now_t
            if now_t - t0 > 600:
                raise RuntimeError(f"{label}: {len(SPANS)} of {jobs} jobs done after 600 s")
        wall = max(e for _, e in SPANS) - t0
        cpu1 = cpu.seconds()
        await worker.shutdown(timeout=5)
        await runtime.close_database()
        await asyncio.sleep(0.5)
        commits1 = await commits(conn)
        throttled = await conn.fetchval("SELECT count(*) FROM good_job_executions WHERE outcome = 'throttled'")
    finally:
        store.claim_all = originals[0]  # type: ignore[assignment]
        await conn.close()
        await runtime.close_database()
    return {
        "case": label, "wall_s": wall, "max_running": max_overlap(SPANS), "claims": claims,
        "throttled": throttled, "commits": commits1 - commits0, "db_cpu_s": cpu1 - cpu0,
        "cpu_pct": samples,
    }


async def scenario_perform(admin_url: str, cpu: ServerCpu, jobs: int, threads: int, naive_jobs: int) -> None:
    print(f"\n## perform_limit=1: {jobs} jobs of {JOB_SECONDS * 1000:g} ms, one key, one worker with "
          f"{threads} threads\n")
    print("| case | jobs | wall s | max running | claims | throttled | commits | db CPU s | db CPU ms/job | "
          "db CPU % per 0.5 s (min / median / max) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, n in (("claim filter", jobs), ("no key", jobs), ("check after claim", naive_jobs)):
        r = await perform_case(admin_url, cpu, label, n, threads)
        pct = r["cpu_pct"] or [0.0]
        print(f"| {r['case']} | {n} | {r['wall_s']:.2f} | {r['max_running']} | {r['claims']} | {r['throttled']} | "
              f"{r['commits']} | {r['db_cpu_s']:.2f} | {1000 * r['db_cpu_s'] / n:.2f} | {min(pct):.0f} / "
              f"{statistics.median(pct):.0f} / {max(pct):.0f} |", flush=True)


# --- scenario: claim cost without a key ---------------------------------------------------------------


async def seed_plain(conn: asyncpg.Connection, count: int, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO good_jobs (id, job_class, serialized_params, scheduled_at)
           SELECT gen_random_uuid(), 'bench.Plain', '{"args":[],"kwargs":{}}',
                  $2::timestamptz + i * interval '1 microsecond'
           FROM generate_series(1, $1) AS i""", count, at,
    )
    await conn.execute("VACUUM ANALYZE good_jobs")


Claim = Callable[..., Awaitable[list[Any]]]


async def drain_timings(conn: asyncpg.Connection, claim: Claim, limit: int) -> list[float]:
    timings: list[float] = []
    process = uuid4()
    while True:
        t = time.perf_counter()
        rows = await claim(conn, 10, datetime.now(UTC), process, [])
        timings.append((time.perf_counter() - t) * 1000)
        if len(rows) < 10 or len(timings) >= limit:
            return timings


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def scenario_blocked(admin_url: str, backlogs: list[int]) -> None:
    print("\n## claim latency behind a held-back key: B queued rows of one key (perform_limit=1, one running)"
          " ahead of plain rows; 10 plain rows per claim\n")
    print("| B (held-back rows) | median ms | p95 ms |")
    print("|---|---|---|")
    for blocked in backlogs:
        url = await fresh_database(admin_url, "bench_concurrency_blocked")
        conn = await asyncpg.connect(url)
        try:
            early = datetime.now(UTC) - timedelta(hours=2)
            await conn.execute(
                """INSERT INTO good_jobs (id, job_class, state, concurrency_key, concurrency_perform_limit)
                   VALUES (gen_random_uuid(), 'bench.Limited', 'running', 'held', 1)""")
            await conn.execute(
                """INSERT INTO good_jobs (id, job_class, scheduled_at, concurrency_key, concurrency_perform_limit)
                   SELECT gen_random_uuid(), 'bench.Limited', $2::timestamptz + i * interval '1 microsecond', 'held', 1
                   FROM generate_series(1, $1) AS i""", blocked, early)
            await seed_plain(conn, 2000, early + timedelta(hours=1))
            timings = await drain_timings(conn, store.claim_all, 100)
        finally:
            await conn.close()
        print(f"| {blocked} | {statistics.median(timings):.3f} | {pct(timings, 0.95):.3f} |", flush=True)


# --- scenario: enqueue --------------------------------------------------------------------------------


async def scenario_enqueue(admin_url: str, count: int) -> None:
    print(f"\n## perform_later latency, {count} sequential enqueues each\n")
    print("| job | median ms | p95 ms | enqueues/s |")
    print("|---|---|---|---|")
    for label, cls in (("plain", PlainJob), ("perform_limit only", LimitedJob),
                       ("enqueue_limit (lock + count)", EnqueueLimitedJob)):
        url = await fresh_database(admin_url, "bench_concurrency_enqueue")
        goodjob.reset_configuration()
        goodjob.configure(database_url=url, execution_mode="external")
        runtime = get_runtime()
        runtime.reset()
        timings = []
        try:
            for _ in range(50):
                await cls.perform_later()  # warm the pool and the statement cache
            t0 = time.perf_counter()
            for _ in range(count):
                t = time.perf_counter()
                await cls.perform_later()
                timings.append((time.perf_counter() - t) * 1000)
            total = time.perf_counter() - t0
        finally:
            await runtime.close_database()
        print(f"| {label} | {statistics.median(timings):.3f} | {pct(timings, 0.95):.3f} | {count / total:.0f} |",
              flush=True)


async def main(args: argparse.Namespace) -> None:
    global JOB_SECONDS
    JOB_SECONDS = args.job_ms / 1000
    pg = start_temporary(settings=DEFAULTS)
    try:
        admin = pg.url("postgres")
        cpu = ServerCpu(pg.data_dir)
        print(await asyncio.to_thread(describe, admin, "embedded, throwaway"), flush=True)
        scenarios = args.scenarios.split(",")
        print(f"# goodjob concurrency bench ({datetime.now(UTC):%Y-%m-%d}, Python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs)")
        if "perform" in scenarios:
            await scenario_perform(admin, cpu, args.jobs, args.threads, args.naive_jobs)
        if "blocked" in scenarios:
            await scenario_blocked(admin, [int(b) for b in args.blocked.split(",")])
        if "enqueue" in scenarios:
            await scenario_enqueue(admin, args.enqueues)
    finally:
        get_runtime().reset()
        pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--naive-jobs", type=int, default=30, help="jobs for the slow 'check after claim' case")
    parser.add_argument("--job-ms", type=float, default=20.0)
    parser.add_argument("--blocked", default="0,1000,10000")
    parser.add_argument("--enqueues", type=int, default=2000)
    parser.add_argument("--scenarios", default="perform,blocked,enqueue")
    asyncio.run(main(parser.parse_args()))
