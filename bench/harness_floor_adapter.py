"""The floor under every queue's enqueue, as an adapter of the side-by-side harness (no queue at all).

    cp bench/harness_floor_adapter.py /tmp/bench/adapters/floor_adapter.py   # the harness copy
    cd /tmp/bench && /tmp/benchvenv/bin/python run.py --system floor --scenario enqueue --reps 3

Raw asyncpg on one held connection: a single enqueue is one INSERT of an id, a queue name and the
JSON arguments into a table with only its primary key, committed durably (autocommit), and no
NOTIFY; a bulk enqueue is one ``INSERT ... SELECT FROM unnest`` per batch. A job queue does at
least this per job, so its enqueue rate cannot beat this line's in the same run, and a target of
"1.5x the best peer" is reachable only where this line is at least 1.5x that peer. Run it in the
same harness run as goodjob and the peers (bench/README.md quotes the three side by side).
It has no worker (``work`` raises): only the enqueue scenario measures it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
from adapters.base import BaseAdapter  # the harness copy's package (run from there)

TABLE = "CREATE TABLE floor_jobs (id uuid PRIMARY KEY, queue text NOT NULL, args jsonb NOT NULL)"


class Adapter(BaseAdapter):
    NAME = "floor"
    NOTES = {
        "what": "no queue: raw asyncpg INSERT (id, queue, args) into a table with a primary key only, "
                "durable autocommit per single enqueue, no NOTIFY; bulk: one INSERT ... unnest per batch",
        "driver": "one asyncpg connection, held",
    }
    PENDING_SQL = "SELECT count(*) FROM floor_jobs WHERE queue = %s AND false"
    PURGE_SQL = "DELETE FROM floor_jobs WHERE queue = %s"

    def version(self) -> str:
        return f"asyncpg {asyncpg.__version__}"

    async def install(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(TABLE)
        finally:
            await conn.close()

    async def open(self) -> None:
        self.conn = await asyncpg.connect(self.dsn)

    async def close(self) -> None:
        await self.conn.close()

    async def enqueue(self, queue: str, args: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO floor_jobs (id, queue, args) VALUES ($1, $2, $3::jsonb)", uuid.uuid4(), queue, json.dumps(args)
        )

    async def enqueue_batch(self, queue: str, argses: list[dict[str, Any]]) -> None:
        await self.conn.execute(
            "INSERT INTO floor_jobs (id, queue, args) SELECT u.id, $2, u.args::jsonb"
            " FROM unnest($1::uuid[], $3::text[]) AS u(id, args)",
            [uuid.uuid4() for _ in argses], queue, [json.dumps(a) for a in argses],
        )

    async def work(self, queue: str, concurrency: int, stop: asyncio.Event) -> None:
        raise NotImplementedError("the floor has no worker: run only the enqueue scenario")
