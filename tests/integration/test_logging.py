"""configure(logger=...) gets what `goodjob start` prints: a line per job, INFO and up."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest
from helpers import wait_for
from sample_jobs import NoopJob

import goodjob
from goodjob.core.runtime import get_runtime, route_logs
from goodjob.core.worker.launcher import Worker

StartWorker = Callable[..., Awaitable[Worker]]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def custom_logger() -> Iterator[tuple[logging.Logger, Collect]]:
    logger = logging.getLogger(f"myapp.jobs.{uuid.uuid4().hex[:8]}")  # no level of its own: like most apps
    handler = Collect()
    logger.addHandler(handler)
    yield logger, handler
    route_logs(logging.getLogger("goodjob"))  # undo the routing for the tests that follow
    assert logging.getLogger("goodjob").level == logging.NOTSET


async def test_a_custom_logger_gets_a_line_per_job(
    gj: str, start_worker: StartWorker, custom_logger: tuple[logging.Logger, Collect]
) -> None:
    logger, handler = custom_logger
    assert logging.getLogger().getEffectiveLevel() == logging.WARNING  # the root's default
    goodjob.configure(logger=logger)
    await start_worker()
    job = await NoopJob.perform_later()

    def finished() -> list[logging.LogRecord]:
        return [r for r in handler.records if r.getMessage().startswith(f"finished job {job.id}")]

    (record,) = await wait_for(finished)
    assert record.levelno == logging.INFO and record.name == "goodjob"
    assert record.goodjob["job_class"] == "sample_jobs.NoopJob"  # type: ignore[attr-defined]
    assert any(r.getMessage().startswith(f"started job {job.id}") for r in handler.records)
    assert not any(r.getMessage().startswith("goodjob:") for r in handler.records)  # the name is the prefix


async def test_a_custom_logger_with_its_own_level_keeps_it(
    gj: str, start_worker: StartWorker, custom_logger: tuple[logging.Logger, Collect]
) -> None:
    logger, handler = custom_logger
    logger.setLevel(logging.WARNING)
    goodjob.configure(logger=logger)
    await start_worker()
    job = await NoopJob.perform_later()

    async def gone() -> bool:  # finished (and deleted: preserve_job_records is off)
        db = await get_runtime().database()
        return await db.pool.fetchval("SELECT count(*) FROM good_jobs WHERE id = $1", job.id) == 0

    await wait_for(gone)
    assert not [r for r in handler.records if r.levelno < logging.WARNING]
