"""The demo's sample jobs (mail, thumbnails, flaky API calls that retry, bad imports that are
discarded, reports scheduled for later) and the stream that keeps enqueueing them.

Part of ``goodjob demo``: a web app with the dashboard and workers, on an embedded Postgres.

Nothing to install but Python: the database is the embedded PostgreSQL, workers run inside the web
process (``async_server``), and a stream of realistic sample jobs (mail, thumbnails, flaky API
calls that retry, bad imports that are discarded, reports scheduled for later) keeps the dashboard
busy. ``--once`` runs a short batch without the web server and prints what happened.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import timedelta
from typing import Any

import goodjob


class FlakyAPIError(Exception):
    """A pretend upstream outage."""


class SendWelcomeEmail(goodjob.Job):
    queue_name = "mail"
    labels = ("onboarding",)

    async def perform(self, user_id: int, address: str) -> None:
        await asyncio.sleep(random.uniform(0.05, 0.4))


class ResizeImage(goodjob.Job):
    queue_name = "media"
    priority = 5

    def perform(self, path: str, width: int) -> None:  # a plain def runs in a thread: blocking is fine
        time.sleep(random.uniform(0.2, 1.5))


class SyncInvoices(goodjob.Job):
    labels = ("billing",)
    error_policy = (goodjob.retry_on(FlakyAPIError, attempts=4, wait=lambda attempt: 4 * attempt),)

    async def perform(self, account: str) -> None:
        await asyncio.sleep(random.uniform(0.1, 0.5))
        if self.executions < 3 and random.random() < 0.6:
            raise FlakyAPIError(f"billing API timed out for {account} (attempt {self.executions})")


class ImportCSV(goodjob.Job):
    error_policy = (goodjob.discard_on(ValueError),)

    async def perform(self, filename: str, rows: int) -> None:
        await asyncio.sleep(random.uniform(0.1, 0.8))
        if random.random() < 0.3:
            raise ValueError(f"{filename}: line {random.randint(2, rows)} has 4 columns, expected 5")


class GenerateReport(goodjob.Job):
    queue_name = "reports"
    timeout = 60

    async def perform(self, month: str, kind: str = "revenue") -> None:
        await asyncio.sleep(random.uniform(2, 8))


class ChargeCard(goodjob.Job):
    labels = ("billing", "payments")

    async def perform(self, order_id: int, amount: str) -> None:
        await asyncio.sleep(random.uniform(0.05, 0.3))
        if random.random() < 0.1:
            raise RuntimeError(f"card declined for order {order_id} (unexpected response 502)")


def sample() -> goodjob.PendingJob:
    user = random.randint(1000, 9999)
    pick = random.random()
    if pick < 0.30:
        return SendWelcomeEmail.new(user, f"user{user}@example.com")
    if pick < 0.45:
        return ResizeImage.new(f"uploads/{user}/avatar.png", width=random.choice([64, 128, 256]))
    if pick < 0.58:
        return SyncInvoices.new(f"acct_{user}")
    if pick < 0.70:
        return ImportCSV.new(f"imports/customers-{user}.csv", rows=random.randint(10, 500))
    if pick < 0.80:
        month = random.choice(["2026-09", "2026-10", "2026-11"])
        return GenerateReport.set(wait=timedelta(seconds=random.randint(20, 600))).new(month)
    return ChargeCard.new(user * 7, f"{random.randint(5, 300)}.{random.randint(0, 99):02d}")


class SendNewsletter(goodjob.Job):
    queue_name = "newsletters"  # paused by the demo's setup: its jobs wait on the Queues page

    async def perform(self, issue: int, segment: str) -> None:
        await asyncio.sleep(random.uniform(0.1, 0.3))


class ExpireSessions(goodjob.Job):
    async def perform(self, older_than_hours: int = 24) -> None:
        await asyncio.sleep(random.uniform(0.05, 0.2))


class NotifyBatchDone(goodjob.Job):
    async def perform(self, batch: Any, event: str) -> None:
        await asyncio.sleep(0)


#: The demo's cron entries (workers in the demo process publish them on the Cron page).
CRON = {
    "expire_sessions": {"cron": "*/30 * * * * *", "class": "goodjob.demo.samples.ExpireSessions",
                        "kwargs": {"older_than_hours": 24}, "description": "Every 30 seconds"},
    "invoice_sync": {"cron": "*/2 * * * *", "class": "goodjob.demo.samples.SyncInvoices", "args": ["acct_cron"],
                     "description": "Every two minutes, with retries"},
    "monthly_report": {"cron": "0 6 1 * *", "class": "goodjob.demo.samples.GenerateReport",
                       "args": ["last-month"], "kwargs": {"kind": "revenue"}, "timezone": "Europe/Berlin",
                       "description": "06:00 Berlin time on the 1st"},
}


async def setup() -> None:
    """What the demo shows on first look besides the stream: a paused queue with jobs waiting in it,
    and a batch of thumbnails (one of them scheduled for later) with a callback."""
    await goodjob.pause(queue="newsletters")
    await goodjob.perform_all_later([SendNewsletter.new(48, segment) for segment in ("free", "pro", "team")])
    await goodjob.Batch.enqueue(
        *[ResizeImage.new(f"albums/2026/{n:03d}.jpg", width=512) for n in range(6)],
        ResizeImage.set(wait=timedelta(minutes=10)).new("albums/2026/cover.jpg", width=1024),
        description="Album thumbnails", on_finish=NotifyBatchDone,
    )


async def enqueue_samples(count: int) -> None:
    await goodjob.perform_all_later([sample() for _ in range(count)])


async def stream(interval: float = 0.7) -> None:
    """Set up the demo, then enqueue a few sample jobs now and then, for ever (cancelled at shutdown)."""
    await setup()
    await enqueue_samples(40)
    while True:
        await asyncio.sleep(random.uniform(0.2, interval * 2))
        await enqueue_samples(random.randint(1, 4))
