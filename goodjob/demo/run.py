"""``goodjob demo``: configure, then serve the demo web app (or run one short batch with ``--once``).

Nothing to install but Python: the database is the embedded PostgreSQL, workers run inside the web
process (``async_server``), and ``samples.stream`` keeps the dashboard busy.

The demo never writes into the app's database: it uses its own database, ``goodjob_demo``, on the
project's embedded Postgres (or ``GOOD_JOB_DEMO_DATABASE_URL``), whatever GOOD_JOB_DATABASE_URL says.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from datetime import UTC, datetime

import goodjob
from goodjob.core.runtime import get_runtime
from goodjob.core.storage import store
from goodjob.demo import samples
from goodjob.demo.web import build_app

__all__ = ["configure_demo", "run", "run_once"]


DEMO_DATABASE = "goodjob_demo"


def demo_database_url() -> str:
    """``GOOD_JOB_DEMO_DATABASE_URL``, else the ``goodjob_demo`` database of the embedded Postgres."""
    explicit = os.environ.get("GOOD_JOB_DEMO_DATABASE_URL")
    if explicit:
        return explicit
    from goodjob.core.project import embedded_location
    from goodjob.core.storage.embedded import ensure_embedded

    config = goodjob.current_config()
    location = embedded_location(config.embedded_dir)
    return ensure_embedded(location.pgdata, database=DEMO_DATABASE, idle_timeout=config.embedded_idle_timeout)


def configure_demo() -> None:
    goodjob.configure(
        database_url=demo_database_url(),
        execution_mode="async_server",
        preserve_job_records=True,
        queues="mail:2;media:1;*:3",
        poll_interval=5,
        shutdown_timeout=5,
        enable_cron=True,
        cron=samples.CRON,
    )


async def run_once() -> None:
    """Migrate, enqueue a batch, let an in-process worker drain it, print the results."""
    configure_demo()
    goodjob.configure(execution_mode="async")
    print("goodjob demo: database:", goodjob.current_config().describe_database())
    await goodjob.migrate()
    await goodjob.perform_all_later([samples.sample() for _ in range(12)])
    await goodjob.restart()
    db = await get_runtime().database()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not await store.unfinished_due_count(db.pool, datetime.now(UTC)):
            break
        await asyncio.sleep(0.2)
    await goodjob.shutdown()
    for row in reversed(await store.recent_jobs(db.pool, 12)):
        error = f"  error: {row['error']}" if row["error"] else ""
        print(f"  {row['job_class']:<32} {row['state']:<10} executions={row['executions_count']}{error}")
    await get_runtime().close_database()


def run(host: str = "127.0.0.1", port: int = 8000, once: bool = False) -> None:
    if once:
        asyncio.run(run_once())
        return
    import uvicorn

    configure_demo()
    config = goodjob.current_config()
    username = config.dashboard_username or "admin"
    password = config.dashboard_password or secrets.token_urlsafe(9)
    goodjob.migrate_sync()
    app = build_app(username, password)
    print(
        f"\n  goodjob demo on {config.describe_database()}\n"
        f"  dashboard: http://{host}:{port}/good_job   (user {username!r}, password {password!r})\n"
        f"  app:       http://{host}:{port}/\n",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
