"""The dashboard at scale (issue 16): the Performance page, conditional live refreshes, estimates,
the finished jobs list, running jobs, published cron, and the small fixes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import sample_jobs
from test_dashboard import MakeClient, add_job, add_process, csrf_of
from test_dashboard import client as client
from test_dashboard import make_client as make_client

from goodjob.core import stats


async def add_stats(conn: asyncpg.Connection, rows: list[tuple[str, str, str, float, int]],
                    at: datetime | None = None) -> None:
    """(queue, class, outcome, duration_ms, times) -> good_job_stats, as the recorder writes them."""
    at = at or datetime.now(UTC)
    expanded = [(at, q, c, o, ms) for q, c, o, ms, n in rows for _ in range(n)]
    for r in stats.rollup(expanded):
        await conn.execute("INSERT INTO good_job_stats VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", *r)


async def test_performance_page_per_class_and_queue_sorted(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await add_stats(conn, [("mailers", "SendWelcomeEmail", "succeeded", 120.0, 90),
                           ("mailers", "SendWelcomeEmail", "discarded", 900.0, 10),
                           ("billing", "ChargeCard", "succeeded", 40.0, 5)])
    await add_stats(conn, [("billing", "ChargeCard", "succeeded", 40.0, 50)],
                    at=datetime.now(UTC) - timedelta(days=2))
    page = await client.get("/performance?window=24h")
    assert page.status_code == 200
    html = page.text
    assert html.index('data-name="SendWelcomeEmail"') < html.index('data-name="ChargeCard"')  # by executions
    assert "10.0%" in html  # SendWelcomeEmail's failure rate
    week = (await client.get("/performance?window=7d&sort=name&dir=asc")).text
    assert week.index('data-name="ChargeCard"') < week.index('data-name="SendWelcomeEmail"')
    assert '<td class="num">55</td>' in week  # ChargeCard: 5 today + 50 two days ago
    assert (await client.get("/performance?window=2y")).status_code == 400
    assert (await client.get("/performance?sort=drop")).status_code == 400


async def test_a_live_refresh_is_304_until_something_changes(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await add_job(conn)
    first = await client.get("/jobs", headers={"X-GoodJob-Live": "1"})
    etag = first.headers["etag"]
    again = await client.get("/jobs", headers={"X-GoodJob-Live": "1", "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    await sample_jobs.RecordJob.perform_later()  # a newer queued job: the digest changes at once
    changed = await client.get("/jobs", headers={"X-GoodJob-Live": "1", "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    # A held page (search results) only learns whether something changed; its queries never run.
    check = await client.get("/jobs?q=nothing", headers={"X-GoodJob-Live": "check", "If-None-Match": etag})
    assert check.status_code == 204 and check.content == b""


async def test_session_cookie_path_is_the_mount_path_and_secure_on_request(make_client: MakeClient) -> None:
    client = await make_client(allow_unauthenticated=True, mount="/ops/good_job", secure_cookie=True)
    page = await client.get("/jobs")
    cookie = page.headers["set-cookie"]
    assert "path=/ops/good_job;" in cookie.lower() and "secure" in cookie.lower()
    assert csrf_of(page.text)


async def test_processes_show_memory_cron_and_link_to_running_jobs(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    process_id = await add_process(conn)
    await conn.execute("UPDATE good_job_processes SET memory_kb = 204800, cron = '{}'::jsonb WHERE id = $1",
                       process_id)
    html = (await client.get("/processes")).text
    assert "200 MB" in html
    assert f"process={process_id}" in html


async def test_a_running_job_shows_its_attempt_in_progress(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    process_id = await add_process(conn, hostname="worker-7", pid=777)
    job_id = await add_job(conn, state="running", locked_by=process_id, executions=1)
    html = (await client.get(f"/jobs/{job_id}")).text
    assert "Attempt 1 in progress" in html and "worker-7 pid 777" in html
    assert "This job has not run yet" not in html
    assert f"process={process_id}" in html  # the process's running jobs
    listed = (await client.get(f"/jobs?state=running&process={process_id}")).text
    assert str(job_id) in listed


async def test_bulk_all_matching_shows_the_exact_number_once(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    for _ in range(3):
        await add_job(conn, queue="reports")
    page = (await client.get("/jobs?state=queued&queue=reports")).text
    assert 'value="discard:all"' in page and "data-confirm=\"Discard all" not in page  # no script dialog first
    form = {"csrf": csrf_of(page), "do": "discard:all", "state": "queued", "queue": "reports"}
    confirm = await client.post("/jobs/bulk", data=form)
    assert confirm.status_code == 200 and "Discard all 3 jobs matching this filter?" in confirm.text


async def test_listed_arguments_read_as_a_call_and_dropdowns_count(client: httpx.AsyncClient,
                                                                   conn: asyncpg.Connection) -> None:
    await add_job(conn, job_class="app.jobs.SendWelcomeEmail", queue="mail", args=[2413, "user@example.com"])
    html = (await client.get("/jobs")).text
    assert "SendWelcomeEmail(2413, &#34;user@example.com&#34;)" in html
    assert '<option value="mail">mail (1)</option>' in html
    assert '<option value="app.jobs.SendWelcomeEmail">app.jobs.SendWelcomeEmail (1)</option>' in html
