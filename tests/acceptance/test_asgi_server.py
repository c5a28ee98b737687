"""async_server under a real uvicorn: jobs run in the server process, SIGTERM drains them, forked
workers each run their own pools (the supervisor none), non-server processes start no workers, and
every example under examples/ works."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from conftest import SIDE_EFFECTS, child_env
from helpers import wait_for
from sample_jobs import SideEffectJob

import goodjob

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
HERE = Path(__file__).resolve().parent
DASHBOARD_USER, DASHBOARD_PASSWORD = "admin", "s3cret"
DASHBOARD_ENV = {"GOOD_JOB_DASHBOARD_USERNAME": DASHBOARD_USER, "GOOD_JOB_DASHBOARD_PASSWORD": DASHBOARD_PASSWORD}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A uvicorn subprocess and its combined output."""

    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log

    @property
    def output(self) -> str:
        return self.log.read_text()

    def request(self, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, headers=headers or {})
        with urllib.request.urlopen(req, timeout=10) as response:
            body = response.read().decode()
            return json.loads(body) if response.headers.get("content-type", "").startswith("application/json") else body

    def status(self, path: str, headers: dict[str, str]) -> int:
        try:
            with urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{self.port}{path}", headers=headers), timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as err:
            return err.code

    def dashboard_mounted(self) -> bool:
        """The dashboard answers at /good_job/ (its own tests check its pages)."""
        auth = base64.b64encode(f"{DASHBOARD_USER}:{DASHBOARD_PASSWORD}".encode()).decode()
        return self.status("/good_job/", {"Authorization": f"Basic {auth}"}) != 404

    def accepting(self) -> bool:
        assert self.proc.poll() is None, f"uvicorn exited early:\n{self.output}"
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    async def stop(self, timeout: float = 20) -> bool:
        """SIGTERM; True if uvicorn shut down gracefully (it re-raises the signal afterwards, so
        its exit status is -SIGTERM even then)."""
        self.proc.send_signal(signal.SIGTERM)
        await wait_for(lambda: self.proc.poll() is not None, timeout=timeout, interval=0.05)
        graceful = "Finished server process" in self.output
        return self.proc.returncode in (0, -signal.SIGTERM) and graceful


@pytest.fixture
def uvicorn(database_url: str, tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    async def start(target: str, *args: str, **env: str) -> Server:
        port = free_port()
        log = tmp_path / f"uvicorn{len(servers)}.log"
        environ = child_env(database_url, **env)
        environ["PYTHONPATH"] = os.pathsep.join([str(HERE), str(EXAMPLES), environ["PYTHONPATH"]])
        command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port), *args]
        with log.open("w") as out:
            proc = await asyncio.to_thread(
                subprocess.Popen, command, env=environ, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=tmp_path
            )
        server = Server(proc, port, log)
        servers.append(server)
        await wait_for(server.accepting, timeout=30, interval=0.05)
        return server

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


async def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60, cwd=cwd
    )


async def rows(conn: asyncpg.Connection, query: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await conn.fetch(query, *args)]


async def test_jobs_run_in_the_uvicorn_process_and_sigterm_drains_them(uvicorn: Any, conn: asyncpg.Connection) -> None:
    await conn.execute(SIDE_EFFECTS)
    server = await uvicorn("asgi_app:app", GOOD_JOB_EXECUTION_MODE="async_server", GOOD_JOB_MAX_THREADS="4",
                           GOOD_JOB_POLL_INTERVAL="30")
    pid = server.proc.pid
    assert await rows(conn, "SELECT pid, execution_mode, max_threads FROM good_job_processes") == [
        (pid, "async_server", 4)
    ]
    assert server.request("/status") == {"pid": pid, "worker": True, "problem": None, "poll_interval": 30}

    assert server.request("/enqueue?marker=quick")["pid"] == pid
    # Polling is every 30 s: only NOTIFY or the local fast path can start it this soon.
    await wait_for(lambda: rows(conn, "SELECT pid FROM side_effects WHERE marker = 'quick'"), timeout=10)
    assert await rows(conn, "SELECT pid FROM side_effects WHERE marker = 'quick'") == [(pid,)]

    server.request("/enqueue?marker=long&sleep=1.5")
    await wait_for(lambda: conn.fetchval("SELECT count(*) FROM good_jobs WHERE state = 'running'"), timeout=10)
    assert await server.stop()
    assert await rows(conn, "SELECT pid FROM side_effects WHERE marker = 'long'") == [(pid,)]
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 0
    assert await conn.fetchval("SELECT count(*) FROM good_job_processes") == 0


async def test_each_uvicorn_worker_process_runs_its_own_pools_and_the_parent_none(
    uvicorn: Any, conn: asyncpg.Connection
) -> None:
    await conn.execute(SIDE_EFFECTS)
    server = await uvicorn("asgi_app:app", "--workers", "2", GOOD_JOB_EXECUTION_MODE="async_server",
                           GOOD_JOB_MAX_THREADS="2")
    parent = server.proc.pid
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 2 FROM good_job_processes"), timeout=30)
    workers = {r[0] for r in await rows(conn, "SELECT pid FROM good_job_processes")}
    assert parent not in workers

    await goodjob.perform_all_later([SideEffectJob.new(f"w{i}", 0.1) for i in range(40)])
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 40 FROM side_effects"), timeout=30)
    performers = {r[0] for r in await rows(conn, "SELECT DISTINCT pid FROM side_effects")}
    assert performers == workers
    assert await conn.fetchval("SELECT count(DISTINCT job_id) FROM side_effects") == 40
    assert await server.stop()
    assert await conn.fetchval("SELECT count(*) FROM good_job_processes") == 0


async def test_a_server_without_the_lifespan_says_so_at_the_first_enqueue(
    uvicorn: Any, conn: asyncpg.Connection
) -> None:
    server = await uvicorn("asgi_app:unwired_app", GOOD_JOB_EXECUTION_MODE="async_server")
    server.request("/enqueue?marker=stuck")
    server.request("/enqueue?marker=stuck")
    problem = server.request("/status")["problem"]
    assert "uvicorn process" in problem and "lifespan=goodjob.lifespan" in problem
    await wait_for(lambda: "no lifespan has started" in server.output, timeout=10)
    assert server.output.count("no lifespan has started") == 1
    assert await conn.fetchval("SELECT count(*) FROM good_job_processes") == 0
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state = 'queued'") == 2
    assert await server.stop()


async def test_non_server_processes_start_no_workers_in_async_server_mode(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    env = child_env(database_url, GOOD_JOB_EXECUTION_MODE="async_server")
    migrate = await run([sys.executable, "-m", "goodjob", "migrate"], env, tmp_path)
    assert migrate.returncode == 0, migrate.stderr
    script = await run([sys.executable, str(EXAMPLES / "sync_script.py"), "a.png"], env, tmp_path)
    assert script.returncode == 0, script.stderr
    assert "WARNING" not in script.stderr
    assert await conn.fetchval("SELECT count(*) FROM good_job_processes") == 0
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state = 'queued'") == 2


async def test_sync_script_example(database_url: str, conn: asyncpg.Connection, tmp_path: Path) -> None:
    env = child_env(database_url)
    script = await run([sys.executable, str(EXAMPLES / "sync_script.py"), "a.png", "b.png"], env, tmp_path)
    assert script.returncode == 0, script.stderr
    ids = re.findall(r"^enqueued (\S+) ", script.stdout, re.MULTILINE)
    assert len(ids) == 3
    queued = {str(r[0]) for r in await rows(conn, "SELECT id FROM good_jobs WHERE state = 'queued'")}
    assert queued == set(ids)


async def test_starlette_example(uvicorn: Any, conn: asyncpg.Connection) -> None:
    server = await uvicorn("starlette_app:app", GOOD_JOB_EXECUTION_MODE="async_server",
                           GOOD_JOB_PRESERVE_JOB_RECORDS="true", **DASHBOARD_ENV)
    jobs = server.request("/signup?email=ada@example.com", method="POST")["jobs"]
    assert len(jobs) == 2
    pid = server.proc.pid
    await wait_for(lambda: f"sent welcome email to ada@example.com (pid {pid})" in server.output, timeout=10)
    await wait_for(lambda: f"resized avatars/ada@example.com.png to 128px (pid {pid})" in server.output, timeout=10)
    assert server.dashboard_mounted()
    assert await server.stop()
    assert await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state = 'succeeded'") == 2


async def test_fastapi_example(uvicorn: Any, conn: asyncpg.Connection) -> None:
    server = await uvicorn("fastapi_app:app", GOOD_JOB_EXECUTION_MODE="async_server",
                           GOOD_JOB_PRESERVE_JOB_RECORDS="true", **DASHBOARD_ENV)
    pid = server.proc.pid
    server.request("/signup?email=grace@example.com", method="POST")
    server.request("/reports/weekly", method="POST")
    assert server.request("/images?count=3", method="POST") == {"enqueued": 3}
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 5 FROM good_jobs WHERE state = 'succeeded'"),
                   timeout=10)
    assert f"sent welcome email to grace@example.com (pid {pid})" in server.output
    assert f"built report weekly (pid {pid})" in server.output
    assert server.dashboard_mounted()
    assert await server.stop()
    out = server.output
    # The app's lifespan runs around goodjob's: workers start after it and stop before it ends.
    order = [out.index("app startup"), out.index("worker "), out.index("goodjob: worker stopped"),
             out.index("app shutdown")]
    assert order == sorted(order), out
