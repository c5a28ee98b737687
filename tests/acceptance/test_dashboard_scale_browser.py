"""The dashboard at scale in real Chromium (issue 16): the Performance page, live updates that do
not reload an unchanged page, the jobs table within 1440 px on every tab, cancelling a running job
from its page, and cron entries published by a worker shown by a dashboard process without them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from conftest import Workers
from helpers import wait_for
from playwright.async_api import Browser, BrowserContext, Response, expect
from starlette.applications import Starlette
from starlette.routing import Mount
from test_dashboard_browser import PASSWORD, USER, Server, add_job
from test_dashboard_browser import browser as browser
from test_dashboard_browser import context as context
from test_dashboard_browser import pytestmark as pytestmark

import goodjob
from goodjob.core import stats
from goodjob.core.admin import TABS
from goodjob.core.runtime import get_runtime

LIVE_INTERVAL = 0.1  # seconds between live checks here (5 by default): 60 checks take a few seconds


@pytest.fixture
async def site(gj: str) -> AsyncIterator[str]:
    dashboard = goodjob.create_dashboard(database_url=gj, auth=(USER, PASSWORD), live_interval=LIVE_INTERVAL)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await dashboard.close()

    server = Server(Starlette(routes=[Mount("/good_job", dashboard)], lifespan=lifespan))
    await asyncio.to_thread(server.start)
    try:
        yield server.url + "/good_job"
    finally:
        await asyncio.to_thread(server.stop)
        await get_runtime().close_database()


async def test_performance_page_sorts_and_switches_windows(site: str, context: BrowserContext,
                                                           conn: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    attempts = ([(now, "mailers", "SendWelcomeEmail", "succeeded", 80.0)] * 40
                + [(now, "mailers", "SendWelcomeEmail", "discarded", 95.0)] * 10
                + [(now, "reports", "BuildReport", "succeeded", 4000.0)] * 5
                + [(now - timedelta(days=3), "reports", "BuildReport", "succeeded", 4000.0)] * 100)
    for row in stats.rollup(attempts):
        await conn.execute("INSERT INTO good_job_stats VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", *row)
    page = await context.new_page()
    await page.goto(site + "/")
    await page.get_by_role("link", name="Performance", exact=True).click()
    classes = page.locator('table[data-perf="class"] tbody tr')
    await expect(classes).to_have_count(2)
    await expect(classes.first).to_have_attribute("data-name", "SendWelcomeEmail")  # most executions
    await expect(classes.first.locator("td").nth(2)).to_have_text("20.0%")
    await page.locator('table[data-perf="class"]').get_by_role("link", name="p95").click()
    await expect(classes.first).to_have_attribute("data-name", "BuildReport")  # slowest first
    await page.get_by_role("link", name="7d", exact=True).click()
    await expect(page).to_have_url(f"{site}/performance?window=7d&sort=p95&dir=desc")
    await expect(classes.first.locator("td").nth(1)).to_have_text("105")
    await expect(page.locator('table[data-perf="queue"] tbody tr')).to_have_count(2)
    await expect(page.locator("#perf-executions")).to_have_text("155")


async def test_an_unchanged_page_is_never_reloaded_and_a_change_updates_it_in_place(
    site: str, context: BrowserContext, conn: asyncpg.Connection
) -> None:
    await add_job(conn, job_class="ExistingJob")
    # Postgres's row counters (part of the digest) reach shared memory up to a second after a commit:
    # flush this connection's now, so that the page's first digest already counts that insert.
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT 1")
    page = await context.new_page()
    statuses: list[int] = []
    navigations: list[str] = []

    def seen(response: Response) -> None:
        if response.url.endswith("/good_job/jobs?state=queued") and response.request.headers.get("x-goodjob-live"):
            statuses.append(response.status)

    page.on("response", seen)
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    await page.goto(site + "/jobs?state=queued")
    await page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    # 60 checks: at the default 5 s interval, five minutes of an idle tab. None renders the page.
    await wait_for(lambda: len(statuses) >= 60, timeout=60)
    assert set(statuses) == {304}, statuses
    assert navigations == [site + "/jobs?state=queued"]
    await expect(page.locator("tr[data-id]")).to_have_count(1)

    await add_job(conn, job_class="ArrivedLater")  # no NOTIFY: only the digest can tell
    await expect(page.locator("tr[data-id]")).to_have_count(2, timeout=15_000)
    await expect(page.locator('[data-tab="queued"] .count')).to_have_text("2")
    assert 200 in statuses
    assert await page.evaluate("window.__sameDocument") is True and len(navigations) == 1

    # Search results are never replaced by themselves: a note offers to refresh them.
    await page.goto(site + "/jobs?state=queued&q=Arrived")
    await expect(page.locator("tr[data-id]")).to_have_count(0)  # arguments, not the class, are searched
    await add_job(conn, job_class="ThirdOne")
    await expect(page.locator("#live-stale")).to_be_visible(timeout=15_000)
    await expect(page.locator("tr[data-id]")).to_have_count(0)


async def test_the_jobs_table_fits_1440_px_on_every_tab(site: str, browser: Browser, conn: asyncpg.Connection) -> None:
    long_class = "app.notifications.deliveries.SendAccountSecurityDigestEmailWithAttachments"
    args = ["user-" + "x" * 120 + "@example.com", {"locale": "de-DE", "segments": list(range(40))}]
    error = "SMTPRecipientsRefused: " + "mailbox unavailable; " * 30
    for state in ("queued", "running", "succeeded", "discarded"):
        await add_job(conn, state=state, queue="notifications-transactional-eu-west-1", job_class=long_class,
                      args=args, error=error if state == "discarded" else None)
    await add_job(conn, queue="notifications-transactional-eu-west-1", job_class=long_class, args=args, error=error)
    await conn.execute("UPDATE good_jobs SET labels = ARRAY['tenant-4711', 'priority-customer', 'eu'],"
                       " performed_at = now() - interval '3 seconds', priority = 10")
    await conn.execute("INSERT INTO good_jobs (id, job_class, scheduled_at, queue_name, serialized_params)"
                       " SELECT gen_random_uuid(), $1, now() + interval '1 day', $2, $3::jsonb", long_class,
                       "notifications-transactional-eu-west-1", json.dumps({"args": args, "kwargs": {"x": 1}}))
    ctx = await browser.new_context(viewport={"width": 1440, "height": 900},
                                    http_credentials={"username": USER, "password": PASSWORD})
    try:
        page = await ctx.new_page()
        for tab in TABS:
            await page.goto(site + "/jobs" + ("" if tab == "all" else f"?state={tab}"))
            await expect(page.locator("tr[data-id]").first).to_be_visible()
            overflow = await page.evaluate("""() => {
                const wrap = document.querySelector('.table-wrap'), table = wrap.querySelector('table');
                const last = table.querySelector('thead th:last-child').getBoundingClientRect();
                return {doc: document.documentElement.scrollWidth, wrap: wrap.scrollWidth - wrap.clientWidth,
                        right: last.right};
            }""")
            assert overflow["doc"] <= 1440 and overflow["wrap"] <= 0 and overflow["right"] <= 1440, (tab, overflow)
    finally:
        await ctx.close()


async def test_cancel_a_running_job_from_its_page(
    site: str, context: BrowserContext, conn: asyncpg.Connection, start_worker: Callable[..., Awaitable[Any]]
) -> None:
    pytest.importorskip("goodjob.core.operations.actions", reason="the job API's cancel (issue 14) is not here yet")
    import sample_jobs

    await start_worker(poll_interval=0.2)
    job = await sample_jobs.SleepJob.perform_later(120)
    await wait_for(lambda: conn.fetchval("SELECT state = 'running' FROM good_jobs WHERE id = $1", job.id), timeout=20)
    page = await context.new_page()
    await page.goto(f"{site}/jobs/{job.id}")
    await expect(page.locator("#attempt-in-progress")).to_contain_text("Attempt 1 in progress")
    await expect(page.locator("#attempt-in-progress")).to_contain_text("pid")
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Cancel").click()
    await expect(page.locator(".flash-ok")).to_contain_text("cancel requested")
    await wait_for(lambda: conn.fetchval("SELECT state = 'discarded' FROM good_jobs WHERE id = $1", job.id),
                   timeout=20)


async def test_cron_entries_come_from_the_workers_that_run_them(
    site: str, context: BrowserContext, conn: asyncpg.Connection, workers: Workers
) -> None:
    assert not goodjob.current_config().cron  # this (the dashboard's) process has no cron configuration
    cron = {"digest": {"cron": "0 7 * * 1-5", "class": "cron_batch_jobs.TickJob", "timezone": "Europe/Berlin",
                       "description": "Weekday digest"}}
    workers.start("--enable-cron", env={"GOOD_JOB_CRON": json.dumps(cron)})
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM good_job_processes WHERE cron IS NOT NULL"),
                   timeout=30)
    page = await context.new_page()
    await page.goto(site + "/cron")
    row = page.locator('tr[data-cron="digest"]')
    await expect(row).to_contain_text("Weekday digest")
    await expect(row).to_contain_text("Europe/Berlin")
    await expect(row).to_contain_text("TickJob()")
    await expect(page.locator(".page-head")).to_contain_text("as the running cron workers publish them")
    questions: list[str] = []

    async def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.accept()

    page.on("dialog", answer)
    await row.get_by_role("button", name="Enqueue now").click()
    await expect(page.locator(".flash-ok")).to_contain_text("digest enqueued now")
    assert questions == ["Enqueue cron entry digest now, once, outside its schedule?"]
    await expect(row.locator(".run-list li")).to_have_count(1)
