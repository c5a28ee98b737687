"""The live-update stream (server-sent events) the pages listen to."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from goodjob.dashboard.live import event_stream
from goodjob.dashboard.render import (
    dashboard_of,
)


async def events(request: Request) -> Response:
    dashboard = dashboard_of(request)
    await dashboard.executor()  # fail here (503 page) rather than inside the stream
    return event_stream(dashboard.hub())
