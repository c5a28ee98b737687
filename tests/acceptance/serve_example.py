"""uvicorn target for the example apps: ``GOODJOB_EXAMPLE=starlette_app uvicorn serve_example:app``.

While ``goodjob.dashboard`` is still being built, a placeholder is mounted in its place (here, in
the tests only; the examples themselves mount the real one).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import goodjob


def _dashboard_missing() -> bool:
    spec = importlib.util.find_spec("goodjob.dashboard")
    return spec is None or spec.origin is None  # a bare directory is a namespace package


async def _placeholder(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"dashboard placeholder"})


if _dashboard_missing():
    goodjob.dashboard = _placeholder  # type: ignore[attr-defined]

app = importlib.import_module(os.environ["GOODJOB_EXAMPLE"]).app
