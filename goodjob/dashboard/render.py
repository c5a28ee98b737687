"""Templates: the Jinja2 environment (from the package, autoescaped), formatting filters, the
context every page shares (title, CSRF token, flash messages, links), and the error pages."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import escape
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from goodjob.core import notices
from goodjob.core.admin import Count
from goodjob.dashboard.calls import call_text, short_class
from goodjob.dashboard.filters import ACTIONS

if TYPE_CHECKING:
    from goodjob.dashboard.app import Dashboard

__all__ = ["dashboard_of", "error_page", "flash", "render", "templates"]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ACTION_LABELS = {"retry": "Retry", "discard": "Discard", "run_now": "Run now", "delete": "Delete", "cancel": "Cancel"}
ACTION_PAST = {"retry": "retried", "discard": "discarded", "run_now": "scheduled to run now", "delete": "deleted"}


@functools.cache
def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("goodjob.dashboard", "templates"),
        autoescape=True,  # every template: a job argument "<script>" is shown as text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ago=ago, duration=duration, count=count_text, number=number, short_id=short_id,
                       seconds=seconds_text, utc=utc, call=job_call, job_duration=job_duration,
                       short_class=short_class)
    env.globals.update(ACTIONS=ACTIONS, ACTION_LABELS=ACTION_LABELS)
    templating = Jinja2Templates(env=env)
    env.globals["url_for"] = _url_for  # after Jinja2Templates, which installs an absolute-URL one
    return templating


@jinja2.pass_context
def _url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> str:
    """Links are paths, not absolute URLs: right behind a proxy that terminates TLS, too."""
    request: Request = context["request"]
    return path_of(request.url_for(name, **path_params))


def path_of(url: URL) -> str:
    return url.path + (f"?{url.query}" if url.query else "")


def dashboard_of(request: Request) -> Dashboard:
    dashboard: Dashboard = request.scope["goodjob.dashboard"]
    return dashboard


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A message for the next page this browser shows (kept in the signed session cookie)."""
    request.session.setdefault("flash", []).append({"kind": kind, "text": text})


def render(request: Request, name: str, context: dict[str, Any], *, status_code: int = 200) -> Response:
    dashboard = dashboard_of(request)
    session = request.scope.get("session")
    flashes = session.pop("flash", []) if session is not None else []
    problem = notices.current()
    if problem:  # async_server requested but no lifespan started the workers: say so on every page
        flashes = [{"kind": "error", "text": problem}, *flashes]
    csrf = dashboard.csrf
    shared = {
        "page": None,
        "live_hold": False,
        "etag": request.scope.get("goodjob.etag", ""),
        "live_interval": dashboard.live_interval,
        "title": dashboard.title,
        "read_only": dashboard.read_only,
        "flashes": flashes,
        "csrf_token": csrf.token(session) if csrf is not None and session is not None else "",
        "now": datetime.now(UTC),
        "here": _here(request),
        "static": functools.partial(static_url, request),
        "jobs_url": functools.partial(jobs_url, request),
    }
    response = templates().TemplateResponse(request, name, {**shared, **context}, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: Request, status_code: int, heading: str, message: str) -> Response:
    context = {"status_code": status_code, "heading": heading, "message": message}
    try:
        return render(request, "error.html", context, status_code=status_code)
    except Exception:  # no template machinery (a request outside the app): plain text will do
        return HTMLResponse(f"<h1>{status_code} {escape(heading)}</h1><p>{escape(message)}</p>",
                            status_code=status_code, headers=SECURITY_HEADERS)


def static_url(request: Request, path: str) -> str:
    from goodjob import __version__

    return path_of(request.url_for("static", path=path).include_query_params(v=__version__))


def jobs_url(request: Request, **params: Any) -> str:
    return path_of(request.url_for("jobs").replace_query_params(
        **{k: str(v) for k, v in params.items() if v not in (None, "")}
    ))


def _here(request: Request) -> str:
    """This page as a path, for forms to come back to."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


# --- filters ------------------------------------------------------------------------------------


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """"3m ago" / "in 2h": short relative times; the exact time goes in a title attribute."""
    if value is None:
        return "—"
    delta = (now or datetime.now(UTC)) - value
    future = delta.total_seconds() < 0
    text = seconds_text(abs(delta.total_seconds()))
    if text == "0s":
        return "now"
    return f"in {text}" if future else f"{text} ago"


def seconds_text(value: float | None) -> str:
    if value is None:
        return "—"
    s = int(value)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m" + (f" {s % 60}s" if s < 600 and s % 60 else "")
    if s < 86400:
        return f"{s // 3600}h" + (f" {s % 3600 // 60}m" if s % 3600 // 60 else "")
    return f"{s // 86400}d" + (f" {s % 86400 // 3600}h" if s % 86400 // 3600 else "")


def duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return seconds_text(ms / 1000) if ms >= 60_000 else f"{ms / 1000:.2f} s"


def count_text(value: Count | None) -> str:
    """A tab count: exact, or "10k+" once it reached the cap."""
    if value is None or value.n is None:
        return "?"
    return f"{number(value.n)}+" if value.capped else f"{value.n:,}"


def number(value: float | None) -> str:
    """Compact: 9,999 / 12k / 1.2M."""
    if value is None:
        return "—"
    if value >= 999_500:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:,.0f}"


def short_id(value: object) -> str:
    """The last 8 hex digits: job ids are UUIDv7, whose first digits are a timestamp shared by every
    job created in the same few seconds."""
    return str(value)[-8:]


def job_call(job: dict[str, Any]) -> str:
    """A listed job's arguments as a call: ``SendWelcomeEmail(2413, "user@example.com")``."""
    return call_text(job["job_class"], job.get("args_json"), job.get("kwargs_json"))


def job_duration(job: dict[str, Any], now: datetime) -> float | None:
    """Milliseconds of the job's last attempt: finished, or running until now."""
    started = job.get("performed_at")
    if started is None:
        return None
    end = job.get("finished_at") or (now if job.get("state") == "running" else None)
    return (end - started).total_seconds() * 1000 if end is not None and end >= started else None


def utc(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"

