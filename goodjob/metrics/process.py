"""This process's metrics, served on the ``--probe-port`` server's ``/metrics``.

Counters and histograms fed by goodjob's events (``perform_start``, ``perform_finish``), so the
engine knows nothing of Prometheus; the pool gauges are read from the worker at scrape time.
Each process has its own registry (not prometheus_client's global one): two workers in one
interpreter (tests, an app that also runs async_server) never mix their numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from goodjob.core import events

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class _PoolCollector(Collector):
    """Busy and total slots per pool of the worker, read when scraped."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        busy = GaugeMetricFamily("goodjob_pool_busy_slots", "Slots of the pool running a job (or held by a "
                                 "thread job that outlived its timeout).", labels=["pool"])
        slots = GaugeMetricFamily("goodjob_pool_slots", "Slots (max threads) of the pool.", labels=["pool"])
        for scheduler in getattr(self.worker, "schedulers", ()):
            name = scheduler.spec.describe()
            busy.add_metric([name], scheduler.capacity - scheduler.free_slots)
            slots.add_metric([name], scheduler.capacity)
        yield busy
        yield slots


class ProcessMetrics:
    def __init__(self, worker: Any = None, *, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._clock = clock
        self.finished = Counter("goodjob_jobs_finished", "Attempts finished, by job class, queue and outcome "
                                "(succeeded, retried, discarded, handled, interrupted, throttled, snoozed, "
                                "cancelled).", ["job_class", "queue", "outcome"], registry=self.registry)
        self.duration = Histogram("goodjob_job_duration_seconds", "How long attempts ran, by job class and queue.",
                                  ["job_class", "queue"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.latency = Histogram("goodjob_claim_latency_seconds", "From a job's scheduled time (due) to its "
                                 "start on this process, by queue.", ["queue"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        if worker is not None:
            self.registry.register(_PoolCollector(worker))
        self._unsubscribe = [events.subscribe("perform_start", self._started),
                             events.subscribe("perform_finish", self._finished)]

    def _started(self, event: events.Event) -> None:
        scheduled_at = event.payload.get("scheduled_at")
        if isinstance(scheduled_at, datetime):
            wait = max(0.0, self._clock() - scheduled_at.astimezone(UTC).timestamp())
            self.latency.labels(str(event.payload.get("queue_name"))).observe(wait)

    def _finished(self, event: events.Event) -> None:
        p = event.payload
        job_class, queue = str(p.get("job_class")), str(p.get("queue_name"))
        self.finished.labels(job_class, queue, str(p.get("outcome"))).inc()
        duration_ms = p.get("duration_ms")
        if isinstance(duration_ms, int | float):
            self.duration.labels(job_class, queue).observe(duration_ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
