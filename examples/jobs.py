"""Jobs shared by the examples. They live in their own importable module, not in ``__main__``,
because a row names its job class by import path: any worker (this web process in async_server
mode, or ``goodjob start --import jobs``) must be able to import it."""

from __future__ import annotations

import logging
import os
import time

import goodjob

log = logging.getLogger("examples")


class SendWelcomeEmail(goodjob.Job):
    """An ``async def`` job: runs on the worker's event loop."""

    queue_name = "mailers"

    async def perform(self, address: str) -> None:
        log.info("sent welcome email to %s (pid %d)", address, os.getpid())


class ResizeImage(goodjob.Job):
    """A plain ``def`` job: runs in one of the pool's threads, so blocking is fine."""

    def perform(self, path: str, width: int) -> None:
        time.sleep(0.01)  # stand-in for real work
        log.info("resized %s to %dpx (pid %d)", path, width, os.getpid())


@goodjob.job(queue="reports")
async def build_report(name: str) -> None:
    """A decorated function is a job too."""
    log.info("built report %s (pid %d)", name, os.getpid())
