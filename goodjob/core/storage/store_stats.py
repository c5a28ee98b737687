"""Named queries of ``sql/stats.sql``: execution statistics (written by the recorder, read by the
Performance page), what worker processes publish (cron entries, memory), and the dashboard's cheap
reads at scale (the change digest, planner estimates, cron run history).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from goodjob.core.storage.db import Executor, Record
from goodjob.core.storage.sql_files import sql

# --- written by worker processes -----------------------------------------------------------------


async def stats_record(ex: Executor, rows: Sequence[tuple[Any, ...]]) -> None:
    """Add rows of core.stats.rollup() to good_job_stats."""
    if rows:
        columns = [list(c) for c in zip(*rows, strict=True)]
        await ex.execute(sql("stats_record"), *columns)


async def stats_cleanup(ex: Executor, before: datetime) -> None:
    await ex.execute(sql("stats_cleanup"), before)


async def process_publish(
    ex: Executor, process_id: Any, *, cron: str | None = None, memory_kb: int | None = None
) -> None:
    await ex.execute(sql("process_publish"), process_id, cron, memory_kb)


# --- read by the dashboard ---------------------------------------------------------------------


async def stats_by_queue_class(ex: Executor, since: datetime, first_day: datetime, today: datetime) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("stats_by_queue_class"), since, first_day, today)
    return rows


async def stats_series(ex: Executor, since: datetime, span: int) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("stats_series"), since, span)
    return rows


async def stats_job_classes(ex: Executor, since: datetime) -> dict[str, int]:
    return {r["job_class"]: int(r["executions"]) for r in await ex.fetch(sql("stats_job_classes"), since)}


async def dashboard_digest(ex: Executor, processes: bool, now: datetime) -> str:
    return str(await ex.fetchval(sql("dashboard_digest"), processes, now))


async def dashboard_estimate_column(ex: Executor, column: str) -> dict[str, int]:
    return {str(r["value"]): int(r["estimate"]) for r in await ex.fetch(sql("dashboard_estimate_column"), column)}


async def dashboard_table_estimate(ex: Executor) -> int:
    return int(await ex.fetchval(sql("dashboard_table_estimate")))


async def dashboard_group_counts(ex: Executor, column: str) -> dict[str, int]:
    return {str(r["value"]): int(r["n"]) for r in await ex.fetch(sql("dashboard_group_counts"), column)}


async def dashboard_cron_history(ex: Executor, keys: list[str], per_key: int) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("dashboard_cron_history"), keys, per_key)
    return rows


async def dashboard_published_cron(ex: Executor) -> list[Record]:
    rows: list[Record] = await ex.fetch(sql("dashboard_published_cron"))
    return rows


async def dashboard_tab_rows_estimate(ex: Executor, tab: str, now: datetime, filters: dict[str, Any]) -> int:
    """The planner's row estimate for a tab under the list's filters (EXPLAIN; nothing is read)."""
    args = (tab, now, filters["queue"], filters["job_class"], filters["search_id"], filters["pattern"],
            filters["label"], filters["cron_key"], filters["batch_id"], filters["process_id"])
    plan = await ex.fetchval("EXPLAIN (FORMAT JSON) " + sql("dashboard_tab_rows"), *args)
    parsed = json.loads(plan) if isinstance(plan, str) else plan
    return int(parsed[0]["Plan"]["Plan Rows"])


async def dashboard_exact_count(ex: Executor, tab: str, now: datetime, filters: dict[str, Any],
                                created_before: datetime | None) -> int:
    args = (tab, now, filters["queue"], filters["job_class"], filters["search_id"], filters["pattern"],
            filters["label"], filters["cron_key"], filters["batch_id"], filters["process_id"], created_before)
    return int(await ex.fetchval(sql("dashboard_exact_count"), *args))


async def dashboard_batches_due(ex: Executor, ids: list[Any], now: datetime) -> set[Any]:
    return {r["id"] for r in await ex.fetch(sql("dashboard_batches_due"), ids, now)}
