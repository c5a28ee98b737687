"""A FastAPI app with its own lifespan, composed with goodjob's; jobs run in the web process.

Run it from this directory (after ``goodjob migrate``)::

    GOOD_JOB_EXECUTION_MODE=async_server uvicorn fastapi_app:app --workers 2

Each uvicorn worker process runs its own goodjob pools; the supervisor process runs none.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from jobs import ResizeImage, SendWelcomeEmail, build_report

import goodjob

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("examples")


@asynccontextmanager
async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The app's own resources (clients, caches) go here. goodjob.lifespan(app_lifespan) starts the
    # workers after this startup and drains them before this teardown, so jobs may use them.
    log.info("app startup")
    yield
    log.info("app shutdown")


app = FastAPI(lifespan=goodjob.lifespan(app_lifespan))
app.mount("/good_job", goodjob.dashboard)


@app.post("/signup")
async def signup(email: str = "someone@example.com") -> dict[str, str]:
    job = await SendWelcomeEmail.perform_later(email)
    return {"job_id": str(job.id)}


@app.post("/reports/{name}")
def report(name: str) -> dict[str, str]:
    # A plain `def` endpoint runs in a thread: the sync API works there.
    job = build_report.perform_later_sync(name)
    return {"job_id": str(job.id)}


@app.post("/images")
async def images(count: int = 3) -> dict[str, int]:
    # Many jobs in one round trip.
    results = await goodjob.perform_all_later(
        [ResizeImage.new(f"img/{i}.png", 256) for i in range(count)]
    )
    return {"enqueued": sum(1 for r in results if r)}
