"""The dashboard over HTTP (httpx + ASGI transport, a real Postgres): pages, filters, pagination,
parameters, mounting, security. Actions are in test_dashboard_actions.py; both share the helpers
defined here."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

import goodjob
from goodjob.dashboard import BasicAuthMiddleware, Dashboard, live

# --- helpers shared with test_dashboard_actions.py ----------------------------------------------

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


async def add_job(
    conn: asyncpg.Connection, *, state: str = "queued", queue: str = "default", job_class: str = "ReportJob",
    args: list[Any] | None = None, error: str | None = None, scheduled_at: datetime | None = None,
    created_at: datetime | None = None, executions: int = 0, locked_by: UUID | None = None,
) -> UUID:
    """Insert one job row in exactly the state a test needs."""
    now = datetime.now(UTC)
    job_id = uuid4()
    finished = now if state in ("succeeded", "discarded") else None
    params = json.dumps({"args": args if args is not None else [1], "kwargs": {}})
    await conn.execute(
        "INSERT INTO good_jobs (id, queue_name, job_class, serialized_params, state, scheduled_at, created_at,"
        " updated_at, finished_at, performed_at, error, error_event, executions_count, locked_by_id, locked_at)"
        " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $7, $8, $9, $10, $11, $12, $13, $14)",
        job_id, queue, job_class, params, state, scheduled_at or now, created_at or now, finished,
        now if executions else None, error, "discarded" if state == "discarded" else ("retried" if error else None),
        executions, locked_by, now if locked_by else None,
    )
    return job_id


async def add_execution(
    conn: asyncpg.Connection, job_id: UUID, *, outcome: str = "succeeded", error: str | None = None,
    backtrace: str | None = None, process_id: UUID | None = None, finished_at: datetime | None = None,
    attempt: int = 1,
) -> None:
    finished = finished_at or datetime.now(UTC)
    await conn.execute(
        "INSERT INTO good_job_executions (job_id, process_id, attempt, queue_name, job_class, started_at,"
        " finished_at, duration_ms, outcome, error_class, error, error_backtrace)"
        " SELECT id, $2, $3, queue_name, job_class, $4, $5, 1234.5, $6, $7, $8, $9 FROM good_jobs WHERE id = $1",
        job_id, process_id, attempt, finished - timedelta(seconds=1.2345), finished, outcome,
        "BoomError" if error else None, error, backtrace,
    )


async def add_process(conn: asyncpg.Connection, *, hostname: str = "worker-1", pid: int = 4242) -> UUID:
    process_id = uuid4()
    await conn.execute(
        "INSERT INTO good_job_processes (id, hostname, pid, queues, max_threads, lock_key) VALUES ($1, $2, $3,"
        " 'mailers,default', 5, 99)", process_id, hostname, pid,
    )
    return process_id


async def job_row(conn: asyncpg.Connection, job_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM good_jobs WHERE id = $1", job_id)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture
async def make_client(gj: str) -> AsyncIterator[MakeClient]:
    """Clients of dashboards mounted at /good_job (or ``mount=``) in a Starlette app."""
    dashboards: list[Dashboard] = []
    clients: list[httpx.AsyncClient] = []

    async def make(*, mount: str = "/good_job", **options: Any) -> httpx.AsyncClient:
        options.setdefault("database_url", goodjob.current_config().database_url or gj)  # via PgBouncer too
        dashboard = goodjob.create_dashboard(**options)
        dashboards.append(dashboard)
        app = Starlette(routes=[Mount(mount, dashboard)])
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver" + mount)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
    for dashboard in dashboards:
        await dashboard.close()


@pytest.fixture
async def client(make_client: MakeClient) -> httpx.AsyncClient:
    return await make_client(allow_unauthenticated=True)


# --- pages --------------------------------------------------------------------------------------


@pytest.mark.pgbouncer
async def test_every_page_renders_with_real_and_seeded_jobs(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    import sample_jobs

    enqueued = await sample_jobs.RecordJob.perform_later("hello", n=1)
    process_id = await add_process(conn)
    running = await add_job(conn, state="running", queue="mailers", locked_by=process_id, executions=1)
    failed = await add_job(conn, state="discarded", error="BoomError: nope", executions=1)
    trace = "Traceback (most recent call last):\n  boom"
    await add_execution(conn, failed, outcome="discarded", error="nope", backtrace=trace)
    for path in ("/", "/jobs", f"/jobs/{enqueued.id}", f"/jobs/{running}", f"/jobs/{failed}", "/queues", "/processes"):
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert "text/html" in response.headers["content-type"]
        assert "default-src 'self'" in response.headers["content-security-policy"]
    jobs = (await client.get("/jobs")).text
    assert str(enqueued.id)[-8:] in jobs and "sample_jobs.RecordJob" in jobs
    detail = (await client.get(f"/jobs/{failed}")).text
    assert "Traceback (most recent call last):" in detail and "1.23 s" in detail and "BoomError" in detail
    assert "worker-1" in (await client.get(f"/jobs/{running}")).text  # the process running it
    processes = (await client.get("/processes")).text
    assert "worker-1" in processes and "4242" in processes and "mailers,default" in processes


async def test_job_detail_pretty_prints_arguments_and_escapes_html(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    evil = "<script>alert('x')</script>"
    job_id = await add_job(conn, state="discarded", args=[evil, {"nested": [1, 2]}], error=evil, job_class=evil)
    await add_execution(conn, job_id, outcome="discarded", error=evil, backtrace=evil)
    for path in (f"/jobs/{job_id}", "/jobs", "/jobs?state=discarded"):
        html = (await client.get(path)).text
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(" in html
    html = (await client.get(f"/jobs/{job_id}")).text
    assert "&#34;nested&#34;: [" in html  # jsonb_pretty: one value per line
    assert html.count("&lt;script&gt;") >= 4  # class, error, execution error, traceback, arguments


@pytest.mark.pgbouncer
async def test_tabs_partition_jobs_and_count_them(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    ids = {
        "scheduled": await add_job(conn, scheduled_at=now + timedelta(hours=1)),
        "queued": await add_job(conn, scheduled_at=now - timedelta(minutes=5)),
        "running": await add_job(conn, state="running", executions=1),
        "retried": await add_job(conn, error="BoomError: once", executions=1, scheduled_at=now + timedelta(minutes=1)),
        "succeeded": await add_job(conn, state="succeeded", executions=1),
        "discarded": await add_job(conn, state="discarded", error="BoomError: twice", executions=2),
    }
    await add_job(conn, state="succeeded", executions=1)
    for tab, job_id in ids.items():
        html = (await client.get("/jobs", params={"state": tab})).text
        listed = set(_listed(html))
        assert str(job_id) in listed and len(listed) == (2 if tab == "succeeded" else 1), tab
        count = 2 if tab == "succeeded" else 1
        assert re.search(rf'data-tab="{tab}"[^>]*>\s*{tab} <span class="count">{count}<', html), tab
    html = (await client.get("/jobs")).text
    assert re.search(r'data-tab="all"[^>]*>\s*all <span class="count">7<', html)
    assert len(re.findall(r"<tr data-id=", html)) == 7
    overview = (await client.get("/")).text
    assert re.search(r'card-succeeded".*?card-value">2<', overview, re.S)


async def test_filters_by_queue_class_and_search(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    a = await add_job(conn, queue="mailers", job_class="SendEmail", args=["alice@example.com"])
    b = await add_job(conn, queue="mailers", job_class="SendSms", args=["+155501"])
    c = await add_job(conn, queue="billing", job_class="SendEmail", args=["100%_off"], state="discarded",
                      error="CardDeclined: insufficient funds")

    async def listed(**params: str) -> set[str]:
        response = await client.get("/jobs", params=params)
        assert response.status_code == 200
        return set(re.findall(r'<tr data-id="([0-9a-f-]+)"', response.text))

    assert await listed(queue="mailers") == {str(a), str(b)}
    assert await listed(**{"class": "SendEmail"}) == {str(a), str(c)}
    assert await listed(queue="mailers", **{"class": "SendEmail"}) == {str(a)}
    assert await listed(q="ALICE@") == {str(a)}  # arguments, case-insensitive
    assert await listed(q="insufficient") == {str(c)}  # error text
    assert await listed(q=str(b)) == {str(b)}  # a whole id
    assert await listed(q=str(b)[:8]) == {str(b)}  # a piece of one
    assert await listed(q="100%_") == {str(c)}  # LIKE wildcards are literal
    assert await listed(q="%") == {str(c)}
    assert await listed(q="nothing-like-this") == set()
    assert await listed(state="discarded", q="insufficient") == {str(c)}
    assert await listed(state="queued", q="insufficient") == set()


@pytest.mark.pgbouncer
async def test_keyset_pagination_walks_every_job_once_in_order(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    base = datetime.now(UTC) - timedelta(hours=1)
    same_time = base + timedelta(minutes=30)
    created = [await add_job(conn, state="succeeded", created_at=base + timedelta(seconds=i)) for i in range(20)]
    created += [await add_job(conn, state="succeeded", created_at=same_time) for _ in range(5)]  # ties: by id
    pages: list[str] = []
    url: str | None = "/jobs?state=succeeded&limit=10"
    while url:
        pages.append((await client.get(url)).text)
        url = _link(pages[-1], "next")
    seen = [i for html in pages for i in _listed(html)]
    assert len(pages) == 3 and len(seen) == 25 and set(seen) == {str(i) for i in created}
    assert seen[:5] == sorted(seen[:5], reverse=True)  # the ties, newest, by id
    assert seen[5:] == [str(i) for i in reversed(created[:20])]
    assert _link(pages[0], "prev") is None
    back = _link(pages[2], "prev")
    assert back is not None
    assert _listed((await client.get(back)).text) == seen[10:20]


def _listed(html: str) -> list[str]:
    return re.findall(r'<tr data-id="([0-9a-f-]+)"', html)


def _link(html: str, rel: str) -> str | None:
    match = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return match.group(1).replace("&amp;", "&").removeprefix("/good_job") if match else None


async def test_scheduled_tab_lists_next_to_run_first(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    later = await add_job(conn, scheduled_at=now + timedelta(hours=2))
    sooner = await add_job(conn, scheduled_at=now + timedelta(minutes=2))
    html = (await client.get("/jobs?state=scheduled")).text
    assert re.findall(r'<tr data-id="([0-9a-f-]+)"', html) == [str(sooner), str(later)]


BAD_QUERIES = [
    "state=bogus", "limit=7", "limit=abc", "after=not-a-cursor", "before=123.xyz",
    "after=1.00000000-0000-0000-0000-000000000000&before=1.00000000-0000-0000-0000-000000000000",
    "q=" + "x" * 201, "queue=a%00b", "after=99999999999999999999999.00000000-0000-0000-0000-000000000000",
]


async def test_bad_query_parameters_answer_400(client: httpx.AsyncClient) -> None:
    for query in BAD_QUERIES:
        response = await client.get("/jobs?" + query)
        assert response.status_code == 400, query
        assert "Bad request" in response.text and "<html" in response.text


async def test_missing_and_malformed_jobs_answer_404(client: httpx.AsyncClient) -> None:
    for path in (f"/jobs/{uuid4()}", "/jobs/not-a-uuid", "/no-such-page"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.text
    assert (await client.get("/jobs/bulk")).status_code == 404
    assert (await client.post("/queues")).status_code == 405


async def test_overview_shows_throughput_chart_and_queue_latency(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    now = datetime.now(UTC)
    for outcome in ("succeeded", "succeeded", "retried", "discarded"):
        job_id = await add_job(conn, state="succeeded", executions=1)
        await add_execution(conn, job_id, outcome=outcome, finished_at=now - timedelta(minutes=3))
    await add_job(conn, queue="slow", scheduled_at=now - timedelta(minutes=10))
    html = (await client.get("/")).text
    assert html.count("<svg class=\"chart\"") == 3  # two throughput charts and jobs per queue and state
    assert 'class="s-succeeded"' in html and 'class="s-retried"' in html and 'class="s-discarded"' in html
    assert re.search(r"succeeded <strong>2</strong>", html)
    assert "slow" in html and re.search(r'class="latency warn">10m', html)
    # The settled minutes are cached: a second view counts only the last minutes again.
    assert (await client.get("/")).status_code == 200


async def test_queues_page_counts_waiting_and_latency(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    for minutes in (1, 2, 7):
        await add_job(conn, queue="mailers", scheduled_at=now - timedelta(minutes=minutes))
    await add_job(conn, queue="mailers", scheduled_at=now + timedelta(hours=1))
    await add_job(conn, queue="mailers", state="running")
    await add_process(conn)  # its queue string "mailers,default" names an idle queue too
    html = (await client.get("/queues")).text
    assert 'data-queue="default"' in html
    row = re.search(r'<tr data-queue="mailers">(.*?)</tr>', html, re.S)
    assert row
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    text = [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
    assert text[1] == "active" and text[2] == "3" and text[3].startswith("7m") and text[4] == "1" and text[5] == "1"


async def test_mounted_at_any_path_links_stay_below_it(make_client: MakeClient, conn: asyncpg.Connection) -> None:
    job_id = await add_job(conn)
    client = await make_client(mount="/ops/background-jobs", allow_unauthenticated=True)
    html = (await client.get("/jobs")).text
    links = re.findall(r'(?:href|action|src)="([^"]+)"', html)
    assert links and all(link.startswith("/ops/background-jobs/") for link in links), links
    assert f'/ops/background-jobs/jobs/{job_id}"' in html
    assert (await client.get("/static/style.css")).status_code == 200
    root = await client.get("", follow_redirects=False)  # /ops/background-jobs -> .../
    assert root.status_code in (200, 307)


async def test_mounts_in_fastapi(gj: str, conn: asyncpg.Connection) -> None:
    from fastapi import FastAPI

    await add_job(conn, state="discarded", error="x")
    dashboard = goodjob.create_dashboard(database_url=gj, allow_unauthenticated=True)
    app = FastAPI()
    app.mount("/good_job", dashboard)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        html = (await client.get("/good_job/jobs?state=discarded")).text
        assert 'href="/good_job/jobs/' in html
        assert (await client.get("/good_job/")).status_code == 200
    await dashboard.close()


async def test_ready_made_dashboard_uses_goodjob_configuration(gj: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dashboard_module = goodjob.dashboard
    assert callable(dashboard_module) and goodjob.dashboard is dashboard_module
    from goodjob import dashboard as imported

    assert imported is dashboard_module
    app = Starlette(routes=[Mount("/good_job", goodjob.dashboard)])
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/good_job") as client:
            closed = await client.get("/")
            assert closed.status_code == 403 and "GOOD_JOB_DASHBOARD_USERNAME" in closed.text
            await goodjob.dashboard.close()  # rebuilt on the next request, with the settings of then
            monkeypatch.setenv("GOOD_JOB_DASHBOARD_USERNAME", "ops")
            monkeypatch.setenv("GOOD_JOB_DASHBOARD_PASSWORD", "s3cret")
            assert (await client.get("/")).status_code == 401
            assert (await client.get("/", headers=basic("ops", "s3cret"))).status_code == 200
    finally:
        await goodjob.dashboard.close()


async def test_given_pool_is_used_and_left_open(gj: str, conn: asyncpg.Connection) -> None:
    job_id = await add_job(conn)
    pool = await asyncpg.create_pool(gj, min_size=1, max_size=2)
    dashboard = goodjob.create_dashboard(pool=pool, allow_unauthenticated=True)
    try:
        app = Starlette(routes=[Mount("/gj", dashboard)])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/gj") as client:
            assert str(job_id) in (await client.get(f"/jobs/{job_id}")).text
        await dashboard.close()
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


async def test_close_leaves_no_connection_behind(make_client: MakeClient, gj: str, conn: asyncpg.Connection) -> None:
    client = await make_client(allow_unauthenticated=True)
    await asyncio.gather(*(client.get(p) for p in ("/", "/jobs", "/queues", "/processes")))

    async def others() -> int:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"))

    assert await others() >= 1
    app = client._transport.app  # type: ignore[attr-defined]
    await app.routes[0].app.close()
    assert await others() == 0


async def test_unreachable_database_answers_503(make_client: MakeClient, gj: str) -> None:
    missing = gj.rsplit("/", 1)[0] + "/no_such_database_here"
    client = await make_client(database_url=missing, allow_unauthenticated=True)
    response = await client.get("/jobs")
    assert response.status_code == 503 and "Database unavailable" in response.text


async def test_event_stream_reports_notifies(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "STREAM_SECONDS", 2.0)
    monkeypatch.setattr(live, "COALESCE_SECONDS", 0.1)
    monkeypatch.setattr(live, "TICK_SECONDS", 0.7)
    import sample_jobs

    async def enqueue_soon() -> None:
        await asyncio.sleep(0.6)
        await sample_jobs.RecordJob.perform_later("live")

    task = asyncio.create_task(enqueue_soon())
    response = await client.get("/events")
    await task
    assert response.headers["content-type"].startswith("text/event-stream")
    body = response.text
    assert body.startswith("retry: 1000\nevent: hello")
    assert "event: change" in body and "event: tick" in body


# --- security -----------------------------------------------------------------------------------


async def test_closed_by_default_with_a_page_that_says_how_to_open_it(make_client: MakeClient) -> None:
    client = await make_client()
    for path in ("/", "/jobs", "/queues", "/events"):
        response = await client.get(path)
        assert response.status_code == 403, path
    html = (await client.get("/")).text
    assert "GOOD_JOB_DASHBOARD_USERNAME" in html and "allow_unauthenticated" in html
    assert (await client.post("/jobs/bulk", data={"do": "delete:all"})).status_code == 403
    assert (await client.get("/static/style.css")).status_code == 200  # the 403 page's own CSS


async def test_basic_auth_accepts_only_the_right_credentials(make_client: MakeClient) -> None:
    client = await make_client(auth=("admin", "pässword"))
    denied = await client.get("/")
    assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith('Basic realm="GoodJob"')
    assert (await client.get("/", headers=basic("admin", "pässword"))).status_code == 200
    for headers in (basic("admin", "wrong"), basic("root", "pässword"), basic("admin", "pässword" + "x"),
                    {"Authorization": "Basic !!!"}, {"Authorization": "Bearer abc"},
                    {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}):
        assert (await client.get("/jobs", headers=headers)).status_code == 401, headers


async def test_environment_credentials_turn_on_basic_auth(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOD_JOB_DASHBOARD_USERNAME", "env-user")
    monkeypatch.setenv("GOOD_JOB_DASHBOARD_PASSWORD", "env-pass")
    client = await make_client()
    assert (await client.get("/")).status_code == 401
    assert (await client.get("/", headers=basic("env-user", "env-pass"))).status_code == 200


async def test_any_starlette_middleware_and_predicates_plug_in(make_client: MakeClient) -> None:
    class TokenMiddleware:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            headers = dict(scope.get("headers", []))
            if scope["type"] == "http" and headers.get(b"x-token") != b"let-me-in":
                await PlainTextResponse("no token", status_code=401)(scope, receive, send)
                return
            await self.app(scope, receive, send)

    by_middleware = await make_client(auth=[Middleware(TokenMiddleware)])
    assert (await by_middleware.get("/")).status_code == 401
    assert (await by_middleware.get("/", headers={"x-token": "let-me-in"})).status_code == 200

    async def is_admin(request: Any) -> bool:
        return request.headers.get("x-role") == "admin"

    for predicate in (is_admin, lambda request: request.headers.get("x-role") == "admin"):
        client = await make_client(auth=predicate)
        refused = await client.get("/jobs")
        assert refused.status_code == 403 and "not allowed" in refused.text
        assert (await client.get("/jobs", headers={"x-role": "admin"})).status_code == 200


async def test_basic_auth_middleware_can_wrap_the_dashboard_from_outside(gj: str) -> None:
    dashboard = goodjob.create_dashboard(database_url=gj)
    app = Starlette(routes=[Mount("/gj", BasicAuthMiddleware(dashboard, username="u", password="p"))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/gj") as client:
        assert (await client.get("/")).status_code == 401
        assert (await client.get("/", headers=basic("u", "p"))).status_code == 200
    await dashboard.close()


def test_basic_auth_middleware_needs_credentials() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        BasicAuthMiddleware(PlainTextResponse("x"), username="", password="p")
