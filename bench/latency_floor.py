"""The floor under a job's latency on this machine: the same path with raw asyncpg, without goodjob.

    GOOD_JOB_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:55432/postgres .venv/bin/python bench/latency_floor.py

What the side-by-side harness's latency scenario times (from before the enqueue to the job's first
line in another process, 300 jobs 20 ms apart), done by hand: a producer INSERTs a row and NOTIFYs in
one statement (a durable commit); a listener in a child process, woken by the notification, claims
the row with ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)`` on a second connection (a
second durable commit) and records the time since the enqueue began. Run twice: with both commits
durable (every job queue's path, and goodjob's), and with ``synchronous_commit = off`` on both (no
WAL flush waited for: the process hops and round trips alone). A queue's p50 cannot beat the first.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import asyncpg
from common import fresh_database, server

N = 300
EVERY = 0.020


async def listen(url: str, durable: bool) -> None:
    """The worker's side: one LISTEN connection, one connection for claims. Says "ready" on stdout,
    then prints the latencies (ms), one per line."""
    conn, claim = await asyncpg.connect(url), await asyncpg.connect(url)
    if not durable:
        await claim.execute("SET synchronous_commit = off")
    woken = asyncio.Event()
    await conn.add_listener("latency_floor", lambda *_: woken.set())
    latencies: list[float] = []
    print("ready", flush=True)
    while len(latencies) < N:
        await asyncio.wait_for(woken.wait(), 30)
        woken.clear()
        while (row := await claim.fetchrow(
            "UPDATE latency_floor SET state = 1 WHERE id = (SELECT id FROM latency_floor WHERE state = 0"
            " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING t"
        )) is not None:
            latencies.append((time.time() - row["t"]) * 1000)
    print("\n".join(map(str, latencies)), flush=True)


async def produce(url: str, durable: bool) -> list[float]:
    """The producer's side; returns the latencies (ms) the listener recorded."""
    conn = await asyncpg.connect(url)
    try:
        if not durable:
            await conn.execute("SET synchronous_commit = off")
        await conn.execute("DROP TABLE IF EXISTS latency_floor")
        await conn.execute("CREATE TABLE latency_floor (id bigserial PRIMARY KEY, state int NOT NULL DEFAULT 0,"
                           " t float8 NOT NULL)")
        await conn.execute("CREATE INDEX ON latency_floor (id) WHERE state = 0")
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--listen", url, "1" if durable else "0", stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        assert (await child.stdout.readline()).strip() == b"ready"
        await asyncio.sleep(1.0)  # the listener is idle, as the harness's worker is
        enqueue = await conn.prepare(
            "WITH i AS (INSERT INTO latency_floor (t) VALUES ($1) RETURNING id) SELECT pg_notify('latency_floor', "
            "id::text) FROM i"
        )
        started = time.perf_counter()
        for i in range(N):
            await asyncio.sleep(max(0.0, started + i * EVERY - time.perf_counter()))
            await enqueue.fetch(time.time())
        printed, _ = await asyncio.wait_for(child.communicate(), 60)
        return sorted(float(x) for x in printed.split())
    finally:
        await conn.execute("DROP TABLE IF EXISTS latency_floor")
        await conn.close()


def main() -> None:
    if sys.argv[1:2] == ["--listen"]:
        asyncio.run(listen(sys.argv[2], sys.argv[3] == "1"))
        return
    with server() as admin_url:
        url = asyncio.run(fresh_database(admin_url, "goodjob_latency_floor"))
        for durable in (True, False, True, False):
            lat = asyncio.run(produce(url, durable))
            q = statistics.quantiles(lat, n=100, method="inclusive")
            kind = "both commits durable" if durable else "synchronous_commit = off"
            print(f"raw enqueue -> NOTIFY -> claim, {len(lat)} jobs {EVERY * 1000:.0f} ms apart, {kind}: "
                  f"p50 {q[49]:.2f} ms, p95 {q[94]:.2f}, p99 {q[98]:.2f}", flush=True)


if __name__ == "__main__":
    main()
