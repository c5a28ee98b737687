"""The async and async_server execution modes in-process: starting, the fast path, the lifespan
(bare, composed, under Starlette's and FastAPI's test clients), shutdown/restart, fork safety."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sample_jobs
from helpers import wait_for, wait_for_sync

import goodjob
from goodjob.asgi import LifespanMiddleware
from goodjob.core.runtime import Runtime, get_runtime
from goodjob.core.worker import inprocess

ROOT = Path(__file__).resolve().parents[2]
EVENTS: list[str] = []


class SlowJob(goodjob.Job):
    async def perform(self, label: str, seconds: float) -> None:
        EVENTS.append(f"start:{label}")
        await asyncio.sleep(seconds)
        EVENTS.append(f"end:{label}")


@pytest.fixture
async def runtime(gj: str) -> AsyncIterator[Runtime]:
    rt = get_runtime()
    sample_jobs.CALLS.clear()
    EVENTS.clear()
    yield rt
    await goodjob.shutdown(timeout=5)
    await rt.close_database()


@pytest.fixture
def server_env(gj: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Configure through GOOD_JOB_* variables only, as a deployment would (code settings win over
    the environment, so the gj fixture's code-level execution_mode is cleared first)."""

    def configure(**env: str) -> None:
        goodjob.reset_configuration()
        monkeypatch.setenv("GOOD_JOB_DATABASE_URL", gj)
        for key, value in env.items():
            monkeypatch.setenv(f"GOOD_JOB_{key.upper()}", value)

    return configure


async def process_rows(conn: asyncpg.Connection) -> list[Any]:
    return list(await conn.fetch("SELECT pid, execution_mode, max_threads FROM good_job_processes"))


# --- async mode ---------------------------------------------------------------------------------


async def test_async_mode_starts_a_worker_at_the_first_enqueue(runtime: Runtime, conn: asyncpg.Connection) -> None:
    goodjob.configure(execution_mode="async")
    assert runtime.in_process.live() is None
    await sample_jobs.AsyncRecordJob.perform_later(1)
    live = runtime.in_process.live()
    assert live is not None and live[1] is asyncio.get_running_loop()
    await wait_for(lambda: sample_jobs.CALLS == [("AsyncRecordJob", (1,), {})], timeout=10)
    assert [tuple(r) for r in await process_rows(conn)] == [(os.getpid(), "async", 5)]
    await goodjob.shutdown()
    await goodjob.shutdown()  # idempotent
    assert runtime.in_process.live() is None
    assert await process_rows(conn) == []
    await sample_jobs.AsyncRecordJob.perform_later(2)  # after shutdown, no lazy restart
    assert runtime.in_process.live() is None
    assert await process_rows(conn) == []


async def test_concurrent_first_enqueues_start_one_worker(runtime: Runtime, conn: asyncpg.Connection) -> None:
    goodjob.configure(execution_mode="async")
    await asyncio.gather(*(sample_jobs.RecordJob.perform_later(i) for i in range(10)))
    await wait_for(lambda: len(sample_jobs.CALLS) == 10, timeout=10)
    assert len(await process_rows(conn)) == 1


async def test_fast_path_hands_a_job_to_a_local_pool_without_notify_or_polling(runtime: Runtime) -> None:
    goodjob.configure(execution_mode="async", poll_interval=-1)
    assert await goodjob.restart()
    worker = runtime.in_process.live()[0]  # type: ignore[index]
    assert worker.notifier is not None
    await worker.notifier.stop()  # no NOTIFY, no polling: only the fast path can start the job
    worker.notifier = None
    await sample_jobs.AsyncRecordJob.perform_later("fast")
    await wait_for(lambda: sample_jobs.CALLS == [("AsyncRecordJob", ("fast",), {})], timeout=10)
    # Bulk enqueue takes the fast path too.
    await goodjob.perform_all_later([sample_jobs.RecordJob.new(i) for i in range(3)])
    await wait_for(lambda: len(sample_jobs.CALLS) == 4, timeout=10)


async def test_no_fast_path_inside_the_callers_transaction(
    runtime: Runtime, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    goodjob.configure(execution_mode="async", poll_interval=-1)
    await goodjob.restart()
    worker = runtime.in_process.live()[0]  # type: ignore[index]
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    routed: list[str] = []
    route = worker.route

    def spy(queue: str, *args: Any) -> None:
        routed.append(queue)
        route(queue, *args)

    monkeypatch.setattr(worker, "route", spy)
    async with conn.transaction():
        await sample_jobs.RecordJob.set(connection=conn, queue="tx").perform_later("in-tx")
        assert routed == []  # not committed: a local pool could not see it yet
    await wait_for(lambda: sample_jobs.CALLS == [("RecordJob", ("in-tx",), {})], timeout=10)
    assert routed == ["tx"]  # once, from the NOTIFY sent at commit


async def test_async_mode_in_a_plain_asyncio_program(gj: str, tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import asyncio, os
        import goodjob

        done = asyncio.Event()

        class Hello(goodjob.Job):
            async def perform(self, name):
                print(f"hello {name} from {os.getpid()}", flush=True)
                done.set()

        async def main():
            await Hello.perform_later("lazy")          # starts the worker on this loop
            await asyncio.wait_for(done.wait(), 30)
            await goodjob.shutdown()
            done.clear()
            async with goodjob.lifespan():             # or explicitly, around the program
                await Hello.perform_later("lifespan")
                await asyncio.wait_for(done.wait(), 30)
            print("exited", flush=True)

        asyncio.run(main())
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOOD_JOB_")}
    env.update(GOOD_JOB_DATABASE_URL=gj, GOOD_JOB_EXECUTION_MODE="async", PYTHONPATH=str(ROOT))
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script], env=env,
                                   capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == [f"hello lazy from {lines[0].split()[-1]}", f"hello lifespan from {lines[0].split()[-1]}"]
    assert lines[2] == "exited"
    conn = await asyncpg.connect(gj)
    try:
        assert await conn.fetchval("SELECT count(*) FROM good_job_processes") == 0
        assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 0
    finally:
        await conn.close()


async def test_a_sync_script_in_async_mode_finishes_running_jobs_at_exit(gj: str, tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import threading, time
        import goodjob

        started = threading.Event()

        class Slow(goodjob.Job):
            def perform(self):                   # a thread job, like most sync code's
                started.set()
                time.sleep(0.5)
                print("finished", flush=True)

        Slow.perform_later_sync()                # the worker runs on goodjob's background loop
        assert started.wait(30)
        print("exiting", flush=True)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOOD_JOB_")}
    env.update(GOOD_JOB_DATABASE_URL=gj, GOOD_JOB_EXECUTION_MODE="async", PYTHONPATH=str(ROOT))
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script], env=env,
                                   capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["exiting", "finished"]
    assert await _fetchval(gj, "SELECT count(*) FROM good_jobs") == 0
    assert await _fetchval(gj, "SELECT count(*) FROM good_job_processes") == 0


def test_sync_restart_and_shutdown(gj: str) -> None:
    goodjob.configure(execution_mode="async")
    sample_jobs.CALLS.clear()
    runtime = get_runtime()
    try:
        assert goodjob.restart_sync()
        assert runtime.in_process.live() is not None
        sample_jobs.RecordJob.perform_later_sync("sync")
        wait_for_sync(lambda: sample_jobs.CALLS == [("RecordJob", ("sync",), {})], timeout=10)
    finally:
        goodjob.shutdown_sync(timeout=5)
    goodjob.shutdown_sync()
    assert runtime.in_process.live() is None
    assert asyncio.run(_fetchval(gj, "SELECT count(*) FROM good_job_processes")) == 0


async def _fetchval(url: str, query: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


# --- async_server mode --------------------------------------------------------------------------


async def test_async_server_outside_a_server_behaves_as_external(
    runtime: Runtime, conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inprocess, "server_process_name", lambda: None)
    goodjob.configure(execution_mode="async_server")
    with caplog.at_level(logging.DEBUG, logger="goodjob"):
        await sample_jobs.RecordJob.perform_later("waits")
    assert runtime.in_process.live() is None
    assert await process_rows(conn) == []
    assert await conn.fetchval("SELECT state FROM good_jobs") == "queued"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert goodjob.asgi.not_started_problem() is None


async def test_async_server_in_a_server_without_the_lifespan_says_so_once(
    runtime: Runtime, conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inprocess, "server_process_name", lambda: "uvicorn")
    goodjob.configure(execution_mode="async_server")
    with caplog.at_level(logging.WARNING, logger="goodjob"):
        await sample_jobs.RecordJob.perform_later(1)
        await sample_jobs.RecordJob.perform_later(2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "uvicorn process" in warnings[0] and "lifespan=goodjob.lifespan" in warnings[0]
    assert goodjob.asgi.not_started_problem() == warnings[0]
    assert await process_rows(conn) == []


@pytest.mark.parametrize(
    ("argv0", "modules", "expected"),
    [
        ("/venv/bin/uvicorn", [], "uvicorn"),
        ("/venv/lib/python3.11/site-packages/uvicorn/__main__.py", [], "uvicorn"),
        ("/venv/bin/gunicorn", [], "gunicorn"),
        ("/venv/bin/hypercorn", [], "hypercorn"),
        ("serve.py", ["uvicorn"], "uvicorn"),  # uvicorn.run(app) from a script
        ("/venv/bin/goodjob", [], None),
        ("script.py", [], None),
    ],
)
def test_server_process_detection(
    monkeypatch: pytest.MonkeyPatch, argv0: str, modules: list[str], expected: str | None
) -> None:
    monkeypatch.setattr(sys, "argv", [argv0])
    for name in inprocess.SERVER_NAMES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, sys)
    assert inprocess.server_process_name() == expected


async def test_lifespan_starts_pools_from_the_environment_and_drains_on_exit(
    runtime: Runtime, conn: asyncpg.Connection, server_env: Callable[..., None]
) -> None:
    server_env(execution_mode="async_server", max_threads="4", poll_interval="30", shutdown_timeout="20")
    async with goodjob.lifespan(object()):
        worker = runtime.in_process.live()[0]  # type: ignore[index]
        assert worker.config.poll_interval == 30
        assert [s.capacity for s in worker.schedulers] == [4]
        assert [tuple(r) for r in await process_rows(conn)] == [(os.getpid(), "async_server", 4)]
        await SlowJob.perform_later("drained", 0.5)
        await wait_for(lambda: EVENTS == ["start:drained"], timeout=10)
    assert EVENTS == ["start:drained", "end:drained"]  # the lifespan's exit waited for it
    assert runtime.in_process.live() is None
    assert await process_rows(conn) == []
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 0


async def test_lifespan_exit_interrupts_jobs_after_shutdown_timeout(
    runtime: Runtime, conn: asyncpg.Connection, server_env: Callable[..., None]
) -> None:
    server_env(execution_mode="async_server", shutdown_timeout="0.2")
    async with goodjob.lifespan(object()):
        await SlowJob.perform_later("cut", 60)
        await wait_for(lambda: EVENTS == ["start:cut"], timeout=10)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    assert await conn.fetchval("SELECT state FROM good_jobs") == "queued"  # it will run again


async def test_lifespan_fails_loudly_when_workers_cannot_start(
    runtime: Runtime, make_database: Callable[..., str], server_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server_env(execution_mode="async_server")
    monkeypatch.setenv("GOOD_JOB_DATABASE_URL", await asyncio.to_thread(make_database, migrated=False))
    runtime.reset()
    with pytest.raises(goodjob.SchemaMissingError):
        async with goodjob.lifespan(object()):
            pytest.fail("the server must not start without its workers")
    assert runtime.in_process.live() is None


async def test_lifespan_in_external_mode_starts_nothing(runtime: Runtime, conn: asyncpg.Connection) -> None:
    async with goodjob.lifespan(object()):
        assert runtime.in_process.live() is None
        await sample_jobs.RecordJob.perform_later("later")
    assert await process_rows(conn) == []


async def test_lifespan_exit_closes_the_mounted_dashboard(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    monkeypatch.setitem(sys.modules, "goodjob.dashboard", types.SimpleNamespace(close=close))
    async with goodjob.lifespan(object()):
        assert closed == []
    assert closed == [True]


async def test_restart_and_shutdown_are_idempotent(runtime: Runtime, conn: asyncpg.Connection) -> None:
    assert await goodjob.restart() is False  # external mode runs nothing in-process
    await goodjob.shutdown()
    goodjob.configure(execution_mode="async")
    assert await goodjob.restart()
    first = runtime.in_process.live()[0].process.id  # type: ignore[index, union-attr]
    assert await goodjob.restart()
    second = runtime.in_process.live()[0].process.id  # type: ignore[index, union-attr]
    assert first != second
    assert len(await process_rows(conn)) == 1
    await asyncio.gather(goodjob.shutdown(), goodjob.shutdown())
    await goodjob.shutdown()
    assert await process_rows(conn) == []


async def test_a_forked_child_never_reuses_the_parents_worker_or_pools(runtime: Runtime) -> None:
    goodjob.configure(execution_mode="async")
    await goodjob.restart()
    assert runtime.run_sync(lambda: asyncio.sleep(0, result=1)) == 1  # the sync bridge's thread runs
    assert runtime.in_process.live() is not None and runtime._databases
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            child = get_runtime()
            bridged = child.run_sync(lambda: asyncio.sleep(0, result=42))  # a new thread, not the dead one
            os.write(write, f"{child.in_process.live() is None},{len(child._databases)},{bridged}".encode())
        finally:
            os._exit(0)
    os.close(write)
    await asyncio.to_thread(os.waitpid, pid, 0)
    assert os.read(read, 100).decode() == "True,0,42"
    os.close(read)
    assert runtime.in_process.live() is not None  # the parent's worker is untouched


# --- the lifespan under real frameworks -----------------------------------------------------------


@pytest.fixture
def async_server(gj: str) -> Iterator[None]:
    goodjob.configure(execution_mode="async_server")
    sample_jobs.CALLS.clear()
    EVENTS.clear()
    yield
    assert get_runtime().in_process.live() is None, "the lifespan should have stopped the worker"


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`:UserWarning")
def test_composed_lifespan_under_starlette(async_server: None) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        EVENTS.append(f"app startup, goodjob running: {get_runtime().in_process.live() is not None}")
        yield {"greeting": "hello"}
        EVENTS.append(f"app teardown, goodjob running: {get_runtime().in_process.live() is not None}")

    async def enqueue(request: Request) -> JSONResponse:
        await sample_jobs.RecordJob.perform_later(request.state.greeting)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/", enqueue)], lifespan=goodjob.lifespan(app_lifespan))
    with TestClient(app) as client:
        assert client.get("/").json() == {"ok": True}
        wait_for_sync(lambda: sample_jobs.CALLS == [("RecordJob", ("hello",), {})], timeout=10)
    assert EVENTS == ["app startup, goodjob running: False", "app teardown, goodjob running: False"]


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`:UserWarning")
def test_plain_lifespan_under_fastapi(async_server: None) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI(lifespan=goodjob.lifespan)

    @app.post("/jobs")
    def create(value: int) -> dict[str, bool]:
        return {"ok": bool(sample_jobs.RecordJob.perform_later_sync(value))}

    with TestClient(app) as client:
        assert get_runtime().in_process.live() is not None
        assert client.post("/jobs", params={"value": 7}).json() == {"ok": True}
        wait_for_sync(lambda: sample_jobs.CALLS == [("RecordJob", (7,), {})], timeout=10)


async def test_lifespan_middleware_for_apps_without_a_lifespan(runtime: Runtime, conn: asyncpg.Connection) -> None:
    goodjob.configure(execution_mode="async_server")
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    incoming: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    sent: list[str] = []

    async def send(message: Any) -> None:
        sent.append(message["type"])

    middleware = LifespanMiddleware(app)
    task = asyncio.create_task(middleware({"type": "lifespan"}, incoming.get, send))
    await incoming.put({"type": "lifespan.startup"})
    await wait_for(lambda: sent == ["lifespan.startup.complete"], timeout=10)
    assert len(await process_rows(conn)) == 1
    await middleware({"type": "http"}, incoming.get, send)
    await incoming.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(task, 10)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert seen == ["http"]
    assert await process_rows(conn) == []


async def test_dashboard_shows_when_async_server_workers_never_started(
    runtime: Runtime, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    monkeypatch.setattr(inprocess, "server_process_name", lambda: "uvicorn")
    goodjob.configure(execution_mode="async_server")
    dashboard = goodjob.create_dashboard(allow_unauthenticated=True)
    try:
        transport = httpx.ASGITransport(app=dashboard)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            page = await client.get("/")
        assert page.status_code == 200
        assert "no lifespan has started" in page.text and "lifespan=goodjob.lifespan" in page.text
        goodjob.configure(execution_mode="external")
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            page = await client.get("/")
        assert "no lifespan has started" not in page.text
    finally:
        await dashboard.close()
