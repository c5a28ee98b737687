"""Prometheus metrics: the probe server's per-process /metrics and the goodjob.metrics ASGI app's
cluster gauges, parsed with prometheus_client.parser."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
import httpx
import sample_jobs
from helpers import wait_for
from prometheus_client.parser import text_string_to_metric_families

import goodjob
from goodjob.core.worker.launcher import Worker
from goodjob.probe import ProbeServer

StartWorker = Callable[..., Awaitable[Worker]]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """name + sorted labels -> value, for every sample of the exposition text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _scrape(port: int, path: str = "/metrics") -> tuple[int, str, str]:
    def get() -> tuple[int, str, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()

    return await asyncio.to_thread(get)


class Gate(goodjob.Job):
    queue_name = "gated"
    release: asyncio.Event | None = None

    async def perform(self) -> None:
        assert Gate.release is not None
        await Gate.release.wait()


async def test_probe_metrics_count_outcomes_durations_latency_and_busy_slots(start_worker: StartWorker) -> None:
    worker = await start_worker(queues="gated:2;-gated:3", poll_interval=0.1, retry_on_unhandled_error=False)
    probe = ProbeServer(_free_port(), worker, host="127.0.0.1")
    await probe.start()
    try:
        Gate.release = asyncio.Event()
        for i in range(3):
            await sample_jobs.RecordJob.perform_later(i)
        await sample_jobs.FailingJob.perform_later()
        await Gate.perform_later()
        await wait_for(lambda: worker.schedulers[0].running)
        await wait_for(lambda: sum(s.performed for s in worker.schedulers[1:]) == 4)
        code, content_type, text = await _scrape(probe.port)
        assert code == 200 and content_type.startswith("text/plain; version=0.0.4")
        got = samples(text)
        record = (("job_class", "sample_jobs.RecordJob"), ("outcome", "succeeded"), ("queue", "default"))
        assert got[("goodjob_jobs_finished_total", record)] == 3
        failing = (("job_class", "sample_jobs.FailingJob"), ("outcome", "discarded"), ("queue", "default"))
        assert got[("goodjob_jobs_finished_total", failing)] == 1
        by_class = (("job_class", "sample_jobs.RecordJob"), ("queue", "default"))
        assert got[("goodjob_job_duration_seconds_count", by_class)] == 3
        assert got[("goodjob_claim_latency_seconds_count", (("queue", "default"),))] == 4
        assert got[("goodjob_claim_latency_seconds_count", (("queue", "gated"),))] == 1
        assert got[("goodjob_pool_busy_slots", (("pool", worker.schedulers[0].spec.describe()),))] == 1
        assert got[("goodjob_pool_slots", (("pool", worker.schedulers[0].spec.describe()),))] == 2
        assert got[("goodjob_pool_busy_slots", (("pool", worker.schedulers[1].spec.describe()),))] == 0
        assert (await _scrape(probe.port, "/status"))[0] == 200  # the probes still answer
    finally:
        Gate.release.set()
        await probe.stop()


async def test_cluster_gauges_come_from_one_query_per_scrape(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    for _ in range(3):
        await sample_jobs.RecordJob.set(queue="mail").perform_later()
    await sample_jobs.RecordJob.set(queue="mail", wait=3600).perform_later()
    await sample_jobs.RecordJob.set(queue="video", wait=timedelta(hours=2)).perform_later()
    await conn.execute("UPDATE good_jobs SET scheduled_at = now() - interval '90 seconds' WHERE queue_name = 'mail' "
                       "AND scheduled_at <= now()")
    Gate.release = asyncio.Event()
    await start_worker(queues="gated:1")
    await Gate.perform_later()
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM good_jobs WHERE state = 'running'"))
    await conn.execute("ANALYZE good_jobs")

    queries: list[str] = []
    scraper = conn  # a connection is an executor too: its query logger counts the scrape's statements
    scraper.add_query_logger(lambda q: queries.append(q.query))
    app = goodjob.create_metrics_app(pool=scraper)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as client:
        response = await client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    await wait_for(lambda: len(queries) >= 4)  # asyncpg calls query loggers soon after, not during, the query
    # One read, in a transaction of its own with a fresh plan and no JIT (store.fetch_fresh_plan).
    reads = [q for q in queries if q not in ("BEGIN;", "COMMIT;") and "set_config('jit'" not in q]
    assert len(queries) == 4 and len(reads) == 1, queries
    assert "metrics_cluster" not in reads[0] and "WITH RECURSIVE" in reads[0], queries
    got = samples(response.text)
    assert got[("goodjob_jobs", (("queue", "mail"), ("state", "queued")))] == 3
    assert got[("goodjob_jobs", (("queue", "mail"), ("state", "scheduled")))] == 1
    assert got[("goodjob_jobs", (("queue", "video"), ("state", "scheduled")))] == 1
    assert got[("goodjob_jobs", (("queue", "gated"), ("state", "running")))] == 1
    assert 85 < got[("goodjob_queue_oldest_waiting_seconds", (("queue", "mail"),))] < 600
    assert got[("goodjob_queue_oldest_waiting_seconds", (("queue", "video"),))] == 0
    assert got[("goodjob_processes", ())] == 1 and got[("goodjob_process_threads", ())] == 1
    assert ("goodjob_jobs_finished_estimate", (("state", "succeeded"),)) in got
    assert got[("goodjob_jobs_capped", (("queue", "mail"), ("state", "queued")))] == 0
    Gate.release.set()


async def test_goodjob_metrics_itself_mounts_next_to_the_dashboard(gj: str) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    await sample_jobs.RecordJob.perform_later()
    app = Starlette(routes=[Mount("/metrics", goodjob.metrics), Mount("/good_job", goodjob.dashboard)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as client:
        response = await client.get("/metrics/")
        refused = await client.post("/metrics/")
    await goodjob.metrics.close()
    assert response.status_code == 200 and refused.status_code == 405
    got = samples(response.text)
    assert got[("goodjob_jobs", (("queue", "default"), ("state", "queued")))] == 1
    assert got[("goodjob_processes", ())] == 0
