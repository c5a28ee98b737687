"""The error pages: 400/403/404/405 from HTTP errors, 503 when the database cannot be read, and the
closed-by-default gate's 403.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from goodjob.core.errors import GoodJobError
from goodjob.core.storage.db import CONNECTION_ERRORS, PostgresError
from goodjob.dashboard.filters import (
    BadRequest,
)
from goodjob.dashboard.render import (
    error_page,
    render,
)

_HEADINGS = {400: "Bad request", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}


async def refuse(request: Request, reason: str) -> Response:
    """The closed-by-default gate's answer: 403, and how to open the dashboard."""
    return render(request, "forbidden.html", {"page": None, "reason": reason}, status_code=403)


def exception_handlers() -> dict[Any, Any]:
    async def bad_request(request: Request, exc: Exception) -> Response:
        return error_page(request, 400, "Bad request", str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (301, 302, 303, 307, 308) and exc.headers:
            return RedirectResponse(exc.headers["location"], exc.status_code)
        heading = _HEADINGS.get(exc.status_code, "Error")
        detail = exc.detail if exc.detail and exc.detail != heading else _default_message(exc.status_code)
        return error_page(request, exc.status_code, heading, str(detail))

    async def database_error(request: Request, exc: Exception) -> Response:
        return error_page(request, 503, "Database unavailable",
                          f"The dashboard could not read the job database ({type(exc).__name__}: {exc}). "
                          "Check that Postgres is reachable and migrated (goodjob migrate).")

    handlers: dict[Any, Any] = {BadRequest: bad_request, HTTPException: http_error, PostgresError: database_error,
                                GoodJobError: database_error}
    handlers.update(dict.fromkeys(CONNECTION_ERRORS, database_error))
    return handlers


def _default_message(status_code: int) -> str:
    if status_code == 404:
        return "There is no such page in the dashboard."
    if status_code == 405:
        return "This address does not accept that method. Actions are buttons on the pages."
    return "The request could not be answered."
