"""perform_limit across processes: two `goodjob start` subprocesses never run two jobs of one key at
once, and neither throttles nor logs errors while doing so."""

from __future__ import annotations

import asyncio
import itertools
import time

import asyncpg
from concurrency_jobs import SPANS, SpanJob
from conftest import Workers
from helpers import wait_for

import goodjob


async def test_perform_limit_one_holds_across_two_worker_processes(
    workers: Workers, conn: asyncpg.Connection
) -> None:
    await conn.execute(SPANS)
    goodjob.configure(preserve_job_records=True)
    total = 16
    for _ in range(6):  # some waiting before the workers start, the rest arrive while they run
        await SpanJob.perform_later(0.1)
    env = {"GOOD_JOB_PRESERVE_JOB_RECORDS": "true"}
    procs = [workers.start("--max-threads", "4", "--poll-interval", "0.1", env=env) for _ in range(2)]
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM good_job_processes"), timeout=30)
    for _ in range(total - 6):
        await SpanJob.perform_later(0.1)
        await asyncio.sleep(0.05)

    async def done() -> bool:
        return await conn.fetchval("SELECT count(*) FROM concurrency_spans") == total

    started = time.monotonic()
    await wait_for(done, timeout=60, interval=0.1)
    spans = await conn.fetch("SELECT pid, started_at, finished_at FROM concurrency_spans ORDER BY started_at")
    for before, after in itertools.pairwise(spans):
        assert after["started_at"] >= before["finished_at"], (
            f"jobs overlapped: pid {before['pid']} ran until {before['finished_at']}, "
            f"pid {after['pid']} started at {after['started_at']}"
        )
    assert time.monotonic() - started < 30
    print("jobs per worker pid:", dict(await conn.fetch("SELECT pid, count(*) FROM concurrency_spans GROUP BY pid")))
    # A job writes its span before it returns; its result is committed just after: wait for that too.
    await wait_for(lambda: conn.fetchval("SELECT count(*) = $1 FROM good_job_executions", total), timeout=30)
    outcomes = await conn.fetch("SELECT outcome, count(*) AS n FROM good_job_executions GROUP BY outcome")
    assert {r["outcome"]: r["n"] for r in outcomes} == {"succeeded": total}
    for proc in procs:
        assert proc.poll() is None, Workers.output(proc)
        assert " ERROR " not in Workers.output(proc) and "Traceback" not in Workers.output(proc)
