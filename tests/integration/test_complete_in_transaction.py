"""``current_job().complete(conn)``: a job's writes and its success in one commit.

Through a real worker (and inline mode) on a real Postgres: the success is written in the job's own
transaction, a rollback undoes it and the job's real outcome is recorded instead, a row that is no
longer the worker's makes complete() raise (so the caller's transaction rolls back), and every
misuse is a clear GoodJobError. The first two also run with the worker behind PgBouncer (the job's
own connection is direct, as an application's often is). The SIGKILL case (killed after the commit,
never run again) is in tests/acceptance/test_worker_process.py.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
import pytest
from helpers import wait_for

import goodjob

LOG: list[tuple[Any, ...]] = []
ERRORS: list[str] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    LOG.clear()
    ERRORS.clear()


async def _side(conn: asyncpg.Connection) -> None:
    await conn.execute("CREATE TABLE IF NOT EXISTS tx_effects (job_id uuid, attempt int, note text)")


class CompletesJob(goodjob.Job):
    """mode: commit | rollback_first | raise_after | twice | no_transaction | pool | stolen."""

    error_policy = (goodjob.retry_on(RuntimeError, attempts=3, wait=0),)

    async def perform(self, url: str, mode: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            if mode == "no_transaction":
                await self._complete_recording_error(conn)
                return
            if mode == "pool":
                pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
                try:
                    await self._complete_recording_error(pool)
                finally:
                    await pool.close()
                return
            async with conn.transaction():
                await conn.execute("INSERT INTO tx_effects VALUES ($1, $2, $3)", self.job_id, self.executions, mode)
                if mode == "stolen":
                    # Another process recovered the row and claimed it again before this commit.
                    other = await asyncpg.connect(url)
                    try:
                        await other.execute("UPDATE good_jobs SET locked_by_id = $2 WHERE id = $1",
                                            self.job_id, uuid.uuid4())
                    finally:
                        await other.close()
                    await self._complete_recording_error(conn)
                    raise RuntimeError("rolled back: the row is not ours")
                await goodjob.current_job().complete(conn)
                if mode == "twice":
                    await self._complete_recording_error(conn)
                if mode == "rollback_first" and self.executions == 1:
                    raise RuntimeError("rolls back the first attempt, its success with it")
            LOG.append(("committed", self.job_id, self.executions))
            if mode == "raise_after":
                raise RuntimeError("raised after the commit")
        finally:
            await conn.close()

    @staticmethod
    async def _complete_recording_error(target: Any) -> None:
        try:
            await goodjob.current_job().complete(target)
        except goodjob.GoodJobError as exc:
            ERRORS.append(str(exc))
            raise


async def _worker(start_worker: Any, conn: asyncpg.Connection, **config: Any) -> None:
    goodjob.configure(preserve_job_records=True, **config)
    await _side(conn)
    await start_worker()


async def _first_error(job_class: Any, gj: str, mode: str) -> Any:
    """Enqueue a job of ``mode`` and wait for the GoodJobError its complete() call raised."""
    job = await job_class.perform_later(gj, mode)
    await wait_for(lambda: ERRORS, timeout=15)
    return job


async def _finished(conn: asyncpg.Connection, job_id: uuid.UUID) -> asyncpg.Record | None:
    row = await conn.fetchrow("SELECT * FROM good_jobs WHERE id = $1", job_id)
    return row if row is not None and row["state"] in ("succeeded", "discarded") else None


async def _outcomes(conn: asyncpg.Connection, job_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch("SELECT outcome FROM good_job_executions WHERE job_id = $1 ORDER BY id", job_id)
    return [r["outcome"] for r in rows]


@pytest.mark.pgbouncer
async def test_the_success_commits_with_the_jobs_writes(
    start_worker: Any, conn: asyncpg.Connection, gj: str, caplog: pytest.LogCaptureFixture
) -> None:
    await _worker(start_worker, conn)
    caplog.set_level(logging.WARNING, logger="goodjob")
    job = await CompletesJob.perform_later(gj, "commit")
    row = await wait_for(lambda: _finished(conn, job.id), timeout=15)
    assert row["state"] == "succeeded" and row["finished_at"] is not None and row["locked_by_id"] is None
    assert row["executions_count"] == 1
    assert await _outcomes(conn, job.id) == ["succeeded"]
    assert await conn.fetchval("SELECT count(*) FROM tx_effects WHERE job_id = $1", job.id) == 1
    # The job's own result, written after it returned, found the row finished: not a lost result.
    assert "were not recorded" not in caplog.text


@pytest.mark.pgbouncer
async def test_a_rollback_takes_the_success_back_and_the_real_outcome_is_recorded(
    start_worker: Any, conn: asyncpg.Connection, gj: str
) -> None:
    await _worker(start_worker, conn)
    job = await CompletesJob.perform_later(gj, "rollback_first")
    row = await wait_for(lambda: _finished(conn, job.id), timeout=15)
    assert row["state"] == "succeeded" and row["executions_count"] == 2
    assert await _outcomes(conn, job.id) == ["retried", "succeeded"]
    attempts = await conn.fetch("SELECT attempt FROM tx_effects WHERE job_id = $1", job.id)
    assert [r["attempt"] for r in attempts] == [2]  # the first attempt's write rolled back


async def test_an_error_after_the_commit_leaves_the_job_succeeded(
    start_worker: Any, conn: asyncpg.Connection, gj: str, caplog: pytest.LogCaptureFixture
) -> None:
    await _worker(start_worker, conn)
    caplog.set_level(logging.WARNING, logger="goodjob")
    job = await CompletesJob.perform_later(gj, "raise_after")
    row = await wait_for(lambda: _finished(conn, job.id), timeout=15)
    await wait_for(lambda: "after it completed in its transaction" in caplog.text, timeout=10)
    row = await conn.fetchrow("SELECT * FROM good_jobs WHERE id = $1", job.id)
    assert row["state"] == "succeeded" and row["executions_count"] == 1 and row["error"] is None
    assert await _outcomes(conn, job.id) == ["succeeded"]
    assert len(LOG) == 1


async def test_without_preserved_records_the_row_is_deleted_in_the_transaction(
    start_worker: Any, conn: asyncpg.Connection, gj: str, caplog: pytest.LogCaptureFixture
) -> None:
    goodjob.configure(preserve_job_records=False)
    await _side(conn)
    await start_worker()
    caplog.set_level(logging.WARNING, logger="goodjob")
    job = await CompletesJob.perform_later(gj, "commit")
    await wait_for(lambda: len(LOG) == 1, timeout=15)
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 0 FROM good_jobs WHERE id = $1", job.id), timeout=10)
    assert await conn.fetchval("SELECT count(*) FROM tx_effects WHERE job_id = $1", job.id) == 1
    assert "were not recorded" not in caplog.text


async def test_a_row_recovered_by_another_process_makes_complete_raise(
    start_worker: Any, conn: asyncpg.Connection, gj: str
) -> None:
    await _worker(start_worker, conn)
    job = await _first_error(CompletesJob, gj, "stolen")
    assert f"job {job.id} is no longer running under this worker" in ERRORS[0]
    # The caller's transaction rolled back: none of its writes happened.
    assert await conn.fetchval("SELECT count(*) FROM tx_effects WHERE job_id = $1", job.id) == 0
    # The row belongs to the "other process": this worker's late result did not finish it.
    assert await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", job.id) != "succeeded"


@pytest.mark.parametrize(("mode", "message"), [
    ("no_transaction", "needs an asyncpg connection inside an open transaction"),
    ("pool", "needs an asyncpg connection inside an open transaction"),
    ("twice", "is no longer running under this worker (it was completed already"),
])
async def test_misuse_is_a_clear_error(
    mode: str, message: str, start_worker: Any, conn: asyncpg.Connection, gj: str
) -> None:
    await _worker(start_worker, conn, retry_on_unhandled_error=False)
    job = await _first_error(CompletesJob, gj, mode)
    assert message in ERRORS[0]
    row = await wait_for(lambda: _finished(conn, job.id), timeout=15)
    # "twice": the second complete() raised inside the transaction, so it rolled back (the first
    # one's success with it), and the GoodJobError is the job's (unhandled) error.
    assert row["state"] == "discarded" and "GoodJobError" in row["error"]
    assert await conn.fetchval("SELECT count(*) FROM tx_effects WHERE job_id = $1", job.id) == 0


async def test_perform_now_has_no_row_to_complete(conn: asyncpg.Connection, gj: str) -> None:
    await _side(conn)
    with pytest.raises(goodjob.GoodJobError, match="under perform_now there is no job row"):
        await CompletesJob.perform_now(gj, "commit")


async def test_inline_mode_completes_in_the_callers_transaction(conn: asyncpg.Connection, gj: str) -> None:
    goodjob.configure(execution_mode="inline", preserve_job_records=True)
    await _side(conn)
    job = await CompletesJob.perform_later(gj, "commit")
    row = await conn.fetchrow("SELECT * FROM good_jobs WHERE id = $1", job.id)
    assert row["state"] == "succeeded" and row["executions_count"] == 1
    assert await _outcomes(conn, job.id) == ["succeeded"]
    assert await conn.fetchval("SELECT count(*) FROM tx_effects WHERE job_id = $1", job.id) == 1


async def test_a_batch_job_completing_in_its_transaction_finishes_its_batch(
    start_worker: Any, conn: asyncpg.Connection, gj: str
) -> None:
    await _worker(start_worker, conn)
    async with goodjob.Batch(description="tx") as batch:
        job = await CompletesJob.perform_later(gj, "commit")
        plain = await CompletesJob.perform_later(gj, "rollback_first")

    async def finished() -> bool:
        loaded = await goodjob.Batch.find(batch.id)
        return loaded is not None and loaded.finished_at is not None

    await wait_for(finished, timeout=15)
    loaded = await goodjob.Batch.find(batch.id)
    assert loaded is not None and loaded.succeeded and loaded.finished_count == 2
    assert await _outcomes(conn, job.id) == ["succeeded"]
    assert await _outcomes(conn, plain.id) == ["retried", "succeeded"]


# --- complete_sync(cursor): a def job on a synchronous driver (psycopg 3) ----------------------


class CompletesSyncJob(goodjob.Job):
    """mode: commit | rollback_first | autocommit | stolen."""

    error_policy = (goodjob.retry_on(RuntimeError, attempts=3, wait=0),)

    def perform(self, url: str, mode: str) -> None:
        import psycopg

        with psycopg.connect(url, autocommit=mode == "autocommit") as db:
            try:
                with db.cursor() as cur:
                    cur.execute("INSERT INTO tx_effects VALUES (%s, %s, %s)", (self.job_id, self.executions, mode))
                    if mode == "stolen":
                        with psycopg.connect(url, autocommit=True) as other:
                            other.execute("UPDATE good_jobs SET locked_by_id = %s WHERE id = %s",
                                          (uuid.uuid4(), self.job_id))
                    goodjob.current_job().complete_sync(cur)
                    if mode == "rollback_first" and self.executions == 1:
                        raise RuntimeError("rolls back the first attempt, its success with it")
            except goodjob.GoodJobError as exc:
                ERRORS.append(str(exc))
                raise
            # psycopg's connection block commits on a clean exit and rolls back on an exception.
        LOG.append(("committed", self.job_id, self.executions))


@pytest.mark.pgbouncer
async def test_complete_sync_commits_with_a_def_jobs_psycopg_transaction(
    start_worker: Any, conn: asyncpg.Connection, gj: str, caplog: pytest.LogCaptureFixture
) -> None:
    await _worker(start_worker, conn)
    caplog.set_level(logging.WARNING, logger="goodjob")
    job = await CompletesSyncJob.perform_later(gj, "commit")
    retried = await CompletesSyncJob.perform_later(gj, "rollback_first")
    row = await wait_for(lambda: _finished(conn, job.id), timeout=15)
    assert row["state"] == "succeeded" and row["executions_count"] == 1
    assert await _outcomes(conn, job.id) == ["succeeded"]
    assert await conn.fetchval("SELECT count(*) FROM tx_effects WHERE job_id = $1", job.id) == 1
    row = await wait_for(lambda: _finished(conn, retried.id), timeout=15)
    assert row["state"] == "succeeded" and await _outcomes(conn, retried.id) == ["retried", "succeeded"]
    attempts = await conn.fetch("SELECT attempt FROM tx_effects WHERE job_id = $1", retried.id)
    assert [r["attempt"] for r in attempts] == [2]
    assert "were not recorded" not in caplog.text


@pytest.mark.parametrize(("mode", "message"), [
    ("autocommit", "needs a DB-API cursor inside an open transaction"),
    ("stolen", "is no longer running under this worker"),
])
async def test_complete_sync_refuses_what_it_cannot_make_atomic(
    mode: str, message: str, start_worker: Any, conn: asyncpg.Connection, gj: str
) -> None:
    await _worker(start_worker, conn, retry_on_unhandled_error=False)
    job = await _first_error(CompletesSyncJob, gj, mode)
    assert message in ERRORS[0]
    if mode == "autocommit":  # refused before writing: the job's own insert committed on its own
        row = await wait_for(lambda: _finished(conn, job.id), timeout=15)
        assert row["state"] == "discarded" and "GoodJobError" in row["error"]
    else:  # the transaction rolled back: none of its writes happened
        assert await conn.fetchval("SELECT count(*) FROM tx_effects WHERE job_id = $1", job.id) == 0
