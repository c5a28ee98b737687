"""Execution statistics (good_job_stats) written by the recorder, and what processes publish."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import asyncpg
import sample_jobs
from helpers import wait_for

import goodjob
from goodjob.core import stats
from goodjob.core.worker.launcher import Worker

StartWorker = Callable[..., Awaitable[Worker]]


async def test_recorder_counts_executions_of_deleted_and_failed_jobs(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    # preserve_job_records is off by default: succeeded rows are deleted, yet they are counted.
    await start_worker(poll_interval=0.2)
    for i in range(3):
        await sample_jobs.RecordJob.perform_later(i)
    await sample_jobs.FailingJob.set(queue="failing").perform_later()

    async def totals() -> dict[tuple[str, str], tuple[int, int]]:
        rows = await conn.fetch("SELECT queue_name, job_class, sum(executions)::int AS n, sum(failures)::int AS f"
                                " FROM good_job_stats WHERE span = 1 GROUP BY 1, 2")
        return {(r["queue_name"], r["job_class"]): (r["n"], r["f"]) for r in rows}

    await wait_for(lambda: _has(totals(), 2))
    found = await totals()
    assert found[("default", "sample_jobs.RecordJob")] == (3, 0)
    assert found[("failing", "sample_jobs.FailingJob")][1] >= 1
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE job_class = 'sample_jobs.RecordJob'") == 0


async def _has(rows: Awaitable[dict[tuple[str, str], tuple[int, int]]], n: int) -> bool:
    found = await rows
    return len(found) >= n and found.get(("default", "sample_jobs.RecordJob"), (0, 0))[0] >= 3


async def test_a_cron_process_publishes_its_entries_and_memory(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    goodjob.configure(cron={"nightly": {"cron": "0 3 * * *", "class": "sample_jobs.RecordJob",
                                        "args": [7, "x"], "timezone": "Europe/Berlin"}})
    await start_worker(enable_cron=True)
    row = await wait_for(lambda: conn.fetchrow("SELECT cron::text, memory_kb FROM good_job_processes"))
    published = json.loads(row["cron"])
    assert published["nightly"]["class"] == "sample_jobs.RecordJob"
    assert published["nightly"]["arguments"]["args"] == [7, "x"]
    assert published["nightly"]["timezone"] == "Europe/Berlin"
    assert row["memory_kb"] > 1000


def test_percentiles_from_bins_are_within_ten_percent() -> None:
    rows = stats.rollup((stats.hour_of(__import__("datetime").datetime(2026, 1, 1, 10, 5)), "q", "C", "succeeded",
                         float(ms)) for ms in range(1, 1001))
    figures = stats.summarize([dict(zip(("span", "hour", "queue_name", "job_class", "bin", "executions", "failures",
                                         "duration_ms_sum", "duration_ms_max"), r, strict=True))
                               for r in rows if r[0] == 1],
                              "job_class", 3600)["C"]
    assert figures.executions == 1000
    assert abs((figures.p50 or 0) - 500) / 500 < 0.1
    assert abs((figures.p95 or 0) - 950) / 950 < 0.1
    assert figures.duration_max == 1000
