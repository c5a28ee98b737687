"""The demo's web app (``goodjob demo``): a tiny Starlette site with the dashboard mounted.

Besides ``goodjob/dashboard/``, the one place that imports Starlette: the demo is a web app.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

import goodjob
from goodjob.dashboard import create_dashboard
from goodjob.demo import samples

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>goodjob demo</title>
<style>body{{font:16px system-ui;max-width:40rem;margin:4rem auto;padding:0 1rem}}button{{font:inherit}}</style>
</head><body><h1>goodjob demo</h1>
<p>Workers run inside this web process (<code>async_server</code>) on an embedded Postgres, and sample
jobs arrive every second or so.</p>
<p><a href="{dashboard}">Open the dashboard</a> (user <code>{user}</code>).</p>
<form method="post" action="{enqueue}"><button>Enqueue 25 more jobs</button></form>
</body></html>"""


def build_app(username: str, password: str) -> Starlette:
    dashboard = create_dashboard(auth=(username, password), title="goodjob demo")

    async def home(request: Request) -> Response:
        return HTMLResponse(PAGE.format(
            dashboard=request.url_for("good_job", path="/"), user=html.escape(username),
            enqueue=request.url_for("enqueue"),
        ))

    async def enqueue(request: Request) -> Response:
        await samples.enqueue_samples(25)
        return RedirectResponse(request.url_for("home"), status_code=303)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(samples.stream())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await dashboard.close()

    return Starlette(
        routes=[
            Route("/", home, name="home"),
            Route("/enqueue", enqueue, methods=["POST"], name="enqueue"),
            Mount("/good_job", dashboard, name="good_job"),
        ],
        lifespan=goodjob.lifespan(lifespan),
    )
