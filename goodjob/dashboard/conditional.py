"""Live refreshes that cost nothing when nothing changed: conditional GETs against a digest.

Before a page's own queries run, this middleware reads the digest (core.insights.digest: a few
index probes and Postgres's row counters, well under a millisecond) and hands it to the page (its
ETag, also in the HTML for the script). A live page re-asks for itself with ``X-GoodJob-Live: 1`` and
``If-None-Match: <the ETag it has>``: the answer is ``304 Not Modified``, without the page's queries,
when the digest is the same. ``X-GoodJob-Live: check`` (search and filter results, which are never
replaced by themselves) only asks whether anything changed: 304, or 204 with the new ETag, and the
page's queries never run.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from goodjob.core import admin, insights

__all__ = ["ETAG_KEY", "LIVE_HEADER", "ConditionalGet"]

log = logging.getLogger("goodjob.dashboard")

LIVE_HEADER = "x-goodjob-live"
ETAG_KEY = "goodjob.etag"
#: Pages that show processes (their heartbeats count as changes there, nowhere else).
PROCESS_PAGES = ("/", "/processes")


class ConditionalGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        live = headers.get(LIVE_HEADER)
        root = scope.get("root_path", "")
        path: str = scope.get("path", "")
        relative = path[len(root):] if root and path.startswith(root) else path
        if relative.startswith(("/static/", "/events")):
            await self.app(scope, receive, send)
            return
        try:
            async with admin.reading(await scope["goodjob.dashboard"].executor(), timeout_ms=1000) as conn:
                digest = await insights.digest(conn, processes=(relative or "/") in PROCESS_PAGES)
        except Exception as err:  # no digest: serve the page as if this were a plain request
            log.debug("goodjob dashboard: no digest (%s)", err)
            await self.app(scope, receive, send)
            return
        etag = f'W/"{digest}"'
        scope[ETAG_KEY] = etag
        if (live in ("1", "check") and headers.get("if-none-match") == etag) or live == "check":
            status = 304 if headers.get("if-none-match") == etag else 204
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"etag", etag.encode()), (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_etag(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"etag", etag.encode())]
            await send(message)

        await self.app(scope, receive, send_with_etag)
