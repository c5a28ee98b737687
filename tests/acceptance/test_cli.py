"""The ``goodjob`` commands as a newcomer meets them: --import everywhere, one-line errors, help,
GoodJob's spellings, progress, the daemon's files, the demo's own database, logging formats."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from conftest import ROOT, child_env
from sample_jobs import NoopJob

import goodjob

RunCli = Callable[..., subprocess.CompletedProcess[str]]
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nowhere"


def _with(url: str, *, user: str | None = None, database: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc if user is None else f"{user}@{parts.netloc.rpartition('@')[2]}"
    path = parts.path if database is None else f"/{database}"
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one line on stderr, and no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("goodjob: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# --- item 2: --import / GOOD_JOB_IMPORT before any database ------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["migrate"], ["paused"], ["pause", "--queue", "mail"], ["resume", "--queue", "mail"],
     ["cleanup-preserved-jobs"], ["db", "url"]],
)
def test_every_command_honours_GOOD_JOB_IMPORT(
    run_cli: RunCli, make_database: Callable[..., str], tmp_path: Path, args: list[str]
) -> None:
    url = make_database(migrated=args != ["migrate"])
    (tmp_path / "cfg.py").write_text(f"import goodjob\ngoodjob.configure(database_url={url!r})\n")
    # The environment names an unreachable server: only the imported configuration can succeed.
    result = run_cli(*args, env={"GOOD_JOB_IMPORT": "cfg", "GOOD_JOB_DATABASE_URL": UNREACHABLE})
    assert result.returncode == 0, result.stderr
    if args == ["db", "url"]:
        assert result.stdout.strip() == url
    flag = run_cli(*args, "--import", "cfg", env={"GOOD_JOB_DATABASE_URL": UNREACHABLE})
    assert flag.returncode == 0, flag.stderr


def test_an_import_that_fails_is_one_line(run_cli: RunCli) -> None:
    line = one_line_error(run_cli("migrate", env={"GOOD_JOB_IMPORT": "no_such_module_here"}))
    assert "'no_such_module_here' could not be imported" in line


# --- item 3: one line naming what failed and what to do ---------------------------------------------


@pytest.mark.parametrize("args", [["migrate"], ["paused"], ["pause", "--queue", "a"], ["cleanup-preserved-jobs"],
                                  ["start"]])
def test_unreachable_database_is_one_line(run_cli: RunCli, args: list[str]) -> None:
    line = one_line_error(run_cli(*args, env={"GOOD_JOB_DATABASE_URL": UNREACHABLE}))
    assert "could not connect" in line and "127.0.0.1:1" in line and "GOOD_JOB_DATABASE_URL" in line


def test_wrong_database_name_and_role_are_one_line(run_cli: RunCli, database_url: str) -> None:
    line = one_line_error(run_cli("start", env={"GOOD_JOB_DATABASE_URL": _with(database_url, database="no_such_db")}))
    assert '"no_such_db" does not exist' in line and "create it" in line
    line = one_line_error(run_cli("start", env={"GOOD_JOB_DATABASE_URL": _with(database_url, user="no_such_role")}))
    assert '"no_such_role" does not exist' in line and "fix the user" in line


@pytest.mark.parametrize("args", [["paused"], ["cleanup-preserved-jobs"], ["pause", "--queue", "a"], ["start"]])
def test_unmigrated_database_says_run_goodjob_migrate(
    run_cli: RunCli, make_database: Callable[..., str], args: list[str]
) -> None:
    line = one_line_error(run_cli(*args, env={"GOOD_JOB_DATABASE_URL": make_database(migrated=False)}))
    assert "goodjob migrate" in line


def test_enqueue_on_an_unmigrated_database_says_run_goodjob_migrate(
    make_database: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from goodjob.core.runtime import get_runtime

    goodjob.reset_configuration()
    goodjob.configure(database_url=make_database(migrated=False), execution_mode="external")
    get_runtime().reset()
    try:
        with pytest.raises(goodjob.SchemaMissingError, match=r"has no goodjob tables.*run `goodjob migrate`"):
            NoopJob.perform_later_sync()
        with pytest.raises(goodjob.SchemaMissingError, match="run `goodjob migrate`"):
            goodjob.perform_all_later_sync([NoopJob.new()])
    finally:
        get_runtime().reset()
        goodjob.reset_configuration()


def test_huge_thread_count_and_bad_log_level_are_usage_errors(run_cli: RunCli) -> None:
    result = run_cli("start", "--queues=mail:99999999999999999999")
    assert "too large (at most 10000)" in one_line_error(result) and result.returncode == 2
    for args, env in ((["migrate", "--log-level", "verbose"], {}), (["paused"], {"GOOD_JOB_LOG_LEVEL": "verbose"})):
        result = run_cli(*args, env=env)
        assert "'verbose' is not a log level" in one_line_error(result) and result.returncode == 2


def test_traceback_on_request(run_cli: RunCli) -> None:
    for extra, env in ((["--traceback"], {}), ([], {"GOOD_JOB_LOG_LEVEL": "debug"})):
        result = run_cli("migrate", *extra, env={"GOOD_JOB_DATABASE_URL": UNREACHABLE, **env})
        assert result.returncode == 1
        assert "Traceback (most recent call last)" in result.stderr
        assert result.stderr.rstrip().splitlines()[-1].startswith("goodjob: error: could not connect")


# --- item 6: GoodJob's spellings --------------------------------------------------------------------


def test_help_command_and_underscore_spellings(run_cli: RunCli) -> None:
    assert run_cli("help", "start").stdout == run_cli("start", "--help").stdout
    assert "Usage: goodjob db stop [OPTIONS]" in run_cli("help", "db", "stop").stdout
    assert "Commands:" in run_cli("help").stdout
    unknown = run_cli("help", "nope")
    assert unknown.returncode == 2 and "no such command 'nope'" in unknown.stderr
    underscored = run_cli("cleanup_preserved_jobs", "--before-seconds-ago", "60")
    assert underscored.returncode == 0 and "deleted 0 preserved job(s)" in underscored.stdout, underscored.stderr


def test_options_to_the_bare_command_mean_start(run_cli: RunCli) -> None:
    result = run_cli("--queues=mail;*", "--max-threads=2", "--idle-timeout=0.5")
    assert result.returncode == 0, result.stderr
    assert "pools mail:2, *:2" in result.stderr or "mail:2" in result.stderr, result.stderr


def test_every_database_command_says_where_the_database_comes_from(run_cli: RunCli) -> None:
    for command in ("start", "migrate", "pause", "resume", "paused", "cleanup-preserved-jobs", "demo", "db status",
                    "db url", "db stop", "db destroy"):
        text = " ".join(run_cli(*command.split(), "--help").stdout.split())
        assert "Database:" in text and "embedded Postgres" in text, command


# --- item 7: logging ----------------------------------------------------------------------------------


async def test_json_log_format_has_the_job_fields(run_cli: RunCli, conn: asyncpg.Connection) -> None:
    job = await NoopJob.set(queue="mail").perform_later()
    result = run_cli("start", "--idle-timeout=0.5", env={"GOOD_JOB_LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    finish = next(r for r in records if r.get("event") == "perform_finish")
    assert finish["job_id"] == str(job.id) and finish["job_class"] == "sample_jobs.NoopJob"
    assert finish["queue"] == "mail" and finish["outcome"] == "succeeded" and finish["duration_ms"] >= 0
    assert finish["level"] == "info" and finish["logger"] == "goodjob"
    assert not any(r["message"].startswith("goodjob:") for r in records), records  # the logger names it
    bad = run_cli("paused", env={"GOOD_JOB_LOG_FORMAT": "xml"})
    assert "GOOD_JOB_LOG_FORMAT='xml'" in one_line_error(bad)


async def test_text_log_lines_carry_the_prefix_once(run_cli: RunCli, conn: asyncpg.Connection) -> None:
    await NoopJob.perform_later()
    result = run_cli("start", "--idle-timeout=0.5")
    assert result.returncode == 0, result.stderr
    assert " INFO goodjob: finished job " in result.stderr
    assert "goodjob: goodjob:" not in result.stderr


# --- item 8: progress, the daemon's files ---------------------------------------------------------------


def _run_on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as stdout and stderr; its exit code and what it drew."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, cwd=cwd)
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1)
        if ready:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None:
            break
    os.close(primary)
    return proc.wait(timeout=30), output.decode()


async def test_cleanup_shows_progress_on_a_terminal(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    goodjob.configure(preserve_job_records=True)
    await goodjob.perform_all_later([NoopJob.new() for _ in range(2500)])
    await conn.execute("UPDATE good_jobs SET state = 'succeeded', finished_at = now() - interval '3 days'")
    code, text = await asyncio.to_thread(
        _run_on_a_terminal, [sys.executable, "-m", "goodjob", "cleanup-preserved-jobs"], child_env(database_url),
        tmp_path,
    )
    assert code == 0, text
    assert "\r\x1b[Kgoodjob: cleanup-preserved-jobs: 1,000 rows deleted (" in text, text  # redrawn in place
    assert "goodjob: deleted 2500 preserved job(s) finished more than 86400s ago (in " in text, text
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 0


def test_daemonize_creates_the_default_pidfile_dir_and_prints_the_log_path(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("start", "--daemonize", "--idle-timeout=0.5")
    assert result.returncode == 0, result.stderr
    pidfile, log = tmp_path / "tmp" / "pids" / "goodjob.pid", tmp_path / "tmp" / "pids" / "goodjob.log"
    assert f"pidfile {pidfile}, log {log}" in result.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "exiting" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    assert "idle for 0.5s; exiting" in log.read_text()
    missing = run_cli("start", "--daemonize", "--pidfile", str(tmp_path / "nope" / "x.pid"))
    assert f"mkdir -p {tmp_path / 'nope'}" in one_line_error(missing)


# --- item 4: the demo's own database, the embedded Postgres commands ---------------------------------------


def test_demo_uses_its_own_database(run_cli: RunCli, make_database: Callable[..., str]) -> None:
    app_db, demo_db = make_database(), make_database(migrated=False)
    result = run_cli("demo", "--once", env={"GOOD_JOB_DATABASE_URL": app_db, "GOOD_JOB_DEMO_DATABASE_URL": demo_db},
                     timeout=120)
    assert result.returncode == 0, result.stderr

    async def count(url: str) -> int:
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM good_jobs"))
        finally:
            await conn.close()

    assert asyncio.run(count(demo_db)) > 0 and asyncio.run(count(app_db)) == 0


def test_db_commands(tmp_path: Path) -> None:
    env = {k: v for k, v in child_env("unused").items() if k not in ("GOOD_JOB_DATABASE_URL", "DATABASE_URL")}
    env["GOOD_JOB_EMBEDDED_DIR"] = str(tmp_path / "cluster")
    env["GOOD_JOB_EMBEDDED_IDLE_TIMEOUT"] = "off"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "goodjob", *args], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)

    pgdata = (tmp_path / "cluster" / "pgdata").resolve()
    status = run("db", "status")
    assert f"data:    {pgdata}  (from GOOD_JOB_EMBEDDED_DIR" in status.stdout and "not created yet" in status.stdout
    url = run("db", "url").stdout.strip()
    assert url.startswith("postgresql://postgres@/goodjob?host=")
    status = run("db", "status")
    assert "state:   running" in status.stdout and f"url:     {url}" in status.stdout, status.stdout
    assert run("migrate").returncode == 0
    assert "stopped the embedded Postgres" in run("db", "stop").stdout
    assert "state:   stopped" in run("db", "status").stdout
    assert "was not running" in run("db", "stop").stdout
    assert "deleted the embedded Postgres" in run("db", "destroy", "--yes").stdout
    assert not pgdata.exists()


def test_the_project_root_not_the_working_directory_picks_the_cluster(tmp_path: Path) -> None:
    env = {k: v for k, v in child_env("unused").items() if k not in ("GOOD_JOB_DATABASE_URL", "DATABASE_URL")}
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (tmp_path / "app").mkdir()
    out = subprocess.run([sys.executable, "-m", "goodjob", "db", "status"], env=env, capture_output=True, text=True,
                         timeout=60, cwd=tmp_path / "app").stdout
    assert f"data:    {tmp_path.resolve() / '.goodjob' / 'pgdata'}  (from the project root" in out, out
    assert not (tmp_path / "app" / ".goodjob").exists()


def test_packaging_metadata(tmp_path: Path) -> None:
    """The distribution's name is free on the index and not goodjob's; the sdist has what README cites."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "goodjob-pg" and project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "pip install 'goodjob-pg[embedded]'" in (ROOT / "README.md").read_text()
    manifest = (ROOT / "MANIFEST.in").read_text()
    assert "graft examples" in manifest and "LICENSE" in manifest
