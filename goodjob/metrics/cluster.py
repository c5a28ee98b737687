"""Cluster-wide gauges from the database: one bounded query per scrape (sql/operations.sql,
``metrics_cluster``), whichever process answers the scrape."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from goodjob.core.storage import store_operations
from goodjob.core.storage.db import Executor

#: Waiting jobs per queue and state are exact up to this many, then reported as the cap (and
#: goodjob_jobs_capped says so): each count reads at most this many index entries.
CAP = 100_000


class _Snapshot(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def families(rows: list[Any], cap: int) -> list[Metric]:
    jobs = GaugeMetricFamily("goodjob_jobs", "Jobs by queue and state: queued (due, waiting for a worker), "
                             f"scheduled (due later, retries included), running; exact up to {cap:,}.",
                             labels=["queue", "state"])
    capped = GaugeMetricFamily("goodjob_jobs_capped", "1 where goodjob_jobs reached the count cap.",
                               labels=["queue", "state"])
    oldest = GaugeMetricFamily("goodjob_queue_oldest_waiting_seconds", "Age of the oldest due job of the "
                               "queue (how far behind its workers are); 0 when nothing is due.", labels=["queue"])
    estimate = GaugeMetricFamily("goodjob_jobs_finished_estimate", "Preserved finished jobs by state, as the "
                                 "planner estimates them (autovacuum's statistics): an exact count would scan.",
                                 labels=["state"])
    processes = GaugeMetricFamily("goodjob_processes", "Worker processes registered (alive or not yet recovered).")
    threads = GaugeMetricFamily("goodjob_process_threads", "Slots (max threads) of every registered process.")
    seen_estimates: set[str] = set()
    for r in rows:
        metric, queue, state, value = r["metric"], r["queue"], r["state"], float(r["value"])
        if metric == "jobs":
            jobs.add_metric([queue, state], value)
            if state != "running":
                capped.add_metric([queue, state], 1.0 if value >= cap else 0.0)
        elif metric == "oldest":
            oldest.add_metric([queue], value)
        elif metric == "estimate":
            estimate.add_metric([state], value)
            seen_estimates.add(state)
        elif metric == "processes":
            processes.add_metric([], value)
        elif metric == "threads":
            threads.add_metric([], value)
    for state in ("succeeded", "discarded"):
        if state not in seen_estimates:
            estimate.add_metric([state], 0.0)
    return [jobs, capped, oldest, estimate, processes, threads]


async def render(ex: Executor, *, cap: int = CAP, now: datetime | None = None) -> bytes:
    rows = await store_operations.metrics_cluster(ex, now or datetime.now(UTC), cap)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families(rows, cap)))
    return generate_latest(registry)
