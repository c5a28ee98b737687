"""The dashboard's address book: every page and action, by the page module that answers it."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from goodjob.dashboard.pages import (
    batches,
    cron,
    jobs,
    labels,
    live,
    overview,
    pauses,
    performance,
    processes,
    queues,
)

__all__ = ["routes"]


def routes() -> list[BaseRoute]:
    return [
        Route("/", overview.overview, name="overview"),
        Route("/jobs", jobs.jobs, name="jobs"),
        Route("/jobs/bulk", jobs.bulk, methods=["POST"], name="jobs_bulk"),
        Route("/jobs/{job_id}", jobs.job, name="job"),
        Route("/jobs/{job_id}/{action}", jobs.job_action, methods=["POST"], name="job_action"),
        Route("/queues", queues.queues, name="queues"),
        Route("/queues/{action}", queues.queue_action, methods=["POST"], name="queue_action"),
        Route("/processes", processes.processes, name="processes"),
        Route("/performance", performance.performance_page, name="performance"),
        Route("/events", live.events, name="events"),
        Route("/cron", cron.cron_page, name="cron"),
        Route("/cron/{key}/{action}", cron.cron_action, methods=["POST"], name="cron_action"),
        Route("/batches", batches.batches_page, name="batches"),
        Route("/batches/{batch_id}", batches.batch_page, name="batch"),
        Route("/batches/{batch_id}/retry", batches.batch_retry, methods=["POST"], name="batch_retry"),
        Route("/labels", labels.labels_page, name="labels"),
        Route("/pauses", pauses.pauses_page, name="pauses"),
        Route("/pauses/{action}", pauses.pause_action, methods=["POST"], name="pause_action"),
        Mount("/static", StaticFiles(packages=[("goodjob.dashboard", "static")]), name="static"),
    ]
