"""`goodjob start` as a real subprocess: exactly-once at scale, crash recovery, shutdown, pidfile,
probes, bad input."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from conftest import SIDE_EFFECTS, Workers
from helpers import wait_for
from sample_jobs import CompletesInTransactionJob, CountJob, FirstAttemptHangsJob

import goodjob

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _exited(proc: subprocess.Popen[str]) -> bool:
    return proc.poll() is not None


@pytest.mark.slow
async def test_ten_thousand_jobs_across_four_processes_run_exactly_once(
    workers: Workers, conn: asyncpg.Connection
) -> None:
    await conn.execute(SIDE_EFFECTS)
    for _ in range(10):
        await goodjob.perform_all_later([CountJob.new(str(i)) for i in range(1000)])
    procs = [workers.start("--max-threads", "5", "--poll-interval", "1") for _ in range(4)]

    async def drained() -> bool:
        return await conn.fetchval("SELECT count(*) FROM good_jobs") == 0

    await wait_for(drained, timeout=90, interval=0.2)
    assert await conn.fetchval("SELECT count(*) FROM side_effects") == 10_000
    assert await conn.fetchval("SELECT count(DISTINCT job_id) FROM side_effects") == 10_000
    pids = await conn.fetchval("SELECT count(DISTINCT pid) FROM side_effects")
    assert pids >= 2, "the work should be shared between processes"
    for proc in procs:
        assert proc.poll() is None, Workers.output(proc)


@pytest.mark.slow
@pytest.mark.pgbouncer
async def test_sigkill_mid_job_runs_again_elsewhere_within_ten_seconds(
    workers: Workers, conn: asyncpg.Connection, route: str
) -> None:
    """Directly: the liveness lock frees at once (bound 10 s). Through PgBouncer without a session
    URL: the heartbeat lease expires (documented bound 30 s)."""
    await conn.execute(SIDE_EFFECTS)
    goodjob.configure(preserve_job_records=True)
    victim = workers.start("--max-threads", "2")
    job = await FirstAttemptHangsJob.perform_later("crash")

    async def started(attempt: int) -> bool:
        return bool(await conn.fetchval(
            "SELECT count(*) FROM side_effects WHERE marker = 'start:crash' AND attempt = $1", attempt))

    await wait_for(lambda: started(1), timeout=30)
    rescuer = workers.start("--max-threads", "2", env={"GOOD_JOB_PRESERVE_JOB_RECORDS": "true"})
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM good_job_processes WHERE pid = $1", rescuer.pid))
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    await wait_for(lambda: started(2), timeout=45)
    recovered_in = time.monotonic() - killed_at
    print(f"SIGKILL recovery: the job ran again {recovered_in:.1f}s after the kill")
    bound = 30 if route == "pgbouncer" else 10
    assert recovered_in < bound, f"took {recovered_in:.1f}s"

    async def succeeded() -> bool:
        return await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", job.id) == "succeeded"

    await wait_for(succeeded, timeout=20)
    outcomes = [r["outcome"] for r in await conn.fetch(
        "SELECT outcome FROM good_job_executions WHERE job_id = $1 ORDER BY id", job.id)]
    assert outcomes == ["interrupted", "succeeded"]
    ends = await conn.fetch("SELECT attempt, pid FROM side_effects WHERE marker = 'end:crash'")
    assert [(r["attempt"], r["pid"]) for r in ends] == [(2, rescuer.pid)]
    # the dead process's row is gone
    assert await conn.fetchval("SELECT count(*) FROM good_job_processes WHERE pid = $1", victim.pid) == 0


@pytest.mark.slow
async def test_a_job_completed_in_its_transaction_never_runs_again_after_a_sigkill(
    workers: Workers, conn: asyncpg.Connection
) -> None:
    """current_job().complete(conn): killed after its transaction committed (the worker never
    wrote the result), the job stays succeeded; a plain job killed alongside runs again (the control)."""
    await conn.execute(SIDE_EFFECTS)
    goodjob.configure(preserve_job_records=True)
    keep = {"GOOD_JOB_PRESERVE_JOB_RECORDS": "true"}
    victim = workers.start("--max-threads", "2", env=keep)
    completed = await CompletesInTransactionJob.perform_later("tx")
    plain = await FirstAttemptHangsJob.perform_later("plain")
    await wait_for(lambda: conn.fetchval(
        "SELECT count(*) = 2 FROM side_effects WHERE marker IN ('done:tx', 'start:plain') AND pid = $1",
        victim.pid), timeout=30)
    rescuer = workers.start("--max-threads", "2", env=keep)
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM good_job_processes WHERE pid = $1", rescuer.pid))
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    # The control: the plain job runs again on the rescuer, so the victim's jobs were recovered.
    await wait_for(lambda: conn.fetchval(
        "SELECT count(*) FROM side_effects WHERE marker = 'start:plain' AND attempt = 2"), timeout=45)
    row = await conn.fetchrow("SELECT state, executions_count, locked_by_id FROM good_jobs WHERE id = $1",
                              completed.id)
    assert (row["state"], row["executions_count"], row["locked_by_id"]) == ("succeeded", 1, None)
    assert await conn.fetchval("SELECT count(*) FROM side_effects WHERE job_id = $1", completed.id) == 1
    outcomes = [r["outcome"] for r in await conn.fetch(
        "SELECT outcome FROM good_job_executions WHERE job_id = $1 ORDER BY id", completed.id)]
    assert outcomes == ["succeeded"]
    assert plain.id != completed.id


async def _start_hanging(workers: Workers, conn: asyncpg.Connection, *args: str, seconds: float) -> tuple:
    await conn.execute(SIDE_EFFECTS)
    goodjob.configure(preserve_job_records=True)
    proc = workers.start(*args, env={"GOOD_JOB_PRESERVE_JOB_RECORDS": "true"})
    job = await FirstAttemptHangsJob.perform_later("shutdown", first_sleep=seconds)
    await wait_for(lambda: conn.fetchval(
        "SELECT count(*) FROM side_effects WHERE marker = 'start:shutdown'"), timeout=30)
    return proc, job


@pytest.mark.parametrize(
    ("timeout", "job_seconds", "expect_state"),
    [("-1", 1.5, "succeeded"), ("0", 30, "queued"), ("1", 30, "queued"), ("10", 1.0, "succeeded")],
)
async def test_shutdown_timeout(
    workers: Workers, conn: asyncpg.Connection, timeout: str, job_seconds: float, expect_state: str
) -> None:
    proc, job = await _start_hanging(workers, conn, "--shutdown-timeout", timeout, seconds=job_seconds)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    await wait_for(lambda: _exited(proc), timeout=40)
    took = time.monotonic() - sent
    output = Workers.output(proc)
    assert proc.returncode == 0, output
    row = await conn.fetchrow("SELECT state, error_event FROM good_jobs WHERE id = $1", job.id)
    assert row["state"] == expect_state, output
    if expect_state == "queued":
        assert row["error_event"] == "interrupted"
        assert str(job.id) in output  # the interrupted job's id is logged
        assert took < float(timeout) + 8
        outcomes = [r["outcome"] for r in await conn.fetch(
            "SELECT outcome FROM good_job_executions WHERE job_id = $1", job.id)]
        assert outcomes == ["interrupted"]
    assert await conn.fetchval("SELECT count(*) FROM good_job_processes") == 0


async def test_second_signal_forces_the_exit(workers: Workers, conn: asyncpg.Connection) -> None:
    proc, job = await _start_hanging(workers, conn, "--shutdown-timeout", "-1", seconds=60)
    proc.send_signal(signal.SIGINT)
    await asyncio.sleep(0.5)
    assert proc.poll() is None  # still waiting for the job
    proc.send_signal(signal.SIGINT)
    await wait_for(lambda: _exited(proc), timeout=20)
    assert await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", job.id) == "queued"


async def test_idle_timeout_exits(workers: Workers, conn: asyncpg.Connection) -> None:
    proc = workers.start("--idle-timeout", "1")
    await wait_for(lambda: _exited(proc), timeout=30)
    assert proc.returncode == 0, Workers.output(proc)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


async def test_probe_endpoints(workers: Workers, conn: asyncpg.Connection) -> None:
    port = free_port()
    workers.start("--probe-port", str(port))
    base = f"http://127.0.0.1:{port}"
    await wait_for(lambda: asyncio.to_thread(lambda: _get(base + "/status/started") == 200), timeout=30)
    assert await asyncio.to_thread(_get, base + "/status") == 200
    await wait_for(lambda: asyncio.to_thread(lambda: _get(base + "/status/connected") == 200), timeout=30)
    assert await asyncio.to_thread(_get, base + "/nope") == 404


def test_probe_reports_not_started_on_a_missing_schema(run_cli: RunCli, make_database: Callable[..., str]) -> None:
    url = make_database(migrated=False)
    result = run_cli("start", env={"GOOD_JOB_DATABASE_URL": url})
    assert result.returncode != 0
    assert "goodjob migrate" in result.stderr


@pytest.mark.parametrize("bad", ["mail:abc", "a,,b", ":2", "-", "mail:0", "mail:-1"])
def test_malformed_queue_string_stops_the_worker(run_cli: RunCli, bad: str) -> None:
    result = run_cli("start", "--queues", bad)
    assert result.returncode != 0
    assert repr(bad) in result.stderr or bad in result.stderr, result.stderr


def test_bad_env_var_names_variable_and_value(run_cli: RunCli) -> None:
    result = run_cli("start", env={"GOOD_JOB_MAX_THREADS": "abc"})
    assert result.returncode == 2
    assert "GOOD_JOB_MAX_THREADS" in result.stderr and "abc" in result.stderr


def test_pidfile_rules(run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "goodjob.pid"
    result = run_cli("start", "--daemonize", "--pidfile", str(missing))
    assert result.returncode != 0 and str(missing.parent) in result.stderr

    pidfile = tmp_path / "goodjob.pid"
    pidfile.write_text(f"{os.getpid()}\n")  # a live process: this test runner
    result = run_cli("start", "--daemonize", "--pidfile", str(pidfile))
    assert result.returncode != 0 and "already running" in result.stderr

    pidfile.write_text("999999\n")  # stale
    result = run_cli("start", "--daemonize", "--pidfile", str(pidfile), "--idle-timeout", "30")
    assert result.returncode == 0, result.stderr
    pid = int(wait_for_file(pidfile))
    assert pid != 999999
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pidfile.exists():
        time.sleep(0.05)
    assert not pidfile.exists(), "the daemon removes its pidfile on exit"


def wait_for_file(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.exists() else ""
        if text and text != "999999":
            return text
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written")


def test_migrate_is_idempotent_and_schema_prints(run_cli: RunCli, make_database: Callable[..., str]) -> None:
    url = make_database(migrated=False)
    first = run_cli("migrate", env={"GOOD_JOB_DATABASE_URL": url})
    assert first.returncode == 0 and "applied" in first.stdout, first.stderr
    second = run_cli("migrate", env={"GOOD_JOB_DATABASE_URL": url})
    assert second.returncode == 0 and "up to date" in second.stdout
    schema = run_cli("schema")
    assert "CREATE TABLE good_jobs" in schema.stdout


async def test_cleanup_preserved_jobs_cli(run_cli: RunCli, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)
    for _ in range(5):
        await CountJob.perform_later("old")
    await conn.execute("UPDATE good_jobs SET state = 'succeeded', finished_at = now() - interval '3 hours'")
    await CountJob.perform_later("waiting")
    result = run_cli("cleanup-preserved-jobs", "--before-seconds-ago", "3600")
    assert result.returncode == 0, result.stderr
    assert "deleted 5 preserved job(s)" in result.stdout
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 1
    env_result = run_cli("cleanup-preserved-jobs", env={"GOOD_JOB_CLEANUP_PRESERVED_JOBS_BEFORE_SECONDS_AGO": "abc"})
    assert env_result.returncode == 2 and "GOOD_JOB_CLEANUP_PRESERVED_JOBS_BEFORE_SECONDS_AGO" in env_result.stderr
