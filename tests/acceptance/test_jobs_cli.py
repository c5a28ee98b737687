"""Operating jobs across processes: `goodjob jobs ...` (a CLI process) cancels a job running in a
`goodjob start` process; a cancelled job whose process dies is discarded by another worker; the
CLI's table, --json, dry-run count and confirmation."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from conftest import SIDE_EFFECTS, Workers
from helpers import wait_for
from sample_jobs import CancellableAsyncJob, CooperativeThreadJob, RecordJob, ThreadSleepJob

import goodjob
from goodjob import jobs

RunCli = Callable[..., subprocess.CompletedProcess[str]]


async def _marker(conn: asyncpg.Connection, marker: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM side_effects WHERE marker = $1", marker))


async def _state(conn: asyncpg.Connection, job_id: object) -> str | None:
    return await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", job_id)  # type: ignore[no-any-return]


async def test_cli_cancels_an_async_job_running_in_another_process(
    workers: Workers, conn: asyncpg.Connection, run_cli: RunCli
) -> None:
    await conn.execute(SIDE_EFFECTS)
    worker = workers.start("--max-threads", "2")
    job = await CancellableAsyncJob.perform_later("x")
    await wait_for(lambda: _marker(conn, "start:x"), timeout=30)
    sent = time.monotonic()
    done = run_cli("jobs", "cancel", str(job.id))
    assert done.returncode == 0, done.stderr
    assert f"job {job.id} is now running (cancel requested" in done.stdout
    await wait_for(lambda: _marker(conn, "cancelled:x"), timeout=10)
    # From the CLI's exit to the task's cancellation: NOTIFY, not the 2 s heartbeat.
    print(f"cancel across processes: the task was cancelled {time.monotonic() - sent:.2f}s after the CLI started")

    async def discarded() -> bool:
        return await _state(conn, job.id) == "discarded"

    await wait_for(discarded, timeout=10)
    record = await jobs.get(job.id, executions=True)
    assert record is not None and record.error is not None and record.error.endswith("cancelled by operator")
    assert [e.outcome for e in record.executions or ()] == ["cancelled"]
    assert await _marker(conn, "start:x") == 1 and worker.poll() is None


async def test_a_cancelled_job_whose_process_dies_is_discarded_not_run_again(
    workers: Workers, conn: asyncpg.Connection
) -> None:
    # A def job that never looks at current_job().cancelled: only its process's death ends it.
    victim = workers.start("--max-threads", "2")
    job = await ThreadSleepJob.perform_later(300)

    async def running() -> bool:
        return await _state(conn, job.id) == "running"

    await wait_for(running, timeout=30)
    assert (await jobs.cancel(job.id)).cancel_requested
    rescuer = workers.start("--max-threads", "2")
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM good_job_processes WHERE pid = $1", rescuer.pid))
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)

    async def discarded() -> bool:
        return await _state(conn, job.id) == "discarded"

    await wait_for(discarded, timeout=30)
    row = await conn.fetchrow("SELECT error, error_event, executions_count FROM good_jobs WHERE id = $1", job.id)
    assert (row["error"], row["error_event"], row["executions_count"]) == ("cancelled by operator", "cancelled", 1)


async def test_a_def_job_in_another_process_sees_the_cancel(
    workers: Workers, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    workers.start("--max-threads", "2")
    job = await CooperativeThreadJob.perform_later(str(tmp_path))
    await wait_for(lambda: (tmp_path / "start-1").exists(), timeout=30)
    await jobs.cancel(job.id)
    await wait_for(lambda: (tmp_path / "saw-cancel").exists(), timeout=10)

    async def discarded() -> bool:
        return await _state(conn, job.id) == "discarded"

    await wait_for(discarded, timeout=10)


async def test_cli_list_show_and_bulk_actions(run_cli: RunCli, conn: asyncpg.Connection) -> None:
    made = [(await RecordJob.set(queue="mail").perform_later(i)).id for i in range(3)]
    other = await RecordJob.perform_later("other")
    table = run_cli("jobs", "list", "--queue", "mail")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "STATE", "QUEUE", "CLASS"] and len(lines) == 4
    assert all(str(i) in table.stdout for i in made) and str(other.id) not in table.stdout
    listed = json.loads(run_cli("jobs", "list", "--json", "--limit", "2").stdout)
    assert [r["id"] for r in listed] == [str(other.id), str(made[2])]
    page2 = json.loads(run_cli("jobs", "list", "--json", "--limit", "2", "--after", listed[-1]["id"]).stdout)
    assert [r["id"] for r in page2] == [str(made[1]), str(made[0])]
    shown = json.loads(run_cli("jobs", "show", str(made[0]), "--json").stdout)
    assert shown["arguments"] == [0] and shown["queue"] == "mail" and shown["executions"] == []

    dry = run_cli("jobs", "discard", "--queue", "mail", "--dry-run")
    assert "3 job(s) match (queue mail); nothing changed (--dry-run)" in dry.stdout
    refused = run_cli("jobs", "discard", "--queue", "mail")  # no TTY, no --yes
    assert refused.returncode == 1 and "pass --yes" in refused.stderr
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state = 'discarded'") == 0
    done = run_cli("jobs", "discard", "--queue", "mail", "--yes")
    assert "discard: 3 job(s) changed" in done.stdout, done.stderr
    assert json.loads(run_cli("jobs", "retry", "--state", "discarded", "--yes", "--json").stdout)["changed"]
    later = run_cli("jobs", "reschedule", str(made[0]), "--in", "3600")
    assert f"job {made[0]} is now scheduled" in later.stdout

    wrong = run_cli("jobs", "delete", str(other.id))
    assert wrong.returncode == 1
    assert f"job {other.id} is queued: delete applies to succeeded or discarded jobs" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    bad = run_cli("jobs", "show", "nope")
    assert bad.returncode == 2 and "'nope' is not a job id" in bad.stderr
    usage = run_cli("jobs", "retry")
    assert usage.returncode == 2 and "name job ids, or a filter" in usage.stderr


@pytest.fixture(autouse=True)
def _preserve() -> None:
    goodjob.configure(preserve_job_records=True)
