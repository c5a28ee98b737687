"""A Starlette app whose request handlers enqueue jobs, run in the web process, with the dashboard.

Run it from this directory (after ``goodjob migrate``)::

    GOOD_JOB_EXECUTION_MODE=async_server GOOD_JOB_MAX_THREADS=4 GOOD_JOB_POLL_INTERVAL=30 \\
        uvicorn starlette_app:app

then ``curl -X POST 'localhost:8000/signup?email=ada@example.com'`` and open
http://localhost:8000/good_job/ (the dashboard refuses everyone until you set
``GOOD_JOB_DASHBOARD_USERNAME`` and ``GOOD_JOB_DASHBOARD_PASSWORD``). Without
``GOOD_JOB_EXECUTION_MODE`` (external mode) the jobs wait for ``goodjob start --import jobs``.
``goodjob.lifespan`` also closes the mounted dashboard's database pool when the server stops.
"""

from __future__ import annotations

import logging

from jobs import ResizeImage, SendWelcomeEmail
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import goodjob

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


async def signup(request: Request) -> JSONResponse:
    address = request.query_params.get("email", "someone@example.com")
    welcome = await SendWelcomeEmail.perform_later(address)
    avatar = await ResizeImage.set(queue="images", priority=10).perform_later(f"avatars/{address}.png", 128)
    return JSONResponse({"jobs": [str(welcome.id), str(avatar.id)]})


# The one line that runs goodjob's workers inside this server: `lifespan=goodjob.lifespan`.
app = Starlette(routes=[Route("/signup", signup, methods=["GET", "POST"])], lifespan=goodjob.lifespan)
app.mount("/good_job", goodjob.dashboard)
