"""`goodjob start --probe-port` serves this process's Prometheus metrics on /metrics."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request

import asyncpg
from conftest import Workers
from helpers import wait_for
from prometheus_client.parser import text_string_to_metric_families
from sample_jobs import RecordJob


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_worker_process_serves_metrics_on_its_probe_port(workers: Workers, conn: asyncpg.Connection) -> None:
    port = _free_port()
    workers.start("--probe-port", str(port))
    for i in range(2):
        await RecordJob.perform_later(i)
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 0 FROM good_jobs"), timeout=30)

    def scrape() -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return str(r.read().decode())
        except (urllib.error.URLError, ConnectionError):
            return None

    async def finished() -> float:
        text = await asyncio.to_thread(scrape)
        for family in text_string_to_metric_families(text or ""):
            for s in family.samples:
                if s.name == "goodjob_jobs_finished_total" and s.labels["job_class"] == "sample_jobs.RecordJob":
                    return s.value
        return 0.0

    assert await wait_for(finished, timeout=30) == 2
