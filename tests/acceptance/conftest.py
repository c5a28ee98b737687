"""Acceptance fixtures: real `goodjob start` subprocesses against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from processes import WorkerProcesses

ROOT = Path(__file__).resolve().parents[2]

SIDE_EFFECTS = """
CREATE TABLE IF NOT EXISTS side_effects (
    id bigserial PRIMARY KEY, job_id uuid, marker text, pid int, attempt int,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
)"""


def child_env(database_url: str, pooled_url: str | None = None, **extra: str) -> dict[str, str]:
    """A child's environment: the test database, or PgBouncer in front of it (``pooled_url``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOOD_JOB_")}
    if pooled_url is not None:
        env.update(GOOD_JOB_DATABASE_POOLER="transaction")
    env.update(
        GOOD_JOB_DATABASE_URL=pooled_url or database_url,
        TEST_DIRECT_DATABASE_URL=database_url,
        PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Workers(WorkerProcesses):
    def __init__(self, database_url: str, tmp_path: Path, pooled_url: str | None = None) -> None:
        super().__init__(tmp_path)
        self.database_url = database_url
        self.pooled_url = pooled_url

    def child_env(self, extra: dict[str, str]) -> dict[str, str]:
        return child_env(self.database_url, self.pooled_url, **extra)


@pytest.fixture
def workers(database_url: str, tmp_path: Path, pooled_url: str | None) -> Iterator[Workers]:
    w = Workers(database_url, tmp_path, pooled_url)
    yield w
    w.stop_all()


@pytest.fixture
def run_cli(database_url: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "goodjob", *args], env=child_env(database_url, **(env or {})),
            capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
        )

    return run
