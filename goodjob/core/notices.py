"""Problems with how goodjob is deployed that every dashboard page should show (a banner).

A seam, so that the dashboard need not import the runtime: the runtime registers its checks here
when it is imported (``async_server`` requested but no server lifespan started the workers), and
the dashboard asks :func:`current` on each page. Checks are cheap and never touch the database.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["current", "register"]

_checks: list[Callable[[], str | None]] = []


def register(check: Callable[[], str | None]) -> None:
    """Add a check: it returns a one-line problem to show, or None when all is well."""
    _checks.append(check)


def current() -> str | None:
    """The first problem any registered check reports, or None."""
    for check in _checks:
        problem = check()
        if problem:
            return problem
    return None
