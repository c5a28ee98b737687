"""Cron and pauses through the real CLI: two `goodjob start --enable-cron` processes on an
every-second schedule run each occurrence once; an invalid entry stops the start; `goodjob pause`,
`paused` and `resume` steer a running worker process."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg
from conftest import SIDE_EFFECTS, Workers
from helpers import wait_for
from sample_jobs import SideEffectJob

TICK = json.dumps({"tick": {"cron": "* * * * * *", "class": "cron_batch_jobs.TickJob",
                            "description": "every second"}})
RunCli = Callable[..., subprocess.CompletedProcess[str]]


async def test_every_second_cron_on_two_processes_enqueues_each_occurrence_once(
    workers: Workers, conn: asyncpg.Connection
) -> None:
    await conn.execute(SIDE_EFFECTS)
    env = {"GOOD_JOB_CRON": TICK, "GOOD_JOB_ENABLE_CRON": "true"}
    procs = [workers.start("--poll-interval", "0.2", env=env), workers.start("--enable-cron", env=env)]
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 2 FROM good_job_processes"), timeout=30)

    async def four_ticks() -> bool:
        return bool(await conn.fetchval("SELECT count(*) >= 4 FROM side_effects"))

    await wait_for(four_ticks, timeout=30, interval=0.1)
    await asyncio.sleep(1.0)
    rows = await conn.fetch("SELECT marker, count(*) AS n, array_agg(pid) AS pids FROM side_effects GROUP BY marker")
    twice = [dict(r) for r in rows if r["n"] > 1]
    assert not twice, f"occurrences performed more than once: {twice}"
    times = {datetime.fromisoformat(r["marker"]) for r in rows}
    first, last = min(times), max(times)
    # Every second ran (the last two may still be in flight while another process ran a later one).
    expected = {first + timedelta(seconds=s) for s in range(int((last - first).total_seconds()) - 1)}
    assert expected <= times, sorted(expected - times)
    assert all(t.microsecond == 0 for t in times)
    for proc in procs:
        output = Workers.output(proc)
        assert proc.poll() is None, output
        assert "cron scheduling tick" in output, output
        assert " ERROR " not in output and "Traceback" not in output, output


async def test_an_invalid_cron_entry_stops_the_start_naming_it(workers: Workers) -> None:
    env = {"GOOD_JOB_CRON": json.dumps({"nightly": {"cron": "0 25 * * *", "class": "cron_batch_jobs.TickJob"}})}
    proc = workers.start("--enable-cron", env=env)
    code = await asyncio.to_thread(proc.wait, 30)
    output = Workers.output(proc)
    assert code == 2, output
    assert "cron entry 'nightly': '0 25 * * *' is not a valid cron expression" in output, output


async def test_pause_and_resume_from_the_cli_steer_a_running_worker(
    workers: Workers, run_cli: RunCli, conn: asyncpg.Connection
) -> None:
    await conn.execute(SIDE_EFFECTS)
    workers.start("--poll-interval", "0.2")
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 1 FROM good_job_processes"), timeout=30)
    paused = await asyncio.to_thread(run_cli, "pause", "--queue", "mail", "--job-class", "app.Other")
    assert paused.returncode == 0, paused.stderr
    assert "paused queues: mail" in paused.stdout and "paused job classes: app.Other" in paused.stdout
    await asyncio.sleep(1.0)  # the worker heard the NOTIFY (or its next poll re-read the setting)
    job = await SideEffectJob.set(queue="mail").perform_later("paused")
    await asyncio.sleep(1.0)
    assert await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", job.id) == "queued"
    listed = await asyncio.to_thread(run_cli, "paused")
    assert "paused queues: mail" in listed.stdout, listed.stderr
    resumed = await asyncio.to_thread(run_cli, "resume", "--queue", "mail", "--job-class", "app.Other")
    assert resumed.returncode == 0 and "nothing is paused" in resumed.stdout, resumed.stderr
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM side_effects WHERE marker = 'paused'"), timeout=10)
    usage = await asyncio.to_thread(run_cli, "pause")
    assert usage.returncode == 2 and "--queue or --job-class" in usage.stderr
