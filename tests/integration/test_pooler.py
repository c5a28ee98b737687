"""Behind PgBouncer in transaction mode (tests/pgbouncer.py): migrate, enqueue, work, liveness by
lease or through ``session_database_url``, the dashboard under concurrent load; and the wake-up
routing that keeps N workers from sending N claims for one job. The worker, cron, concurrency,
batch, pause, enqueue and dashboard tests marked ``pgbouncer`` also run through it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import asyncpg
import httpx
import pytest
import sample_jobs
from helpers import wait_for
from starlette.applications import Starlette
from starlette.routing import Mount

import goodjob
from goodjob.core.errors import ConfigurationError, SessionDatabaseError
from goodjob.core.runtime import get_runtime
from goodjob.core.storage import store
from goodjob.core.worker import liveness
from goodjob.core.worker.launcher import Worker

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.pgbouncer  # `route` is "pgbouncer" in the second run of each test


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    sample_jobs.CALLS.clear()


@pytest.fixture
async def workers(gj: str) -> AsyncIterator[Callable[..., Any]]:
    started: list[Worker] = []
    runtime = get_runtime()

    async def start(**options: Any) -> Worker:
        config = dataclasses.replace(goodjob.current_config(), **options)

        async def url() -> str:
            return runtime.database_url()

        worker = Worker(config, database=runtime.database, url=url)
        await worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.shutdown(timeout=5)
    await runtime.close_database()


def test_a_bad_pooler_value_is_an_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOD_JOB_DATABASE_POOLER", "statement")
    with pytest.raises(ConfigurationError, match=r"GOOD_JOB_DATABASE_POOLER='statement' is not a valid"):
        goodjob.core.config.load_config()
    with pytest.raises(ConfigurationError, match="database_pooler='Session '"):
        goodjob.core.config.load_config(code={"database_pooler": "Session "})
    monkeypatch.setenv("GOOD_JOB_DATABASE_POOLER", " Transaction ")
    assert goodjob.core.config.load_config().transaction_pooler


def test_migrate_any_number_of_times(
    route: str, make_database: Callable[..., str], request: pytest.FixtureRequest
) -> None:
    """`goodjob migrate` as deploys run it: a new process each time, through the pooler."""
    url = make_database(migrated=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOOD_JOB_")}
    if route == "pgbouncer":
        url = request.getfixturevalue("pgbouncer").url(urlsplit(url).path.lstrip("/"))
        env["GOOD_JOB_DATABASE_POOLER"] = "transaction"
    env.update(GOOD_JOB_DATABASE_URL=url, PYTHONPATH=str(ROOT))
    outputs = []
    for _ in range(3):
        done = subprocess.run([sys.executable, "-m", "goodjob", "migrate"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert "applied migration" in outputs[0]
    assert all("up to date" in out for out in outputs[1:])


async def test_enqueue_single_bulk_and_in_a_transaction_then_work(
    workers: Callable[..., Any], gj: str, conn: asyncpg.Connection, pooled_url: str | None
) -> None:
    await sample_jobs.RecordJob.perform_later("single")
    await goodjob.perform_all_later([sample_jobs.RecordJob.new(i) for i in range(20)])
    own = await asyncpg.connect(pooled_url or gj, statement_cache_size=0)
    try:
        async with own.transaction():
            await sample_jobs.RecordJob.set(connection=own).perform_later("in-tx")
        with pytest.raises(RuntimeError):
            async with own.transaction():
                await sample_jobs.RecordJob.set(connection=own).perform_later("rolled back")
                raise RuntimeError("roll back")
    finally:
        await own.close()
    await sample_jobs.RecordJob.set(wait=1).perform_later("scheduled")
    worker = await workers()
    await wait_for(lambda: len(sample_jobs.CALLS) == 23, timeout=30)
    assert ("RecordJob", ("rolled back",), {}) not in sample_jobs.CALLS
    assert worker.process is not None
    row = await conn.fetchrow("SELECT lock_key FROM good_job_processes WHERE id = $1", worker.process.id)
    sessions = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'goodjob-session'"
        " AND datname = current_database()")
    if pooled_url is not None:  # no session URL: a lease, no LISTEN, no session connection
        assert row["lock_key"] == liveness.LEASE_LOCK_KEY and worker.notifier is None and sessions == 0
    else:
        assert row["lock_key"] != 0 and worker.notifier is not None and sessions == 1


async def test_with_a_session_url_listen_wakes_the_worker(
    workers: Callable[..., Any], gj: str, conn: asyncpg.Connection
) -> None:
    goodjob.configure(session_database_url=gj)  # the direct connection
    worker = await workers(poll_interval=-1)  # NOTIFY alone must start the job
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    await sample_jobs.RecordJob.perform_later("notified")
    await wait_for(lambda: sample_jobs.CALLS == [("RecordJob", ("notified",), {})], timeout=10)
    assert worker.process is not None and worker.process.lock_key != 0


async def test_an_unreachable_session_url_is_an_error_at_start(workers: Callable[..., Any]) -> None:
    goodjob.configure(session_database_url="postgresql://nobody:secret@127.0.0.1:1/none")
    with pytest.raises(SessionDatabaseError, match=r"session database postgresql://nobody:\*\*\*@127.0.0.1:1/none"):
        await workers()


async def test_a_lease_expires_a_dead_process_but_not_a_slow_one(
    workers: Callable[..., Any], conn: asyncpg.Connection, pooled_url: str | None
) -> None:
    """Without a session connection, a heartbeat older than the lease is a dead process; one that is
    merely late (a GC pause shorter than the lease) keeps its job."""
    if pooled_url is None:
        pytest.skip("leases are the pooled mode's liveness; the direct run covers locks elsewhere")
    now = datetime.now(UTC)
    dead, slow = uuid4(), uuid4()
    for pid, age in ((dead, liveness.LEASE + 5), (slow, liveness.LEASE - 12)):
        await conn.execute(
            "INSERT INTO good_job_processes (id, hostname, pid, queues, max_threads, lock_key, heartbeat_at)"
            " VALUES ($1, 'gone', 1, '*', 1, 0, clock_timestamp() - make_interval(secs => $2))", pid, age)
    ids = {}
    for pid, name in ((dead, "dead"), (slow, "slow")):
        job = await sample_jobs.RecordJob.set(queue="held").perform_later(name)
        await conn.execute("UPDATE good_jobs SET state = 'running', locked_by_id = $2, locked_at = $3,"
                           " performed_at = $3, executions_count = 1 WHERE id = $1", job.id, pid, now)
        ids[name] = job.id
    await workers(queues="held")
    await wait_for(lambda: sample_jobs.CALLS == [("RecordJob", ("dead",), {})], timeout=30)
    assert await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", ids["slow"]) == "running"
    assert await conn.fetchval("SELECT count(*) FROM good_job_processes WHERE id = $1", dead) == 0


async def test_the_dashboard_answers_200_concurrent_requests(
    gj: str, conn: asyncpg.Connection
) -> None:
    for i in range(30):
        await sample_jobs.RecordJob.perform_later(i)
    dashboard = goodjob.create_dashboard(database_url=goodjob.current_config().database_url,
                                         allow_unauthenticated=True)
    app = Starlette(routes=[Mount("/good_job", dashboard)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/good_job") as client:
        paths = ["/", "/jobs", "/jobs?state=queued", "/queues", "/processes"]
        answers = await asyncio.gather(*(client.get(paths[i % len(paths)]) for i in range(200)))
    await dashboard.close()
    assert sorted({r.status_code for r in answers}) == [200]


async def test_one_notify_leads_to_about_one_claim_among_many_workers(
    workers: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, gj: str, pooled_url: str | None
) -> None:
    """Four workers listen on one queue; each job, enqueued alone, is claimed about once in total
    (before: once per worker). Polling is off so that only wake-ups claim."""
    if pooled_url is not None:
        goodjob.configure(session_database_url=gj)  # LISTEN needs the direct connection
    claims = 0
    claim_all = store.claim_all

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal claims
        claims += 1
        return await claim_all(*args, **kwargs)

    monkeypatch.setattr(store, "claim_all", counting)
    pool = [await workers(poll_interval=-1, max_threads=2) for _ in range(4)]
    for worker in pool:
        await wait_for(lambda w=worker: w.notifier is not None and w.notifier.connected)
    await wait_for(lambda: all(w.router is not None and w.router.size == 4 for w in pool), timeout=30)
    await asyncio.sleep(0.5)  # the start-up claims are over
    claims = 0
    jobs = 20
    for i in range(jobs):
        await sample_jobs.RecordJob.perform_later(i)
        await wait_for(lambda n=i + 1: len(sample_jobs.CALLS) == n, timeout=10)
    assert claims <= jobs * 1.2, f"{claims} claims for {jobs} jobs"
    # Every worker answers its share: the routing spreads the jobs over the cluster.
    assert sum(1 for w in pool if sum(s.performed for s in w.schedulers)) >= 2
