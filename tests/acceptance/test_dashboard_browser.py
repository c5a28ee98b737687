"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright, against the
dashboard mounted in a Starlette app served by uvicorn on a free port.

Log in with basic auth, filter, open a job, retry it; bulk-discard with the JavaScript confirmation
and without JavaScript (the confirmation page); watch a live update arrive, and pause them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, async_playwright, expect
from starlette.applications import Starlette
from starlette.routing import Mount

import goodjob
from goodjob.core.runtime import get_runtime

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
USER, PASSWORD = "admin", "correct horse"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install -y chromium)"),
]


class Server:
    """uvicorn in a thread, serving ``app`` on a free port of 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
                                timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
async def site(gj: str) -> AsyncIterator[str]:
    """The dashboard at <url>/good_job, closed by its parent app's lifespan, as documented."""
    dashboard = goodjob.create_dashboard(database_url=gj, auth=(USER, PASSWORD))

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


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(http_credentials={"username": USER, "password": PASSWORD})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        await ctx.close()


async def add_job(conn: asyncpg.Connection, *, state: str = "queued", queue: str = "default",
                  job_class: str = "SendEmail", args: list[Any] | None = None, error: str | None = None) -> UUID:
    job_id, now = uuid4(), datetime.now(UTC)
    await conn.execute(
        "INSERT INTO good_jobs (id, queue_name, job_class, serialized_params, state, scheduled_at, finished_at,"
        " error, executions_count) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)",
        job_id, queue, job_class, json.dumps({"args": args or [], "kwargs": {}}), state,
        now - timedelta(seconds=1), now if state in ("succeeded", "discarded") else None, error,
        1 if error else 0,
    )
    return job_id


async def state_of(conn: asyncpg.Connection, job_id: UUID) -> str:
    return str(await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", job_id))


async def test_log_in_filter_open_a_job_and_retry_it(
    site: str, browser: Browser, context: BrowserContext, conn: asyncpg.Connection
) -> None:
    failed = await add_job(conn, state="discarded", queue="mailers", args=["ada@example.com"],
                           error="SMTPError: mailbox unavailable")
    await add_job(conn, state="succeeded", queue="billing", job_class="ChargeCard")
    for credentials in (None, {"username": USER, "password": "wrong"}):
        stranger = await browser.new_context(http_credentials=credentials)  # type: ignore[arg-type]
        assert (await stranger.request.get(site + "/")).status == 401
        await stranger.close()

    page = await context.new_page()
    await page.goto(site + "/")
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await expect(page.locator('.card-discarded .card-value')).to_have_text("1")
    await page.get_by_role("link", name="Jobs", exact=True).click()
    await page.get_by_label("Queue").select_option("mailers")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(f"{site}/jobs?queue=mailers")
    await expect(page.locator("tr[data-id]")).to_have_count(1)
    await page.get_by_role("link", name="SendEmail").click()
    await expect(page.locator("#job-id")).to_have_text(str(failed))
    await expect(page.locator("#job-arguments")).to_contain_text('"ada@example.com"')
    await expect(page.locator("h1 .badge")).to_have_text("discarded")
    await page.get_by_role("button", name="Retry").click()
    await expect(page.locator(".flash-ok")).to_contain_text(f"Job {str(failed)[-8:]} retried")
    await expect(page.locator("h1 .badge")).to_have_text("queued")
    assert await state_of(conn, failed) == "queued"

    await page.locator("#theme-toggle").click()  # auto -> light -> dark
    await page.locator("#theme-toggle").click()
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    await page.reload()
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"  # remembered


async def test_bulk_discard_with_and_without_javascript(
    site: str, browser: Browser, context: BrowserContext, conn: asyncpg.Connection
) -> None:
    waiting = [await add_job(conn, queue="reports", job_class="BuildReport", args=[i]) for i in range(3)]
    page = await context.new_page()
    await page.goto(site + "/jobs?state=queued")
    await expect(page.locator("tr[data-id]")).to_have_count(3)
    discard_selected = page.get_by_role("button", name="Discard selected")
    await expect(discard_selected).to_be_disabled()
    await page.get_by_label("Select all jobs on this page").check()
    await expect(page.locator("#selected-count")).to_have_text("3")
    questions: list[str] = []

    async def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.accept()

    page.on("dialog", answer)
    await discard_selected.click()
    await expect(page.locator(".flash-ok")).to_contain_text("3 jobs discarded.")
    assert questions == ["Discard 3 selected jobs?"]
    assert [await state_of(conn, i) for i in waiting] == ["discarded"] * 3

    more = [await add_job(conn, queue="reports") for _ in range(2)]
    plain = await browser.new_context(java_script_enabled=False,
                                      http_credentials={"username": USER, "password": PASSWORD})
    try:
        nojs = await plain.new_page()
        await nojs.goto(site + "/jobs?state=queued&queue=reports")
        await nojs.get_by_role("button", name="Discard all matching…").click()
        await expect(nojs.get_by_role("heading", name="Discard all 2 jobs matching this filter?")).to_be_visible()
        await nojs.get_by_role("button", name="Yes, do it").click()
        await expect(nojs.locator(".flash-ok")).to_contain_text("2 jobs discarded.")
    finally:
        await plain.close()
    assert [await state_of(conn, i) for i in more] == ["discarded"] * 2


async def test_live_updates_arrive_without_reloading_and_can_be_paused(
    site: str, context: BrowserContext, conn: asyncpg.Connection
) -> None:
    import sample_jobs

    page = await context.new_page()
    await page.goto(site + "/jobs?state=queued")
    queued_count = page.locator('[data-tab="queued"] .count')
    await expect(queued_count).to_have_text("0")
    live = page.locator("#live-toggle")
    await expect(live).to_have_text("Live")
    await page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    await sample_jobs.RecordJob.perform_later("live one")  # INSERT + NOTIFY -> SSE -> refetch
    await expect(queued_count).to_have_text("1", timeout=10_000)
    await expect(page.locator("tr[data-id]")).to_have_count(1)

    await live.click()
    await expect(live).to_have_text("Paused")
    await sample_jobs.RecordJob.perform_later("while paused")
    await page.wait_for_timeout(2500)
    await expect(queued_count).to_have_text("1")
    await live.click()
    await expect(live).to_have_text("Live")
    await expect(queued_count).to_have_text("2", timeout=10_000)
    assert await page.evaluate("window.__sameDocument") is True
