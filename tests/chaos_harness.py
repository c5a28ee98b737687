"""Fault injection: jobs through `goodjob start` subprocesses while workers are SIGKILLed and
Postgres restarts. Shared by tests/acceptance/test_chaos.py (small) and bench/chaos.py (at scale).

It runs on a throwaway server of its own (restarting the test session's server would disturb every
other test). The jobs (tests/chaos_jobs.py) record their runs in a side table; :func:`analyse` reads
it back: lost jobs, self-overlaps, kill-to-rerun times, double finishes, what is left running.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Plan:
    jobs: int = 3000
    workers: int = 4
    threads: int = 5
    job_ms: tuple[int, int] = (50, 250)  # each job sleeps a random time in this range
    kill_every: tuple[float, float] = (3.0, 6.0)
    restarts: int = 2
    max_seconds: float = 80.0  # give up (and report) after this long
    # Keep kills out of the seconds before a Postgres restart: a kill followed by a restart is a
    # double fault, whose recovery waits for the survivors to re-establish their liveness.
    quiet_before_restart: float = 0.0
    seed: int | None = None
    # The share of jobs (0 to 1) that finish with current_job().complete(conn) in their side-table
    # transaction (ChaosTxJob): a kill after that commit must never run them again.
    tx_share: float = 0.0


@dataclass
class Report:
    jobs: int
    seconds: float
    kills: list[tuple[int, float]] = field(default_factory=list)  # (pid, time)
    restarts: list[tuple[float, float]] = field(default_factory=list)  # (down at, up at)
    lost: int = 0
    never_finished: int = 0
    overlaps: list[Any] = field(default_factory=list)
    running_after_stop: int = 0
    locked_by_missing_after_stop: int = 0
    locked_by_missing_during: int = 0  # max seen: running rows of a missing process, older than 10 s
    kill_to_rerun: list[float] = field(default_factory=list)
    unrerun: int = 0  # runs cut by a kill that never ran again
    double_finished: int = 0
    double_finished_tx: int = 0  # of them, jobs that completed in their transaction (Plan.tx_share)
    tx_jobs: int = 0
    # For each double: seconds from the end of its first finished run to the kill of that run's
    # process (the double-run window as the job saw it), or None when that process was not killed.
    double_windows: list[float | None] = field(default_factory=list)
    write_delays: list[tuple[int, float, float, float]] = field(default_factory=list)  # per graceful stop
    exit_codes: list[int | None] = field(default_factory=list)

    def pct(self, values: list[float], q: float) -> float:
        if not values:
            return 0.0
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def _doubles(self) -> str:
        windows = [w for w in self.double_windows if w is not None]
        other = len(self.double_windows) - len(windows)
        ms = [w * 1000 for w in windows]
        return (f"{len(windows)} finished before their process's kill (p50 {self.pct(ms, 0.5):.1f}ms "
                f"p90 {self.pct(ms, 0.9):.1f}ms max {max(ms, default=0.0):.1f}ms before it), {other} not")

    def summary(self) -> str:
        k = self.kill_to_rerun
        n = sum(w[0] for w in self.write_delays)
        p50 = max((w[1] for w in self.write_delays), default=0.0)
        p99 = max((w[2] for w in self.write_delays), default=0.0)
        return "\n".join([
            f"jobs                         {self.jobs} in {self.seconds:.1f}s",
            f"SIGKILLs / Postgres restarts {len(self.kills)} / {len(self.restarts)}",
            f"lost jobs                    {self.lost} (never finished a run: {self.never_finished})",
            f"self-overlaps                {len(self.overlaps)}",
            f"running after stop           {self.running_after_stop}",
            f"locked by a missing process  {self.locked_by_missing_after_stop} after stop, "
            f"{self.locked_by_missing_during} (>10 s old) at worst during the run",
            f"double-finished              {self.double_finished} "
            f"({self.double_finished / max(1, len(self.kills)):.2f} per kill)",
            f"doubles by kill              {self._doubles()}",
            *([f"completed in transaction     {self.tx_jobs} jobs, {self.double_finished_tx} double-finished"]
              if self.tx_jobs else []),
            f"kill-to-rerun                n={len(k)} p50 {self.pct(k, 0.5):.2f}s p99 {self.pct(k, 0.99):.2f}s "
            f"max {max(k, default=0.0):.2f}s; never rerun: {self.unrerun}",
            f"result write delay           {n} results, worst worker p50 {p50:.1f}ms p99 {p99:.1f}ms",
        ])


class Chaos:
    def __init__(self, plan: Plan, workdir: Path, *, log: Any = print) -> None:
        self.plan = plan
        self.workdir = workdir
        self.log = log
        self.random = random.Random(plan.seed)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.exits: dict[int, float] = {}  # pid -> kill or exit time
        self.report = Report(plan.jobs, 0.0)

    # --- processes ---------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOOD_JOB_")}
        env.update(
            GOOD_JOB_DATABASE_URL=self.url,
            GOOD_JOB_PRESERVE_JOB_RECORDS="true",
            GOOD_JOB_QUEUES=f"*:{self.plan.threads}",
            GOOD_JOB_POLL_INTERVAL="1",
            GOOD_JOB_SHUTDOWN_TIMEOUT="30",
            PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
            PYTHONUNBUFFERED="1",
        )
        return env

    def _start_worker(self) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"worker{len(self.procs)}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "goodjob", "start"], env=self._env(), stdout=log, stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        proc.log_path = log.name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def _live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def _kill_one(self) -> None:
        victim = self.random.choice(self._live())
        victim.send_signal(signal.SIGKILL)
        at = time.time()
        victim.wait()
        self.exits[victim.pid] = at
        self.report.kills.append((victim.pid, at))
        self._start_worker()

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> Report:
        from chaos_jobs import SIDE_TABLE, ChaosJob, ChaosTxJob

        from goodjob.core.storage.embedded import start_temporary
        from goodjob.core.storage.migrate import migrate

        settings = {"max_connections": "300", "fsync": "off", "synchronous_commit": "off",
                    "full_page_writes": "off"}
        self.pg = start_temporary(settings=settings)
        try:
            self.url = self.pg.create_database("chaos")

            async def prepare() -> None:
                conn = await asyncpg.connect(self.url)
                try:
                    await migrate(conn)
                    await conn.execute(SIDE_TABLE)
                    low, high = self.plan.job_ms
                    await conn.execute(
                        "INSERT INTO good_jobs (id, job_class, serialized_params, scheduled_at) "
                        "SELECT gen_random_uuid(), CASE WHEN i % 1000 < $5::float8 * 1000 THEN $6 ELSE $1 END, "
                        "jsonb_build_object('args', jsonb_build_array(i, "
                        "($2::int + floor(random() * ($3::int - $2::int + 1)))::int), 'kwargs', '{}'::jsonb), "
                        "now() + i * interval '1 microsecond' FROM generate_series(1, $4::int) AS i",
                        ChaosJob.job_name, low, high, self.plan.jobs, self.plan.tx_share, ChaosTxJob.job_name,
                    )
                finally:
                    await conn.close()

            asyncio.run(prepare())
            started = time.monotonic()
            for _ in range(self.plan.workers):
                self._start_worker()
            asyncio.run(self._chaos(started))
            self._stop_all()
            self.report.seconds = time.monotonic() - started
            asyncio.run(self._analyse())
        finally:
            for proc in self._live():
                proc.kill()
                proc.wait()
            self.pg.stop()
        return self.report

    async def _remaining(self) -> tuple[int, int] | None:
        try:
            conn = await asyncpg.connect(self.url, timeout=5)
        except Exception:
            return None
        try:
            left = await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state IN ('queued', 'running')")
            missing = await conn.fetchval(
                "SELECT count(*) FROM good_jobs AS j WHERE j.state = 'running' AND j.locked_at < now() - "
                "interval '10 seconds' AND NOT EXISTS (SELECT 1 FROM good_job_processes p WHERE p.id = j.locked_by_id)"
            )
            return int(left), int(missing)
        except Exception:
            return None
        finally:
            await conn.close()

    async def _chaos(self, started: float) -> None:
        plan = self.plan
        thresholds = [plan.jobs * (i + 1) / (plan.restarts + 1) for i in range(plan.restarts)]
        next_kill = time.monotonic() + self.random.uniform(*plan.kill_every)
        last_log = 0.0
        last_kill = float("-inf")
        while time.monotonic() - started < plan.max_seconds:
            state = await self._remaining()
            if state is not None:
                left, missing = state
                self.report.locked_by_missing_during = max(self.report.locked_by_missing_during, missing)
                if left == 0:
                    return
                done = plan.jobs - left
                # A restart waits until the last kill is quiet_before_restart old: the estimate
                # below keeps kills away from a coming restart, but a rate that changes under load
                # can still put one just before it (a double fault, whose recovery the sweeper's
                # wait after a restart delays).
                if (thresholds and done >= thresholds[0]
                        and time.monotonic() - last_kill >= plan.quiet_before_restart):
                    thresholds.pop(0)
                    down = time.time()
                    await asyncio.to_thread(self.pg.restart)
                    self.report.restarts.append((down, time.time()))
                    self.log(f"  restarted Postgres at {done} done ({time.time() - down:.1f}s down)")
                if time.monotonic() - last_log > 10:
                    last_log = time.monotonic()
                    self.log(f"  {time.monotonic() - started:5.1f}s: {done}/{plan.jobs} done")
                # Estimated time to the next restart, from the current rate.
                rate = done / max(0.1, time.monotonic() - started)
                to_restart = (thresholds[0] - done) / rate if thresholds and rate > 0 else float("inf")
                if time.monotonic() >= next_kill and to_restart > plan.quiet_before_restart:
                    self._kill_one()
                    last_kill = time.monotonic()
                    next_kill = last_kill + self.random.uniform(*plan.kill_every)
            await asyncio.sleep(0.25)

    async def _all_registered(self) -> None:
        """Wait (up to 30 s) until every live worker has its process row: a replacement started just
        before the stop would otherwise get SIGTERM before its signal handlers exist."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = await asyncpg.connect(self.url, timeout=5)
                try:
                    pids = {r["pid"] for r in await conn.fetch("SELECT pid FROM good_job_processes")}
                finally:
                    await conn.close()
                if all(p.pid in pids for p in self._live()):
                    return
            except Exception:
                pass
            await asyncio.sleep(0.2)

    def _stop_all(self) -> None:
        asyncio.run(self._all_registered())
        live = self._live()
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.exits.setdefault(proc.pid, time.time())
            if proc in live:
                self.report.exit_codes.append(proc.returncode)
            text = Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]
            m = re.search(r"result write delay over (\d+) results: p50 ([\d.]+)ms p99 ([\d.]+)ms max ([\d.]+)ms", text)
            if m:
                self.report.write_delays.append((int(m[1]), float(m[2]), float(m[3]), float(m[4])))

    async def _analyse(self) -> None:
        from chaos_jobs import ChaosTxJob

        r = self.report
        conn = await asyncpg.connect(self.url)
        try:
            r.lost = await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state <> 'succeeded'")
            r.never_finished = await conn.fetchval(
                "SELECT count(*) FROM good_jobs AS j WHERE NOT EXISTS "
                "(SELECT 1 FROM chaos_runs AS c WHERE c.job_id = j.id AND c.finished_at IS NOT NULL)"
            )
            r.running_after_stop = await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state = 'running'")
            r.locked_by_missing_after_stop = await conn.fetchval(
                "SELECT count(*) FROM good_jobs AS j WHERE j.locked_by_id IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM good_job_processes AS p WHERE p.id = j.locked_by_id)"
            )
            r.double_finished = await conn.fetchval(
                "SELECT count(*) FROM (SELECT job_id FROM chaos_runs WHERE finished_at IS NOT NULL "
                "GROUP BY job_id HAVING count(*) > 1) AS d"
            )
            r.tx_jobs = await conn.fetchval("SELECT count(*) FROM good_jobs WHERE job_class = $1", ChaosTxJob.job_name)
            r.double_finished_tx = await conn.fetchval(
                "SELECT count(*) FROM (SELECT c.job_id FROM chaos_runs AS c JOIN good_jobs AS j ON j.id = c.job_id "
                "WHERE c.finished_at IS NOT NULL AND j.job_class = $1 GROUP BY c.job_id HAVING count(*) > 1) AS d",
                ChaosTxJob.job_name,
            )
            rows = await conn.fetch(
                "SELECT job_id, pid, extract(epoch FROM started_at)::float8 AS s, "
                "extract(epoch FROM finished_at)::float8 AS f FROM chaos_runs "
                "WHERE job_id IN (SELECT job_id FROM chaos_runs GROUP BY job_id HAVING count(*) > 1) "
                "ORDER BY job_id, started_at"
            )
        finally:
            await conn.close()
        runs: dict[Any, list[Any]] = {}
        for row in rows:
            runs.setdefault(row["job_id"], []).append(row)
        killed = dict(r.kills)
        for job_id, job_runs in runs.items():
            done = [run for run in job_runs if run["f"] is not None]
            if len(done) > 1:
                first = done[0]
                r.double_windows.append(
                    killed[first["pid"]] - first["f"] if first["pid"] in killed else None
                )
            for prev, nxt in itertools.pairwise(job_runs):
                end = prev["f"] if prev["f"] is not None else self.exits.get(prev["pid"], float("inf"))
                if nxt["s"] < end:
                    r.overlaps.append((str(job_id), prev["pid"], nxt["pid"], round(end - nxt["s"], 3)))
            for index, run in enumerate(job_runs):
                if run["f"] is None and run["pid"] in killed:
                    later = job_runs[index + 1:]
                    if later:
                        r.kill_to_rerun.append(later[0]["s"] - killed[run["pid"]])
                    else:
                        r.unrerun += 1
        # runs cut by a kill that have no later run are not in `rows` (single-run jobs)
        conn = await asyncpg.connect(self.url)
        try:
            pids = [pid for pid, _ in r.kills]
            r.unrerun += await conn.fetchval(
                "SELECT count(*) FROM chaos_runs AS c WHERE c.finished_at IS NULL AND c.pid = ANY($1::int[]) "
                "AND (SELECT count(*) FROM chaos_runs AS o WHERE o.job_id = c.job_id) = 1", pids,
            )
        finally:
            await conn.close()
