"""Dashboard actions over HTTP: retry, discard, run now, delete; bulk on selected rows and on a whole
filter; confirmations, wrong states, CSRF, read-only mode, pausing queues; a real worker picking up
a retried job."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from helpers import wait_for
from test_dashboard import MakeClient, add_execution, add_job, csrf_of, job_row
from test_dashboard import client as client
from test_dashboard import make_client as make_client

import goodjob
from goodjob.core.runtime import get_runtime
from goodjob.core.worker.launcher import Worker


async def post(client: httpx.AsyncClient, path: str, data: dict[str, Any] | list[tuple[str, str]] | None = None,
               *, page: str = "/jobs", confirmed: bool = True) -> httpx.Response:
    """POST a form the way the pages do: with the CSRF token of a page, confirmed by default."""
    token = csrf_of((await client.get(page)).text)
    items = list(data.items()) if isinstance(data, dict) else list(data or [])
    items.append(("csrf", token))
    if confirmed:
        items.append(("confirmed", "1"))
    form: dict[str, list[str]] = {}
    for name, value in items:
        form.setdefault(name, []).append(value)
    return await client.post(path, data=form, follow_redirects=False)


async def flashes(client: httpx.AsyncClient, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text[:500]
    html = (await client.get(response.headers["location"].removeprefix("/good_job"))).text
    return " ".join(re.findall(r'<div class="flash flash-\w+"[^>]*>(.*?)</div>', html, re.S))


@pytest.fixture
async def notifications(gj: str) -> AsyncIterator[list[dict[str, Any]]]:
    """The payloads NOTIFYed on the good_job channel."""
    received: list[dict[str, Any]] = []
    listener = await asyncpg.connect(gj)

    def on_notify(*args: Any) -> None:
        received.append(json.loads(args[3]))

    await listener.add_listener("good_job", on_notify)
    yield received
    await listener.close()


# --- single-job actions -------------------------------------------------------------------------


async def test_retry_a_discarded_job_queues_it_now_and_keeps_history(
    client: httpx.AsyncClient, conn: asyncpg.Connection, notifications: list[dict[str, Any]]
) -> None:
    job_id = await add_job(conn, state="discarded", queue="mailers", error="BoomError: x", executions=2)
    await add_execution(conn, job_id, outcome="discarded", error="x")
    before = datetime.now(UTC)
    response = await post(client, f"/jobs/{job_id}/retry", {"next": f"/good_job/jobs/{job_id}"},
                          page=f"/jobs/{job_id}", confirmed=False)
    assert response.headers["location"] == f"/good_job/jobs/{job_id}"
    assert "retried" in await flashes(client, response)
    row = await job_row(conn, job_id)
    assert row is not None
    assert row["state"] == "queued" and row["finished_at"] is None and row["error"] is None
    assert before <= row["scheduled_at"] <= datetime.now(UTC) and row["executions_count"] == 2
    assert await conn.fetchval("SELECT count(*) FROM good_job_executions WHERE job_id = $1", job_id) == 1
    await wait_for(lambda: notifications)
    assert notifications[0]["queue"] == "mailers" and notifications[0]["count"] == 1
    assert abs(notifications[0]["at"] - row["scheduled_at"].timestamp()) < 0.01


async def test_discard_run_now_and_delete(client: httpx.AsyncClient, conn: asyncpg.Connection,
                                          notifications: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    waiting = await add_job(conn, scheduled_at=now + timedelta(days=1))
    response = await post(client, f"/jobs/{waiting}/discard")
    assert "discarded" in await flashes(client, response)
    row = await job_row(conn, waiting)
    assert row is not None and row["state"] == "discarded" and row["error"] == "discarded by operator"
    assert row["finished_at"] is not None

    scheduled = await add_job(conn, queue="reports", scheduled_at=now + timedelta(days=1))
    response = await post(client, f"/jobs/{scheduled}/run_now")
    assert "scheduled to run now" in await flashes(client, response)
    row = await job_row(conn, scheduled)
    assert row is not None and row["state"] == "queued" and row["scheduled_at"] <= datetime.now(UTC)
    await wait_for(lambda: any(n.get("queue") == "reports" for n in notifications))

    finished = await add_job(conn, state="succeeded", executions=1)
    await add_execution(conn, finished)
    response = await post(client, f"/jobs/{finished}/delete", {"next": f"/good_job/jobs/{finished}"})
    assert response.headers["location"] == "/good_job/jobs"  # not the page of a deleted job
    assert "deleted" in await flashes(client, response)
    assert await job_row(conn, finished) is None
    assert await conn.fetchval("SELECT count(*) FROM good_job_executions WHERE job_id = $1", finished) == 0


WRONG_STATES = [
    ("succeeded", "retry", "is succeeded: only discarded jobs can be retried"),
    ("queued", "retry", "is queued: only discarded jobs can be retried"),
    ("running", "discard", "is running: only scheduled, queued or retried jobs can be discarded"),
    ("succeeded", "discard", "is succeeded"),
    ("queued", "run_now", "is queued: only jobs waiting for a later time"),
    ("queued", "delete", "is queued: only finished (succeeded or discarded) jobs can be deleted"),
    ("running", "delete", "is running"),
]


async def test_wrong_state_actions_change_nothing_and_say_why(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    for state, action, says in WRONG_STATES:
        job_id = await add_job(conn, state=state, scheduled_at=datetime.now(UTC) - timedelta(seconds=5))
        before = dict(await job_row(conn, job_id) or {})
        response = await post(client, f"/jobs/{job_id}/{action}")
        message = await flashes(client, response)
        assert says in message and "Nothing changed." in message, (state, action, message)
        assert dict(await job_row(conn, job_id) or {}) == before


async def test_actions_on_missing_or_malformed_jobs_answer_404(client: httpx.AsyncClient) -> None:
    assert (await post(client, f"/jobs/{uuid4()}/retry")).status_code == 404
    assert (await post(client, "/jobs/nope/retry")).status_code == 404
    assert (await post(client, f"/jobs/{uuid4()}/explode")).status_code == 404


async def test_destructive_actions_need_a_confirmation(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    job_id = await add_job(conn, state="succeeded")
    page = await post(client, f"/jobs/{job_id}/delete", {"next": "/good_job/jobs"}, confirmed=False)
    assert page.status_code == 200 and "Please confirm" in page.text and str(job_id) in page.text
    assert await job_row(conn, job_id) is not None
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
    assert ("confirmed", "1") in fields
    done = await client.post(f"/jobs/{job_id}/delete", data=dict(fields), follow_redirects=False)
    assert done.status_code == 303 and await job_row(conn, job_id) is None


async def test_redirect_targets_stay_inside_the_dashboard(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    job_id = await add_job(conn, state="discarded")
    for evil in ("//evil.example/x", "https://evil.example/", "/elsewhere", "/good_job\\@evil"):
        response = await post(client, f"/jobs/{job_id}/retry", {"next": evil})
        assert response.headers["location"] == f"/good_job/jobs/{job_id}", evil


# --- bulk ---------------------------------------------------------------------------------------


async def test_bulk_on_selected_rows_reports_what_it_skipped(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    waiting = [await add_job(conn) for _ in range(3)]
    running = await add_job(conn, state="running")
    data = [("do", "discard:selected"), *[("id", str(i)) for i in [*waiting, running]]]
    confirm = await post(client, "/jobs/bulk", data, confirmed=False)
    assert confirm.status_code == 200 and "Discard 4 jobs (the selected ones)?" in confirm.text
    assert {r["state"] for r in await conn.fetch("SELECT state FROM good_jobs")} == {"queued", "running"}
    message = await flashes(client, await post(client, "/jobs/bulk", data))
    assert "3 jobs discarded." in message and "Skipped 1 job (1 running)" in message
    states = {r["id"]: r["state"] for r in await conn.fetch("SELECT id, state FROM good_jobs")}
    assert [states[i] for i in waiting] == ["discarded"] * 3 and states[running] == "running"
    nothing = await flashes(client, await post(client, "/jobs/bulk", [("do", "retry:selected")]))
    assert "Select one or more jobs" in nothing


async def test_bulk_on_everything_matching_the_filter(client: httpx.AsyncClient, conn: asyncpg.Connection,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from goodjob.core.operations import actions

    monkeypatch.setattr(actions, "BULK_BATCH", 7)  # several batches
    mailers = [await add_job(conn, state="discarded", queue="mailers", error="x") for _ in range(20)]
    other = await add_job(conn, state="discarded", queue="billing", error="x")
    form = {"do": "retry:all", "state": "discarded", "queue": "mailers"}
    confirm = await post(client, "/jobs/bulk", form, page="/jobs?state=discarded&queue=mailers", confirmed=False)
    assert confirm.status_code == 200 and "Retry all 20 jobs matching this filter?" in confirm.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', confirm.text))
    assert fields["queue"] == "mailers" and fields["until"]
    late = await add_job(conn, state="discarded", queue="mailers", error="x",
                         created_at=datetime.now(UTC) + timedelta(seconds=5))  # after the confirmation
    done = await client.post("/jobs/bulk", data=fields, follow_redirects=False)
    assert "20 jobs retried." in await flashes(client, done)
    states = {r["id"]: r["state"] for r in await conn.fetch("SELECT id, state FROM good_jobs")}
    assert all(states[i] == "queued" for i in mailers)
    assert states[other] == "discarded" and states[late] == "discarded"


async def test_bulk_with_bad_fields_answers_400(client: httpx.AsyncClient) -> None:
    for data in ([("do", "explode:all")], [("do", "retry:everything")], [("do", "retry:selected"), ("id", "x")],
                 [("do", "retry:all"), ("state", "bogus")], [("do", "retry:all"), ("until", "yesterday")]):
        response = await post(client, "/jobs/bulk", data)
        assert response.status_code == 400, data


async def test_bulk_actions_are_offered_per_tab(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    await add_job(conn, state="discarded", error="x")
    html = (await client.get("/jobs?state=discarded")).text
    offered = set(re.findall(r'name="do" value="(\w+):selected"', html))
    assert offered == {"retry", "delete"}


# --- protection ---------------------------------------------------------------------------------


async def test_posts_without_a_valid_csrf_token_are_refused(
    client: httpx.AsyncClient, make_client: MakeClient, conn: asyncpg.Connection
) -> None:
    job_id = await add_job(conn, state="discarded")
    other = await make_client(allow_unauthenticated=True, secret_key="another-secret")
    foreign = csrf_of((await other.get("/jobs")).text)
    await client.get("/jobs")  # a session of its own
    for data in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": foreign}):
        response = await client.post(f"/jobs/{job_id}/retry", data=data, follow_redirects=False)
        assert response.status_code == 403 and "security token" in response.text, data
    other_session = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    token = csrf_of((await client.get("/jobs")).text)
    refused = await other_session.post(f"/jobs/{job_id}/retry", data={"csrf": token}, follow_redirects=False)
    assert refused.status_code == 403  # a token is bound to its session cookie
    await other_session.aclose()
    row = await job_row(conn, job_id)
    assert row is not None and row["state"] == "discarded"


async def test_read_only_mode_shows_no_actions_and_refuses_them(
    make_client: MakeClient, conn: asyncpg.Connection
) -> None:
    client = await make_client(allow_unauthenticated=True, read_only=True)
    job_id = await add_job(conn, state="discarded", error="x")
    html = (await client.get(f"/jobs/{job_id}")).text + (await client.get("/jobs?state=discarded")).text
    html += (await client.get("/queues")).text
    assert "read-only" in html and 'method="post"' not in html
    token = csrf_of((await client.get("/jobs")).text) if 'name="csrf"' in html else "x"
    for path, data in ((f"/jobs/{job_id}/retry", {}), ("/jobs/bulk", {"do": "retry:all"}),
                       ("/queues/pause", {"queue": "default"})):
        response = await client.post(path, data={**data, "csrf": token, "confirmed": "1"})
        assert response.status_code == 403 and "read-only" in response.text
    row = await job_row(conn, job_id)
    assert row is not None and row["state"] == "discarded"
    assert await conn.fetchval("SELECT count(*) FROM good_job_settings") == 0


# --- queues -------------------------------------------------------------------------------------


async def test_pause_and_resume_a_queue(client: httpx.AsyncClient, conn: asyncpg.Connection,
                                        notifications: list[dict[str, Any]]) -> None:
    await add_job(conn, queue="mailers")
    for name in ("mailers", "reports"):
        response = await post(client, "/queues/pause", {"queue": name}, page="/queues")
        assert f"Queue {name} paused" in await flashes(client, response)
    value = await conn.fetchval("SELECT value FROM good_job_settings WHERE key = 'paused_queues'")
    assert json.loads(value) == ["mailers", "reports"]
    await wait_for(lambda: {"paused": True} in notifications)
    html = (await client.get("/queues")).text
    assert re.search(r'data-queue="reports">.*?paused', html, re.S)  # listed although it has no jobs
    response = await post(client, "/queues/resume", {"queue": "mailers"}, page="/queues")
    assert "resumed" in await flashes(client, response)
    value = await conn.fetchval("SELECT value FROM good_job_settings WHERE key = 'paused_queues'")
    assert json.loads(value) == ["reports"]
    assert (await post(client, "/queues/pause", {"queue": ""}, page="/queues")).status_code == 400
    assert (await post(client, "/queues/explode", {"queue": "x"}, page="/queues")).status_code == 404


# --- with a real worker -------------------------------------------------------------------------


async def test_a_worker_runs_the_job_the_dashboard_retried(client: httpx.AsyncClient, conn: asyncpg.Connection,
                                                           gj: str) -> None:
    import sample_jobs

    runtime = get_runtime()

    async def url() -> str:
        return gj

    sample_jobs.CALLS.clear()
    config = dataclasses.replace(goodjob.current_config(), poll_interval=-1, preserve_job_records=True)
    worker = Worker(config, database=runtime.database, url=url)
    await worker.start()
    try:
        await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
        job_id = await add_job(conn, state="discarded", job_class="sample_jobs.RecordJob", args=["again"],
                               error="BoomError: first time")
        response = await post(client, f"/jobs/{job_id}/retry")
        assert response.status_code == 303
        await wait_for(lambda: sample_jobs.CALLS, timeout=10)  # woken by the NOTIFY, not by polling
        assert sample_jobs.CALLS[0][1] == ("again",)
        row = await wait_for(lambda: _succeeded(conn, job_id), timeout=10)
        assert row["executions_count"] == 1
        html = (await client.get(f"/jobs/{job_id}")).text
        assert "succeeded" in html
    finally:
        await worker.shutdown(timeout=5)
        await runtime.close_database()


async def _succeeded(conn: asyncpg.Connection, job_id: UUID) -> asyncpg.Record | None:
    row = await job_row(conn, job_id)
    return row if row is not None and row["state"] == "succeeded" else None
