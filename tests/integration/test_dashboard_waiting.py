"""The scheduled and queued tabs read the claim indexes one range per waiting priority and merge
them (migration 12, sql/dashboard_waiting.sql): every job of the tab once, in (scheduled_at, id)
order across priorities and queues (ties on the time included), both directions, counts capped,
bounded searches, the queues page's figures, and index plans beside a deep backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest
from test_dashboard import add_job

from goodjob.core import admin
from goodjob.core.admin import Cursor, JobFilter
from goodjob.core.storage.sql_files import sql

NOW = datetime.now(UTC)


async def seed(conn: asyncpg.Connection) -> None:
    """Waiting jobs in three queues and four priorities at interleaved times, a third of each queue's sharing one time
    (a bulk enqueue's rows share theirs), half due and half later; some have "needle" in
    its arguments (every fifth). Around them: a retry, a running and a finished job (not in these tabs)."""
    for i in range(36):
        queue = ("alpha", "beta", "gamma")[i % 3]
        offset = timedelta(minutes=5) if i % 3 == 0 else timedelta(seconds=i)
        at = NOW - offset - timedelta(hours=1) if i % 2 else NOW + offset + timedelta(hours=1)
        job_id = await add_job(conn, queue=queue, scheduled_at=at, args=["needle" if i % 5 == 0 else "hay", i])
        await conn.execute("UPDATE good_jobs SET priority = $2 WHERE id = $1", job_id, (0, 5, -3, 5)[i % 4])
    await add_job(conn, queue="delta", error="Boom: once", scheduled_at=NOW + timedelta(hours=2))
    await add_job(conn, queue="alpha", state="running")
    await add_job(conn, queue="beta", state="succeeded")


async def expected(conn: asyncpg.Connection, tab: str, queue: str | None, *, needle: bool = False) -> list[UUID]:
    """The tab's ids in list order, straight from the table."""
    rows = await conn.fetch(
        "SELECT id FROM good_jobs WHERE state = 'queued' AND error IS NULL"
        " AND CASE WHEN $1 = 'scheduled' THEN scheduled_at > $2 ELSE scheduled_at <= $2 END"
        " AND ($3::text IS NULL OR queue_name = $3) AND (NOT $4 OR serialized_params::text LIKE '%needle%')"
        " ORDER BY scheduled_at, id", tab, NOW, queue, needle)
    ids = [r["id"] for r in rows]
    return ids if tab == "scheduled" else ids[::-1]  # scheduled: next to run first; queued: newest due


async def walk(conn: asyncpg.Connection, f: JobFilter, *, limit: int, window: int = 0) -> list[UUID]:
    seen: list[UUID] = []
    after: Cursor | None = None
    for _ in range(100):
        async with admin.reading(conn) as c:
            page = await admin.list_jobs(c, f, after=after, limit=limit, now=NOW, search_window=window)
        seen += [j["id"] for j in page.jobs]
        if page.next is None:
            return seen
        after = page.next
    raise AssertionError("the walk did not end")


async def walk_back(conn: asyncpg.Connection, f: JobFilter, start: Cursor, *, limit: int) -> list[UUID]:
    seen: list[UUID] = []
    before: Cursor | None = start
    for _ in range(100):
        if before is None:
            return seen
        async with admin.reading(conn) as c:
            page = await admin.list_jobs(c, f, before=before, limit=limit, now=NOW)
        seen = [j["id"] for j in page.jobs] + seen
        before = page.prev
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("tab", ["scheduled", "queued"])
async def test_a_waiting_tab_lists_every_queue_merged_in_time_order(conn: asyncpg.Connection, tab: str) -> None:
    await seed(conn)
    for queue in (None, "beta", "delta", "nowhere"):
        want = await expected(conn, tab, queue)
        assert len(want) == {None: 18, "beta": 6}.get(queue, 0), queue
        for limit in (1, 4, 50):
            assert await walk(conn, JobFilter(tab, queue=queue), limit=limit) == want, (queue, limit)
        # The other direction, from beyond the tab's last row back to its first ("‹" links).
        far = NOW + timedelta(days=1) if tab == "scheduled" else NOW - timedelta(days=1)
        back = await walk_back(conn, JobFilter(tab, queue=queue), Cursor(far, UUID(int=0)), limit=4)
        assert back == want, queue
        async with admin.reading(conn) as c:
            counts = await admin.count_tabs(c, JobFilter(queue=queue), now=NOW)
            capped = await admin.count_tabs(c, JobFilter(queue=queue), now=NOW, cap=5)
        assert counts[tab].n == len(want) and not counts[tab].capped
        assert capped[tab].n == min(5, len(want)) and capped[tab].capped == (len(want) >= 5)
    # Every job is in exactly one tab: the counts add up.
    async with admin.reading(conn) as c:
        counts = await admin.count_tabs(c, JobFilter(), now=NOW)
    assert counts["all"].n == 39 and counts["retried"].n == 1


@pytest.mark.parametrize("tab", ["scheduled", "queued"])
async def test_a_bounded_search_of_a_waiting_tab_finds_each_match_once(conn: asyncpg.Connection, tab: str) -> None:
    await seed(conn)
    want = await expected(conn, tab, None, needle=True)
    assert len(want) == 4
    for window in (3, 7, 1000):
        assert await walk(conn, JobFilter(tab, search="needle"), limit=2, window=window) == want, window
    assert await walk(conn, JobFilter(tab, search="no such text"), limit=2, window=5) == []
    assert await walk(conn, JobFilter(tab, queue="gamma", search="needle"), limit=2, window=4) == \
        await expected(conn, tab, "gamma", needle=True)


async def test_waiting_tabs_read_the_queue_index_beside_a_deep_backlog(conn: asyncpg.Connection) -> None:
    """200,000 due jobs in one queue: the unfiltered tabs, their counts and the digest read
    good_jobs_waiting_queue a range per queue, never the table."""
    await conn.execute(
        """INSERT INTO good_jobs (id, queue_name, job_class, serialized_params, scheduled_at)
           SELECT gen_random_uuid(), 'deep', 'x.Y', '{}', $1::timestamptz - interval '1 second' * g
           FROM generate_series(1, 200000) AS g""", NOW)
    await seed(conn)
    await conn.execute("ANALYZE good_jobs")
    for tab in ("scheduled", "queued"):
        f = JobFilter(tab)
        async with admin.reading(conn) as c:
            page = await admin.list_jobs(c, f, limit=50, now=NOW)
            counts = await admin.count_tabs(c, f, now=NOW)
            plan = "\n".join(r[0] for r in await c.fetch(
                "EXPLAIN " + sql("dashboard_waiting_jobs_desc"), tab, NOW,
                *([None] * 6), 51, *([None] * 7), 0))
        assert len(page.jobs) == (50 if tab == "queued" else 18)
        assert "good_jobs_claim_all" in plan and "Seq Scan" not in plan and "Bitmap" not in plan, plan
        assert counts["queued"].n == 10_000 and counts["queued"].capped  # the cap, not 200,018
        assert counts["scheduled"].n == 18
    async with admin.reading(conn) as c:
        plan = "\n".join(r[0] for r in await c.fetch("EXPLAIN " + sql("dashboard_digest"),
                                                       False, NOW))
        figures = "\n".join(r[0] for r in await c.fetch("EXPLAIN " + sql("dashboard_queue_stats"),
                                                          NOW, 10_000, ["deep", "beta"]))
        deep = [q for q in await admin.queues(c, now=NOW) if q["name"] == "deep"]
        counting = ["\n".join(r[0] for r in await c.fetch("EXPLAIN " + sql("dashboard_waiting_count_plain"),
                                                            tab, NOW, queue, 10_000, 100_000))
                    for tab in ("scheduled", "queued") for queue in (None, "beta", "deep")]
    for count_plan in counting:
        assert "Seq Scan on good_jobs " not in count_plan and "claim_" in count_plan, count_plan
    assert "good_jobs_claim_all" in plan and "Seq Scan on good_jobs " not in plan, plan
    assert "good_jobs_claim_queue" in figures and "Seq Scan on good_jobs " not in figures, figures
    assert deep[0]["waiting"] == 10_000 and deep[0]["capped"] and deep[0]["scheduled"] == 0


async def test_queue_figures_count_each_priority_and_retries(conn: asyncpg.Connection) -> None:
    """The queues page (and the metrics) count a queue's waiting jobs over all its priorities,
    retries included, capped; the oldest due time is the earliest of any priority."""
    await seed(conn)
    await add_job(conn, queue="beta", error="Boom: due again", scheduled_at=NOW - timedelta(days=2))
    want = {r["queue_name"]: r for r in await conn.fetch(
        "SELECT queue_name, count(*) FILTER (WHERE scheduled_at <= $1) AS due,"
        " count(*) FILTER (WHERE scheduled_at > $1) AS later,"
        " min(scheduled_at) FILTER (WHERE scheduled_at <= $1) AS oldest"
        " FROM good_jobs WHERE state = 'queued' GROUP BY queue_name", NOW)}
    for cap in (10_000, 4):
        got = {q["name"]: q for q in await admin.queues(conn, now=NOW, cap=cap)}
        for name, w in want.items():
            assert got[name]["waiting"] == min(w["due"], cap), (name, cap)
            assert got[name]["scheduled"] == min(w["later"], cap), (name, cap)
            assert got[name]["oldest_waiting_at"] == w["oldest"], name
    assert got["beta"]["oldest_waiting_at"] == NOW - timedelta(days=2)  # the retry, at the default priority
    assert got["alpha"]["running"] == 1 and got["delta"]["waiting"] == 0 and got["delta"]["scheduled"] == 1


async def test_tab_counts_take_retries_off_exactly_and_survive_a_retry_storm(conn: asyncpg.Connection) -> None:
    """The unfiltered counts count waiting rows of any kind and take the retries off: exact below
    the cap, capped at it, and (past ten times the cap of retries) counted row by row instead."""
    await seed(conn)
    for i in range(25):
        await add_job(conn, queue="alpha", error="Boom: storm", scheduled_at=NOW + timedelta(minutes=i))
        await add_job(conn, queue="beta", error="Boom: due", scheduled_at=NOW - timedelta(minutes=i))
    for queue, scheduled, queued in ((None, 18, 18), ("alpha", 6, 6), ("beta", 6, 6)):
        for cap in (10_000, 3, 2, 1):  # 26 / 25 retries: cap 2 and 1 take the row-by-row count
            async with admin.reading(conn) as c:
                counts = await admin.count_tabs(c, JobFilter(queue=queue), now=NOW, cap=cap)
            assert counts["scheduled"].n == min(scheduled, cap), (queue, cap)
            assert counts["queued"].n == min(queued, cap), (queue, cap)
            assert counts["scheduled"].capped == (scheduled >= cap), (queue, cap)
        async with admin.reading(conn) as c:
            counts = await admin.count_tabs(c, JobFilter(queue=queue), now=NOW)
        assert counts["retried"].n == {None: 51, "alpha": 25, "beta": 25}[queue]
