"""Cron: entries and their validation, every occurrence once across workers (even after the job rows
are gone), grace-period catch-up, enable flags, "enqueue now", and the async modes."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from cron_batch_jobs import EVENTS, CronRecordJob
from helpers import wait_for
from test_dashboard import client as client
from test_dashboard import make_client as make_client
from test_dashboard_actions import flashes, post

import goodjob
from goodjob.core.config import load_config
from goodjob.core.errors import ConfigurationError
from goodjob.core.features import cron
from goodjob.core.runtime import get_runtime
from goodjob.core.worker.launcher import Worker

StartWorker = Callable[..., Awaitable[Worker]]
NAME = CronRecordJob.job_name


@pytest.fixture(autouse=True)
def _reset() -> None:
    EVENTS.clear()


def entry(expression: str, **more: Any) -> dict[str, Any]:
    return {"cron": expression, "class": NAME, **more}


async def cron_rows(conn: asyncpg.Connection) -> list[datetime]:
    return [r["cron_at"] for r in await conn.fetch(
        "SELECT cron_at FROM good_jobs WHERE cron_key IS NOT NULL ORDER BY cron_at")]


# --- entries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "message"), [
    (entry("61 * * * *"), "'61 \\* \\* \\* \\*' is not a valid cron expression"),
    (entry("* * *"), "has 3 fields; expected 5"),
    (entry("* * * * * * *"), "has 7 fields"),
    (entry(""), "needs 'cron'"),
    ({"cron": "* * * * *"}, "needs 'class'"),
    (entry("* * * * *", timezone="Mars/Base"), "unknown timezone"),
    (entry("* * * * *", every="day"), "unknown field"),
    (entry("* * * * *", set={"wait": 5}), "'set' option\\(s\\) wait are not allowed"),
    (entry("* * * * *", args="x"), "'args' must be a list"),
    (entry("* * * * *", enabled_by_default="yes"), "enabled_by_default"),
])
def test_invalid_entries_are_errors_naming_the_entry(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"cron entry 'nightly'.*{message}"):
        cron.parse_entries({"nightly": spec})


def test_entries_from_code_and_from_json() -> None:
    from_code = cron.parse_entries({"a": {"cron": "*/15 * * * * *", "class": CronRecordJob, "args": lambda: [1],
                                          "set": {"priority": 3}, "description": "every 15 s"}})
    assert from_code[0].job_class == NAME and from_code[0].seconds_first
    at = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert from_code[0].next_at(at) == at.replace(second=15)
    config = load_config(environ={"GOOD_JOB_CRON": json.dumps({"b": {"cron": "@hourly", "class": NAME}})})
    (b,) = cron.entries_from_config(config)
    assert b.next_at(at) == datetime(2026, 1, 1, 1, tzinfo=UTC) and b.enabled_by_default
    paris = cron.parse_entries({"p": entry("0 9 * * *", timezone="Europe/Paris")})[0]
    assert paris.next_at(at) == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert list(b.occurrences(at, at + timedelta(hours=3))) == [at.replace(hour=h, second=0) for h in (1, 2, 3)]
    with pytest.raises(ConfigurationError, match="cron entry 'x': Unknown job class"):
        cron.parse_entries({"x": {"cron": "* * * * *", "class": "nowhere.Job"}}, resolve=True)
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_config(environ={"GOOD_JOB_CRON": "{nope"})


async def test_a_worker_refuses_to_start_with_an_invalid_entry(start_worker: StartWorker) -> None:
    goodjob.configure(cron={"broken": entry("* * * * * 99")})
    with pytest.raises(ConfigurationError, match="cron entry 'broken'"):
        await start_worker(enable_cron=True)
    await start_worker()  # without enable_cron the entries are not this worker's business


# --- scheduling --------------------------------------------------------------------------------------


@pytest.mark.pgbouncer
async def test_every_second_on_two_workers_runs_each_occurrence_once(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    """Both workers schedule the entry and perform its jobs; finished rows are deleted
    (preserve_job_records=False), so only the cron bookkeeping can stop a second enqueue."""
    goodjob.configure(cron={"tick": entry("* * * * * *")})
    workers = [await start_worker(enable_cron=True, poll_interval=0.2) for _ in range(2)]
    await wait_for(lambda: len(EVENTS) >= 3, timeout=15, interval=0.05)
    await asyncio.sleep(1.2)
    for worker in workers:  # stop scheduling, then let the last jobs run
        assert worker.services.cron is not None
        await worker.services.cron.stop()
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 0 FROM good_jobs"), timeout=10)
    times = [e[1][0] for e in EVENTS]
    assert len(times) == len(set(times)), f"an occurrence ran twice: {times}"
    assert all(t.microsecond == 0 for t in times)
    ordered = sorted(times)
    assert all((b - a) == timedelta(seconds=1) for a, b in itertools.pairwise(ordered)), ordered


async def test_missed_runs_are_enqueued_within_the_grace_period(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    goodjob.configure(cron={"five": entry("*/5 * * * * *")})
    before = datetime.now(UTC)
    worker = await start_worker(enable_cron=True, cron_graceful_restart_period=22, queues="other")
    await wait_for(lambda: cron_rows(conn), timeout=10)
    await asyncio.sleep(0.3)
    caught_up = [t for t in await cron_rows(conn) if t <= before]
    assert 4 <= len(caught_up) <= 5 and all(before - t < timedelta(seconds=22) for t in caught_up), caught_up
    await worker.shutdown(timeout=5)
    # Restarted after those jobs ran and were deleted: nothing is enqueued twice.
    await conn.execute("DELETE FROM good_jobs WHERE cron_key IS NOT NULL")
    last = await conn.fetchval("SELECT last_at FROM good_job_cron_entries WHERE key = 'five'")
    await start_worker(enable_cron=True, cron_graceful_restart_period=22, queues="other")
    await asyncio.sleep(0.5)
    assert all(t > last for t in await cron_rows(conn))


async def test_runs_missed_while_down_resume_after_the_last_one(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    """A process enqueued the entry until 12 s ago, then none was up: a new one with a 60 s grace
    period enqueues exactly the occurrences since then; without a grace period, none."""
    goodjob.configure(cron={"two": entry("*/2 * * * * *")})
    now = datetime.now(UTC)
    (two,) = cron.entries_from_config(goodjob.current_config())
    last = two.previous_at(now - timedelta(seconds=12))
    await conn.execute("INSERT INTO good_job_cron_entries (key, last_at) VALUES ('two', $1)", last)
    first = await start_worker(enable_cron=True, queues="other")
    await asyncio.sleep(0.4)
    assert all(t > now for t in await cron_rows(conn))  # no grace period: the missed runs are lost
    await first.shutdown(timeout=5)  # "then none was up": it must not keep moving last_at forward
    await conn.execute("UPDATE good_job_cron_entries SET last_at = $1", last)
    await conn.execute("DELETE FROM good_jobs")
    started = datetime.now(UTC)
    await start_worker(enable_cron=True, cron_graceful_restart_period=60, queues="other")
    await wait_for(lambda: cron_rows(conn), timeout=10)
    await asyncio.sleep(0.3)
    missed = [t for t in await cron_rows(conn) if t <= started]
    assert missed == list(two.occurrences(last, started))


@pytest.mark.pgbouncer
async def test_enable_flags_switch_entries_for_every_process(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    goodjob.configure(cron={"off": entry("* * * * * *", enabled_by_default=False), "on": entry("* * * * * *")})
    await start_worker(enable_cron=True, queues="other")
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM good_jobs WHERE cron_key = 'on'"), timeout=10)
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE cron_key = 'off'") == 0
    await goodjob.control.set_cron_entry_enabled("off", True)
    await goodjob.control.set_cron_entry_enabled("on", False)
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM good_jobs WHERE cron_key = 'off'"), timeout=10)
    await asyncio.sleep(1.1)  # a tick in flight may still enqueue 'on' once
    count = await conn.fetchval("SELECT count(*) FROM good_jobs WHERE cron_key = 'on'")
    await asyncio.sleep(1.1)
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE cron_key = 'on'") == count
    status = {s["key"]: s for s in await goodjob.control.cron_entries()}
    assert status["off"]["enabled"] and not status["on"]["enabled"]
    assert status["off"]["last_at"] is not None and status["off"]["next_at"] > status["off"]["last_at"]


async def test_enqueue_now_runs_an_entry_outside_its_schedule(conn: asyncpg.Connection) -> None:
    goodjob.configure(cron={"yearly": entry("0 0 1 1 *", args=[1], kwargs={"k": "v"}, set={"queue": "q"})})
    result = await goodjob.control.enqueue_cron_entry("yearly")
    again = await goodjob.control.enqueue_cron_entry("yearly")
    assert result and again  # never deduplicated
    row = await conn.fetchrow("SELECT * FROM good_jobs WHERE id = $1", result.id)
    assert row["cron_key"] == "yearly" and row["cron_at"] is None and row["queue_name"] == "q"
    (status,) = await goodjob.control.cron_entries()
    assert status["last_job_id"] == again.id and status["last_at"] is None
    with pytest.raises(ConfigurationError, match="no cron entry 'nope'"):
        await goodjob.control.enqueue_cron_entry("nope")


async def test_the_async_mode_schedules_cron(gj: str) -> None:
    goodjob.configure(execution_mode="async", enable_cron=True, poll_interval=0.2,
                      cron={"tick": entry("* * * * * *", set={"queue": "default"})})
    async with goodjob.lifespan():
        await wait_for(lambda: EVENTS, timeout=10)
    await get_runtime().close_database()


# --- dashboard ---------------------------------------------------------------------------------------


async def test_the_dashboard_lists_switches_and_enqueues_entries(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    goodjob.configure(cron={"nightly": entry("0 3 * * *", description="Nightly report"),
                            "off": entry("*/5 * * * *", enabled_by_default=False)})
    html = (await client.get("/cron")).text
    assert "Nightly report" in html and "0 3 * * *" in html and "disabled" in html
    response = await post(client, "/cron/nightly/disable", page="/cron", confirmed=False)
    assert "nightly disabled for every process" in await flashes(client, response)
    response = await post(client, "/cron/off/enable", page="/cron", confirmed=False)
    assert "off enabled" in await flashes(client, response)
    assert await cron.enabled_flags(conn) == {"nightly": False, "off": True}
    asked = await post(client, "/cron/nightly/enqueue", page="/cron", confirmed=False)
    assert asked.status_code == 200 and "Enqueue cron entry nightly" in asked.text  # asks first
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE cron_key = 'nightly'") == 0
    response = await post(client, "/cron/nightly/enqueue", page="/cron")
    assert "nightly enqueued now" in await flashes(client, response)
    job_id = await conn.fetchval("SELECT id FROM good_jobs WHERE cron_key = 'nightly'")
    assert f"/good_job/jobs/{job_id}" in (await client.get("/cron")).text  # last run links to its job
    assert "/good_job/cron" in (await client.get(f"/jobs/{job_id}")).text
    assert (await post(client, "/cron/missing/enqueue", page="/cron", confirmed=False)).status_code == 404
    goodjob.configure(cron={"bad": entry("99 * * * *")})
    assert "cron entry &#39;bad&#39;" in (await client.get("/cron")).text
