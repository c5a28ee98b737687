"""``goodjob demo``: everything on an embedded Postgres, nothing to install.

Migrates, enqueues a few realistic jobs (immediate, scheduled, failing-then-retrying, discarded),
runs a worker until they are done, and prints what happened.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time

import goodjob
from goodjob.core.runtime import get_runtime
from goodjob.core.worker import Worker


class FlakyAPIError(Exception):
    """A pretend upstream outage."""


class SendWelcomeEmail(goodjob.Job):
    queue_name = "mail"

    async def perform(self, user_id: int) -> None:
        await asyncio.sleep(random.uniform(0.01, 0.05))


class ResizeImage(goodjob.Job):
    queue_name = "media"
    priority = 5

    def perform(self, path: str, width: int) -> None:  # runs in a thread: blocking is fine here
        time.sleep(random.uniform(0.01, 0.05))


class SyncInvoices(goodjob.Job):
    error_policy = (goodjob.retry_on(FlakyAPIError, attempts=3, wait=0.5),)

    async def perform(self, account: str) -> None:
        if self.executions < 2:
            raise FlakyAPIError(f"billing API timed out for {account} (attempt {self.executions})")


class ImportCSV(goodjob.Job):
    error_policy = (goodjob.discard_on(ValueError),)

    async def perform(self, filename: str) -> None:
        raise ValueError(f"{filename}: line 3 has 4 columns, expected 5")


async def _run_batch() -> None:
    goodjob.configure(preserve_job_records=True, poll_interval=0.5)
    print("goodjob demo: database:", goodjob.current_config().describe_database())
    applied = await goodjob.migrate()
    print(f"goodjob demo: migrations applied: {applied or 'none (up to date)'}")
    for user_id in range(1, 6):
        await SendWelcomeEmail.perform_later(user_id)
    await ResizeImage.perform_later("avatars/1.png", width=256)
    await SyncInvoices.perform_later("acme")
    await ImportCSV.perform_later("customers.csv")
    await SendWelcomeEmail.set(wait=1).perform_later(99)
    print("goodjob demo: enqueued 9 jobs (one scheduled 1s ahead, one flaky, one bad)")
    runtime = get_runtime()

    async def url() -> str:
        return await asyncio.to_thread(runtime.database_url)

    config = dataclasses.replace(goodjob.current_config(), queues="mail:2;*:3")
    worker = Worker(config, database=runtime.database, url=url)
    await worker.start()
    db = await runtime.database()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = await db.pool.fetchval("SELECT count(*) FROM good_jobs WHERE state IN ('queued', 'running')")
        if not left:
            break
        await asyncio.sleep(0.2)
    await worker.shutdown(timeout=5)
    rows = await db.pool.fetch(
        "SELECT job_class, state, executions_count, error FROM good_jobs ORDER BY created_at"
    )
    print("goodjob demo: results")
    for row in rows:
        error = f"  error: {row['error']}" if row["error"] else ""
        print(f"  {row['job_class']:<40} {row['state']:<10} executions={row['executions_count']}{error}")
    await runtime.close_database()


def run(host: str = "127.0.0.1", port: int = 8000) -> None:
    asyncio.run(_run_batch())
