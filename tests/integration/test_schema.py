"""Schema and migrations: schema.sql equals the migrations, migrate is idempotent and safe when
run concurrently, and the claim queries use their indexes (O(log n)) with many rows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
from helpers import prepared_plan

from goodjob.core.storage import migrate, store

CATALOG = {
    "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default
                  FROM information_schema.columns WHERE table_schema = 'public'
                  ORDER BY table_name, column_name""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 2",
    "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                      WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2""",
    "versions": "SELECT version, name FROM good_job_schema_migrations ORDER BY version",
}


async def _catalog(url: str) -> dict[str, list[tuple[object, ...]]]:
    conn = await asyncpg.connect(url)
    try:
        return {key: [tuple(r) for r in await conn.fetch(sql)] for key, sql in CATALOG.items()}
    finally:
        await conn.close()


def test_schema_sql_builds_the_same_database_as_the_migrations(make_database: Callable[..., str]) -> None:
    from_schema, from_migrations = make_database(migrated=False), make_database(migrated=False)

    async def build() -> None:
        conn = await asyncpg.connect(from_schema)
        await conn.execute(migrate.schema_sql())
        assert await migrate.migrate(conn) == []  # everything recorded: nothing to do
        await conn.close()
        conn = await asyncpg.connect(from_migrations)
        assert await migrate.migrate(conn) == [m.version for m in migrate.migrations()]
        await conn.close()
        assert await _catalog(from_schema) == await _catalog(from_migrations)

    asyncio.run(build())
    assert migrate.schema_sql() == migrate.render_schema(), "regenerate: python -m goodjob.core.storage.migrate"


def test_migrate_is_idempotent_and_safe_concurrently(make_database: Callable[..., str]) -> None:
    url = make_database(migrated=False)

    async def one() -> list[int]:
        conn = await asyncpg.connect(url)
        try:
            return await migrate.migrate(conn)
        finally:
            await conn.close()

    async def race() -> None:
        results = await asyncio.gather(*(one() for _ in range(6)))
        applied = sorted(v for r in results for v in r)
        assert applied == [m.version for m in migrate.migrations()]  # each applied exactly once
        assert await one() == []
        conn = await asyncpg.connect(url)
        assert await migrate.current_version(conn) == migrate.latest_version()
        await migrate.check_schema(conn)
        await conn.close()

    asyncio.run(race())


async def _plan(conn: asyncpg.Connection, name: str, *args: object) -> str:
    async with conn.transaction():
        rows = await conn.fetch("EXPLAIN " + store.sql(name), *args)
        text = "\n".join(r[0] for r in rows)
    return text




async def test_claim_plans_use_indexes_with_many_rows(conn: asyncpg.Connection) -> None:
    # 200,000 waiting jobs in a queue that no pool under test serves, plus a few in others.
    await conn.execute(
        """INSERT INTO good_jobs (id, queue_name, job_class, serialized_params)
           SELECT gen_random_uuid(), 'elsewhere', 'x.Y', '{}' FROM generate_series(1, 200000)"""
    )
    await conn.execute(
        """INSERT INTO good_jobs (id, queue_name, job_class, serialized_params)
           SELECT gen_random_uuid(), q, 'x.Y', '{}' FROM unnest(ARRAY['mail', 'batch', 'default']) AS q,
           generate_series(1, 50)"""
    )
    # and a queue whose only waiting job is a retry (it is in the retried indexes, not the pending ones)
    await conn.execute("INSERT INTO good_jobs (id, queue_name, job_class, error) VALUES (gen_random_uuid(), 'redo',"
                       " 'x.Y', 'Boom: it failed')")
    await conn.execute("ANALYZE good_jobs")
    now, pid = datetime.now(UTC), uuid.uuid4()
    # asyncpg prepares statements; after five runs Postgres may switch to a generic plan (with
    # average selectivities: `queue_name = <lateral value>`, unknown arrays and LIMIT): check the
    # plans of the first runs and the plan the prepared statement settles on. (The generic plan of
    # claim_all is a bitmap scan and sort, ~2 s at 1M rows; auto mode must never pick it.)
    to = "'infinity'::timestamptz"  # literals for prepared_plan; every row is due
    settled = {
        "single": ("claim_queue", f"10, {to}, gen_random_uuid(), 'mail', ARRAY[]::text[]"),
        "ordered": ("claim_queues", f"10, {to}, gen_random_uuid(), ARRAY['mail', 'batch'], true, ARRAY[]::text[]"),
        "star": ("claim_all", f"10, {to}, gen_random_uuid(), ARRAY[]::text[], ARRAY[]::text[]"),
        "names": ("waiting_queue_names", ""),
        "future": ("future_scheduled", "now(), 10000"),
    }
    for kind in ("first runs", "settled"):
        if kind == "first runs":
            single = await _plan(conn, "claim_queue", 10, now, pid, "mail", [])
            ordered = await _plan(conn, "claim_queues", 10, now, pid, ["mail", "batch"], True, [])
            star = await _plan(conn, "claim_all", 10, now, pid, [], [])
            names = await _plan(conn, "waiting_queue_names")
            # The scheduled-time cache's warm-up (every worker start and reconnect): future jobs
            # only, read in time order per priority from good_jobs_claim_all, never the due backlog.
            future = await _plan(conn, "future_scheduled", now, 10000)
        else:
            plans = {k: await prepared_plan(conn, store.sql(name), args) for k, (name, args) in settled.items()}
            single, ordered, star, names, future = (plans[k] for k in settled)
        assert "Scan using good_jobs_claim_all" in future, (kind, future)
        for plan in (single, ordered, star, names, future):
            assert "Seq Scan on good_jobs" not in plan, (kind, plan)
            assert "Bitmap" not in plan, (kind, plan)
        assert "Index Scan using good_jobs_claim_queue" in single, (kind, single)
        assert "good_jobs_claim_all" not in single + ordered, (kind, single)
        assert "Index Scan using good_jobs_claim_all" in star, (kind, star)
        assert "good_jobs_claim_queue" in names  # the loose index scan behind exclusion pools
    # And it is fast: the whole exclusion-pool claim touches a handful of pages.
    started = asyncio.get_running_loop().time()
    waiting = await store.waiting_queue_names(conn)
    assert waiting == ["batch", "default", "elsewhere", "mail", "redo"]
    async with conn.transaction():
        rows = await store.claim_queues(conn, 10, now, pid, [q for q in waiting if q not in ("elsewhere",)], False)
        assert len(rows) == 10
    assert asyncio.get_running_loop().time() - started < 1.0
