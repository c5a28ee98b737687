"""Many workers against one Postgres: what each job and each idle worker costs the primary.

    .venv/bin/python bench/scale.py [--workers 32] [--threads 2] [--stream 2000] [--bulk 20000]
        [--idle-seconds 20] [--pgbouncer] [--pg-setting NAME=VALUE]

Starts ``--workers`` ``goodjob start`` subprocesses (``--max-threads``) on one queue against a
Postgres with default durability settings and ``pg_stat_statements``, then prints:

- idle: statements/s per idle worker, connections in total and per worker, worker RSS;
- stream: single enqueues from one producer, first with no worker running, then beside the idle
  workers (to a queue none of them serves: what their LISTEN and polls cost the producer), then to
  the workers' queue (the enqueue-rate ratio), end-to-end jobs/s, claim queries and statements per
  job, WAL per job;
- bulk: ``perform_all_later`` in batches of 1,000, then the drain: jobs/s, claims and statements
  per job, WAL per job.

Statements are every statement pg_stat_statements saw in the benchmark's database (BEGIN and COMMIT
included), less the benchmark's own bookkeeping. With ``--pgbouncer`` the workers and the producer
go through PgBouncer in transaction mode (tests/pgbouncer.py), without a session URL (leases).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from common import fresh_database, server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
DB = "goodjob_scale"
CLAIM_MARK = "SET state = 'running'"  # every claim query (claim_all, claim_queues) has it
MINE = ("pg_stat_statements", "pg_current_wal_lsn", "pg_stat_activity", "bench_probe")


def start_worker(url: str, threads: int, pooler: str) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GOOD_JOB_")}
    environ.update(
        GOOD_JOB_DATABASE_URL=url, GOOD_JOB_LOG_LEVEL="warning", GOOD_JOB_DATABASE_POOLER=pooler,
        GOOD_JOB_QUEUES="default", GOOD_JOB_MAX_THREADS=str(threads), GOOD_JOB_DATABASE_POOL_SIZE="2",
        PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
    )
    return subprocess.Popen([sys.executable, "-m", "goodjob", "start"], env=environ)


async def counts(conn: asyncpg.Connection) -> tuple[int, int]:
    """(statements, claims) since the last reset, in this database, without the bench's own."""
    rows = await conn.fetch(
        "SELECT query, calls FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())"
    )
    statements = claims = 0
    for r in rows:
        if any(m in r["query"] for m in MINE):
            continue
        statements += r["calls"]
        if CLAIM_MARK in r["query"]:
            claims += r["calls"]
    return statements, claims


async def top(conn: asyncpg.Connection, limit: int = 8) -> None:
    rows = await conn.fetch(
        "SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS q FROM pg_stat_statements "
        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "ORDER BY calls DESC LIMIT $1", limit)
    for r in rows:
        print(f"    {r['calls']:>8}  {r['q']}")


async def reset(conn: asyncpg.Connection) -> int:
    await conn.execute("SELECT pg_stat_statements_reset()")
    return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))


async def wal_since(conn: asyncpg.Connection, start: int) -> int:
    return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")) - start


async def left(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM good_jobs /* bench_probe */"))


async def wait_drained(conn: asyncpg.Connection, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while await left(conn):
        if time.monotonic() > deadline:
            raise SystemExit("jobs did not drain")
        await asyncio.sleep(0.05)
    return time.monotonic()


async def stream(n: int, queue: str = "default") -> float:
    """Enqueue n jobs one at a time (one producer) to ``queue``; returns jobs/s."""
    from bench_jobs import NoopJob

    job = NoopJob.set(queue=queue)
    await job.perform_later()  # open the pool
    start = time.monotonic()
    for _ in range(n):
        await job.perform_later()
    return n / (time.monotonic() - start)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_mb(pids: list[int]) -> list[float]:
    out = []
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return out


async def main(args: argparse.Namespace) -> None:
    import goodjob
    from goodjob.core.runtime import get_runtime

    settings = {"shared_preload_libraries": "pg_stat_statements", "max_connections": "400"}
    for item in args.pg_setting:  # e.g. synchronous_commit=off: what the flushes cost (a diagnostic)
        name, _, value = item.partition("=")
        settings[name] = value
    with server(settings) as admin_url:
        url = await fresh_database(admin_url, DB)
        conn = await asyncpg.connect(url)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        bouncer = None
        client_url, pooler = url, "none"
        if args.pgbouncer:
            from pgbouncer import PgBouncer

            bouncer = PgBouncer(admin_url, pool_size=20)
            client_url, pooler = bouncer.url(urlsplit(url).path.lstrip("/")), "transaction"
        goodjob.configure(database_url=client_url, database_pooler=pooler, execution_mode="external")
        get_runtime().reset()
        print(f"== {args.workers} workers x --max-threads {args.threads}, pooler={pooler}")

        rate_alone = await stream(args.stream)
        await conn.execute("DELETE FROM good_jobs")
        print(f"stream, no worker running: enqueue {rate_alone:,.0f} jobs/s")

        procs = [start_worker(client_url, args.threads, pooler) for _ in range(args.workers)]
        try:
            deadline = time.monotonic() + 120
            while await conn.fetchval("SELECT count(*) FROM good_job_processes /* bench_probe */") < args.workers:
                if time.monotonic() > deadline:
                    raise SystemExit("workers did not start")
                await asyncio.sleep(0.2)
            await asyncio.sleep(8)  # past start-up (cache warm, first heartbeats)

            await reset(conn)
            t0 = time.monotonic()
            await asyncio.sleep(args.idle_seconds)
            idle_statements, _ = await counts(conn)
            idle_s = time.monotonic() - t0
            conns = int(await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name LIKE 'goodjob%'"))
            if bouncer is not None:
                conns_note = " (server side of PgBouncer: shared by all)"
            else:
                conns_note = ""
            rss = rss_mb([p.pid for p in procs])
            print(f"idle: {idle_statements / idle_s / args.workers:.2f} statements/s per worker "
                  f"({idle_statements} in {idle_s:.0f} s); connections {conns} total, "
                  f"{conns / args.workers:.2f} per worker{conns_note}; "
                  f"worker RSS {sum(rss) / max(len(rss), 1):.0f} MB mean, {max(rss, default=0):.0f} MB max")

            # The producer beside idle workers: the jobs go to a queue no worker serves, so the
            # workers only hear the NOTIFYs (and poll); what they cost the producer is the herd.
            cpu0 = cpu_seconds([p.pid for p in procs])
            rate_idle = await stream(args.stream, queue="nobody_serves")
            idle_cpu = (cpu_seconds([p.pid for p in procs]) - cpu0) / args.stream * 1000
            await conn.execute("DELETE FROM good_jobs /* bench_probe */")
            print(f"stream beside {args.workers} idle workers (a queue they do not serve): enqueue "
                  f"{rate_idle:,.0f} jobs/s ({rate_idle / rate_alone:.0%} of the rate with none); "
                  f"worker CPU {idle_cpu:.2f} ms per job")

            wal0 = await reset(conn)
            cpu0 = cpu_seconds([p.pid for p in procs])
            t0 = time.monotonic()
            rate = await stream(args.stream)
            done = await wait_drained(conn)
            statements, claims = await counts(conn)
            wal = await wal_since(conn, wal0)
            n = args.stream + 0  # the pool-opening job ran before the reset
            print(f"stream, {args.workers} workers: enqueue {rate:,.0f} jobs/s "
                  f"({rate / rate_alone:.0%} of the rate with none); end to end {n / (done - t0):,.0f} jobs/s; "
                  f"{claims / n:.2f} claims and {statements / n:.2f} statements per job; "
                  f"WAL {wal / n:,.0f} bytes per job; "
                  f"worker CPU {(cpu_seconds([p.pid for p in procs]) - cpu0) / n * 1000:.2f} ms per job")
            if args.top:
                await top(conn)

            wal0 = await reset(conn)
            from bench_jobs import NoopJob

            t0 = time.monotonic()
            for offset in range(0, args.bulk, 1000):
                await goodjob.perform_all_later([NoopJob.new() for _ in range(min(1000, args.bulk - offset))])
            enqueued = time.monotonic()
            done = await wait_drained(conn)
            statements, claims = await counts(conn)
            wal = await wal_since(conn, wal0)
            print(f"bulk: enqueue {args.bulk / (enqueued - t0):,.0f} jobs/s; drain (enqueue to empty) "
                  f"{args.bulk / (done - t0):,.0f} jobs/s; {claims / args.bulk:.3f} claims and "
                  f"{statements / args.bulk:.3f} statements per job; WAL {wal / args.bulk:,.0f} bytes per job")
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
            await get_runtime().close_database()
            get_runtime().reset()
            await conn.close()
            if bouncer is not None:
                bouncer.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stream", type=int, default=2000)
    parser.add_argument("--bulk", type=int, default=20000)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--pgbouncer", action="store_true")
    parser.add_argument("--top", action="store_true", help="print the most frequent statements")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a server setting of the embedded Postgres on top of the defaults "
                             "(e.g. synchronous_commit=off, to see what WAL flushes cost); repeatable")
    asyncio.run(main(parser.parse_args()))
