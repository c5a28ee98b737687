"""ASGI apps served by uvicorn in the acceptance tests (importable from tests/acceptance).

``app`` is wired with ``goodjob.lifespan``; ``unwired_app`` forgot it. Each request enqueues a
``SideEffectJob``, which records the pid of the process that performs it.
"""

from __future__ import annotations

import os

from sample_jobs import SideEffectJob
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import goodjob
from goodjob.core.runtime import get_runtime


async def enqueue(request: Request) -> JSONResponse:
    marker = request.query_params.get("marker", "web")
    sleep = float(request.query_params.get("sleep", "0"))
    job = await SideEffectJob.perform_later(marker, sleep)
    return JSONResponse({"job_id": str(job.id), "pid": os.getpid()})


async def status(request: Request) -> JSONResponse:
    live = get_runtime().in_process.live()
    return JSONResponse({
        "pid": os.getpid(),
        "worker": live is not None,
        "problem": goodjob.asgi.not_started_problem(),
        "poll_interval": live[0].config.poll_interval if live else None,
    })


routes = [Route("/enqueue", enqueue, methods=["GET", "POST"]), Route("/status", status)]
app = Starlette(routes=routes, lifespan=goodjob.lifespan)
unwired_app = Starlette(routes=routes)
