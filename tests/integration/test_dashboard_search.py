"""The job list's bounded text search (issue 16): a search reads a window of the tab's newest jobs
(on the "all" tab one window shared by the four states), found from index entries alone, says so,
and continues window by window without skipping or repeating a job."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from test_dashboard import add_job
from test_dashboard import client as client
from test_dashboard import make_client as make_client

from goodjob.core import admin
from goodjob.core.admin import Cursor, JobFilter

STATES = ("queued", "running", "succeeded", "discarded")


async def seed(conn: asyncpg.Connection, per_state: int, *, match_every: int = 7) -> list[UUID]:
    """``per_state`` jobs of each state, interleaved in time (one second apart); every
    ``match_every``-th has "needle" in its arguments. The matches, newest first."""
    base = datetime.now(UTC) - timedelta(days=1)
    matches: list[tuple[datetime, UUID]] = []
    for i in range(per_state * len(STATES)):
        at = base + timedelta(seconds=i)
        state = STATES[i % len(STATES)]
        hit = i % match_every == 0
        job_id = await add_job(conn, state=state, created_at=at, args=["needle" if hit else "hay", i])
        if hit:
            matches.append((at, job_id))
    await conn.execute("ANALYZE good_jobs")
    return [j for _, j in sorted(matches, reverse=True)]


async def walk(conn: asyncpg.Connection, f: JobFilter, window: int, *, limit: int = 5) -> tuple[list[UUID], int]:
    """Every page of ``f`` following "next" links; the ids listed, and how many pages said they
    stopped at the window."""
    seen: list[UUID] = []
    bounded = 0
    after: Cursor | None = None
    for _ in range(200):
        async with admin.reading(conn) as c:
            page = await admin.list_jobs(c, f, after=after, limit=limit, search_window=window)
        seen += [j["id"] for j in page.jobs]
        bounded += page.searched > 0
        if page.next is None:
            return seen, bounded
        after = page.next
    raise AssertionError("the walk did not end")


async def test_bounded_search_walks_every_match_once_in_order(conn: asyncpg.Connection) -> None:
    matches = await seed(conn, 15)  # 60 jobs, 9 match
    for window in (4, 11, 1000):
        seen, bounded = await walk(conn, JobFilter(search="needle"), window)
        assert seen == matches, window
        assert (bounded > 0) == (window < 60), window  # a window past the table's end is a whole search
    # A state tab and the oldest-first order: the same walk, each within its own window.
    succeeded = [r["id"] for r in await conn.fetch(
        "SELECT id FROM good_jobs WHERE state = 'succeeded' AND serialized_params::text LIKE '%needle%'"
        " ORDER BY created_at DESC, id DESC")]
    assert (await walk(conn, JobFilter("succeeded", search="needle"), 3))[0] == succeeded
    assert (await walk(conn, JobFilter(search="needle", order="asc"), 6))[0] == matches[::-1]
    assert (await walk(conn, JobFilter(search="no such text"), 8)) == ([], 60 // 8)


async def test_bounded_search_walks_back_to_the_start(conn: asyncpg.Connection) -> None:
    """Read backwards ("‹ Newer" links) from before the oldest job, windows go the other way and
    reach the newest match, each once."""
    matches = await seed(conn, 10, match_every=5)
    f = JobFilter(search="needle")
    before: Cursor | None = Cursor(datetime.now(UTC) - timedelta(days=3), UUID(int=0))
    seen: list[UUID] = []
    bounded = 0
    for _ in range(100):
        if before is None:
            break
        async with admin.reading(conn) as c:
            page = await admin.list_jobs(c, f, before=before, limit=3, search_window=4)
        seen = [j["id"] for j in page.jobs] + seen
        bounded += page.searched > 0
        before = page.prev
    assert seen == matches and bounded > 0


async def test_unbounded_search_reads_past_the_first_window(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job API's search is not bounded: it reads a first window in index order (a common term
    fills the page there) and, if the page is not full, the rest of the tab with the planner's plan."""
    matches = await seed(conn, 10, match_every=9)  # 40 jobs, 5 match
    monkeypatch.setattr(admin, "SEARCH_WINDOW", 4)
    for f in (JobFilter(search="needle"), JobFilter(search="needle", order="asc")):
        async with admin.reading(conn) as c:
            page = await admin.list_jobs(c, f, limit=10)
        assert [j["id"] for j in page.jobs] == (matches if not f.ascending else matches[::-1])
        assert page.next is None and page.prev is None and page.searched == 0
    async with admin.reading(conn) as c:
        first = await admin.list_jobs(c, JobFilter(search="needle"), limit=2)
        rest = await admin.list_jobs(c, JobFilter(search="needle"), limit=10, after=first.next)
    assert [j["id"] for j in first.jobs + rest.jobs] == matches and first.prev is None


def _scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan] if "Relation Name" in plan else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def test_all_tab_search_reads_one_shared_window_from_the_indexes(conn: asyncpg.Connection) -> None:
    """The regression: the "all" tab found its bound by reading ``window`` whole rows of every state
    (4x the window, each row decoded), then searched. Now the bound is an index-only merge of the four
    states' index ranges that stops at the window, and the search reads that window: about twice the
    window in all. Measured by the plans Postgres ran (auto_explain), not by timing."""
    window = 40
    await seed(conn, window + 20)
    try:
        await conn.execute("LOAD 'auto_explain'")
    except asyncpg.InsufficientPrivilegeError:
        pytest.skip("LOAD auto_explain needs a superuser")
    for setting, value in (("log_min_duration", "0"), ("log_analyze", "on"), ("log_timing", "off"),
                           ("log_format", "json"), ("log_level", "notice")):
        await conn.execute(f"SET auto_explain.{setting} = '{value}'")
    plans: list[dict[str, Any]] = []

    def listen(_: Any, message: Any) -> None:
        text = str(message.message)
        if "{" in text:
            plans.append(json.loads(text[text.index("{"):])["Plan"])

    conn.add_log_listener(listen)
    try:
        async with admin.reading(conn) as c:
            page = await admin.list_jobs(c, JobFilter(search="no such text"), limit=10, search_window=window)
    finally:
        conn.remove_log_listener(listen)
    assert page.jobs == [] and page.searched == window and page.next is not None
    scans = [s for p in plans for s in _scans(p) if s["Relation Name"] == "good_jobs"]
    assert scans and not [s for s in scans if s["Node Type"] == "Seq Scan"]
    assert any(s["Node Type"] == "Index Only Scan" for s in scans)  # the bound decodes no row
    read = sum((s["Actual Rows"] + s.get("Rows Removed by Filter", 0)) * s["Actual Loops"] for s in scans)
    assert read <= 2 * window + 10, read


async def test_the_page_says_what_a_bounded_search_read(
    client: httpx.AsyncClient, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from goodjob.dashboard.pages import jobs as jobs_page

    matches = await seed(conn, 5, match_every=3)  # 20 jobs, 7 match
    monkeypatch.setattr(jobs_page, "SEARCH_WINDOW", 8)
    html = (await client.get("/jobs", params={"q": "needle", "limit": "10"})).text
    notice = re.search(r'id="search-notice">(.*?)</div>', html, re.S)
    assert notice is not None
    assert "Searched only the newest 8 jobs of all states: 3 match" in notice.group(1)
    assert "older jobs were not searched" in notice.group(1)
    assert 'rel="prev"' not in html  # the first window is the first page
    assert re.findall(r'<tr data-id="([0-9a-f-]+)"', html) == [str(i) for i in matches[:3]]
    more = re.search(r'id="search-more" href="([^"]+)"', notice.group(1))
    assert more is not None and "Search the next 8" in notice.group(1)
    nxt = (await client.get(more.group(1).replace("&amp;", "&").removeprefix("/good_job"))).text
    assert "Searched only the next 8 jobs of all states: 2 match" in nxt
    assert re.findall(r'<tr data-id="([0-9a-f-]+)"', nxt) == [str(i) for i in matches[3:5]]
    # A search that covers the whole tab says nothing of a bound.
    assert 'id="search-notice"' not in (await client.get("/jobs", params={"q": "needle", "state": "running"})).text
