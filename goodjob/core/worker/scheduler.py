"""One scheduler per pool: claim as many due jobs as there are free slots, run them, hand results on.

Wake-ups (NOTIFY, the poller, the scheduled-time cache, a finished job) only mark the pool
"dirty" and set an event; the loop then claims for *all* free slots in one statement. Under load,
several completions coalesce into one claim, which is what lets one process drain thousands of jobs
per second on a handful of commits.

While more jobs are known to be waiting (the last claim filled every slot), a finished job whose
row is simply deleted (not preserved, no batch, no concurrency key, no return value) is not handed
to the recorder: its slot wakes the loop, and the claim that follows anyway deletes it in the same
statement (``claim_deleting`` in queries.sql), so draining a queue costs one round trip and one
commit per claim rather than a claim plus a results write. A job that finishes while a claim is in
flight rides the claim after it only if the last claim was full (a backlog: the loop claims again as
soon as the one in flight returns, a wait of milliseconds in a drain of short jobs); otherwise it
goes to the recorder, since waiting for two claims widens a SIGKILL's double-run window. With
nothing known to be waiting (a trickle of jobs) results go to the recorder, so no claim is sent
only to delete. The row stays ``running`` under this live process until then (a few milliseconds),
so the double-run window of a SIGKILL is about the recorder's. A claim that fails gives its
finished rows to the next one (the delete is idempotent); once the pool stops claiming, everything
goes to the recorder as before.

Claiming ahead: while a backlog lasts (the last claim filled everything it asked for) and the pool's
jobs take less time than a claim's round trip, the pool also claims, beyond its free slots, the jobs
it will start during one claim's round trip (at most four rounds of its slots) and keeps them in
``_ahead``: a finishing job's slot takes the next one at once, while the following claim is in
flight, instead of idling for that round trip (a drain of short jobs otherwise spends about a third
of its time waiting on claims). Those rows are ``running`` under this process a few milliseconds
before they start: a kill recovers them like running jobs (they never ran, so nothing runs twice),
a stop gives them back untouched, an operator's cancel records them cancelled. Jobs slower than a
claim's round trip are never claimed ahead: the claim is then not what they wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from goodjob.core.features.concurrency import PerformGate
from goodjob.core.queues import PoolSpec
from goodjob.core.storage import store
from goodjob.core.storage.db import Database, is_connection_error
from goodjob.core.types import ClaimedJob, Outcome
from goodjob.core.worker.executor import JobExecutor
from goodjob.core.worker.recorder import Recorder
from goodjob.core.worker.results import keeps_row

log = logging.getLogger("goodjob")
AHEAD_ROUNDS = 4  # at most this many rounds of a pool's slots claimed ahead (see _ahead_limit)


class Scheduler:
    def __init__(
        self,
        spec: PoolSpec,
        *,
        database: Callable[[], Awaitable[Database]],
        process_id: UUID,
        executor: JobExecutor,
        recorder: Recorder,
        on_start: Callable[[ClaimedJob], None] | None = None,
        on_finish: Callable[[Outcome], None] | None = None,
        paused: Callable[[], list[str]] = list,
        paused_classes: Callable[[], list[str]] = list,
    ) -> None:
        self.spec = spec
        self.capacity = spec.max_threads
        self._database = database
        self.process_id = process_id
        self.executor = executor
        self.recorder = recorder
        self._on_start = on_start
        self._on_finish = on_finish
        self._paused = paused
        self._paused_classes = paused_classes
        self._event = asyncio.Event()
        self._dirty = True  # look for work at start
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._unsure_claims: set[datetime] = set()  # timestamps of claims that raised
        self.running: dict[asyncio.Task[None], ClaimedJob] = {}
        # finished rows the next claim deletes, with when they finished (see the module docstring)
        self._finished: list[tuple[Outcome, float]] = []
        self._claiming = False  # a claim is in flight: a result then goes to the recorder at once
        self._ahead: list[ClaimedJob] = []  # claimed ahead, not started yet (module docstring)
        self._backlog = False  # the last claim filled everything it asked for
        self._job_seconds = math.inf  # moving averages: how long a job runs, how long a claim takes
        self._claim_seconds = math.inf
        self.performed = 0
        self.last_active = asyncio.get_running_loop().time()
        self.gate = PerformGate(database, recorder.drain, self.wake)  # concurrency perform rules

    # --- capacity and wake-ups -------------------------------------------------------------

    @property
    def free_slots(self) -> int:
        """Slots not taken by a running job or by a thread that outlived its job (timeout)."""
        return self.capacity - len(self.running) - len(self.executor.stuck)

    @property
    def idle(self) -> bool:
        return not self.running and not self._ahead

    @property
    def waiting(self) -> int:
        """Jobs claimed ahead that have not started yet."""
        return len(self._ahead)

    def _wanted(self) -> int:
        """How many rows the next claim asks for: the free slots, plus what claiming ahead holds
        (see the module docstring), less what is already claimed ahead."""
        return max(0, self.free_slots + self._ahead_limit() - len(self._ahead))

    def _ahead_limit(self) -> int:
        """How many jobs to hold claimed ahead: what the pool starts during one claim's round trip
        (its slots times claim time over job time), at most AHEAD_ROUNDS rounds of slots; none
        without a backlog or when a job takes longer than a claim."""
        job, claim = self._job_seconds, self._claim_seconds
        if not self._backlog or not job < claim:
            return 0
        rounds = claim / job if job > 0 else AHEAD_ROUNDS
        return min(AHEAD_ROUNDS * self.capacity, math.ceil(self.capacity * rounds))

    def _start_ahead(self) -> None:
        """Start jobs claimed ahead in the free slots."""
        while self._ahead and self.free_slots > 0 and not self._stopping:
            self._launch(self._ahead.pop(0))

    def cancel_waiting(self, job_id: UUID) -> bool:
        """An operator cancelled ``job_id``: if it was claimed ahead and has not started, it never
        will; its attempt is recorded as cancelled (the row is discarded)."""
        for index, job in enumerate(self._ahead):
            if job.id == job_id:
                del self._ahead[index]
                self.recorder.add(self.executor.cancelled_before_start(job))
                return True
        return False

    def wake(self) -> None:
        """There may be work: claim when a slot is (or becomes) free."""
        self._dirty = True
        if not self._stopping:
            self._event.set()

    def mark(self) -> None:
        """There may be work, but claim only when a running job finishes (the pool is full now)."""
        self._dirty = True

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(
            self._run(), name=f"goodjob-scheduler[{self.spec.describe()}]"
        )

    # --- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._claim_loop()
        finally:
            ahead, self._ahead = self._ahead, []
            if ahead:  # claimed ahead, never started: back to the queue untouched
                with contextlib.suppress(Exception):
                    await self._release(ahead)

    async def _claim_loop(self) -> None:
        self._event.set()
        delay = 0.1
        while not self._stopping:
            await self._event.wait()
            self._event.clear()
            self._start_ahead()
            while (self._dirty or self._finished) and not self._stopping and (wanted := self._wanted()) > 0:
                self._dirty = False
                claimed_at = claim_time()
                finished, self._finished = self._finished, []
                try:
                    await self._release_unsure_claims()
                    self._claiming = True
                    t0 = time.monotonic()
                    try:
                        rows = await self._claim(wanted, claimed_at, [o.job.id for o, _ in finished])
                    finally:
                        self._claiming = False
                    self._claim_seconds = _average(self._claim_seconds, time.monotonic() - t0)
                    self.recorder.recorded_elsewhere(finished)
                    self.gate.claimed(rows)
                    delay = 0.1
                except Exception as exc:
                    self._give_back(finished)
                    # The statement may have committed before the error reached us (a connection
                    # cut mid-flight, a row that cannot be decoded): its rows would then be
                    # `running` under this live process, which knows nothing of them. Give back
                    # whatever this claim took, identified by its timestamp, before claiming again.
                    self._unsure_claims.add(claimed_at)
                    self._dirty = True
                    if not is_connection_error(exc):
                        log.exception("claiming jobs for pool %s failed", self.spec.describe())
                    else:
                        log.warning("claiming failed (%s); retrying in %.1fs", exc, delay)
                    with contextlib.suppress(Exception):  # else again before the next claim
                        await self._release_unsure_claims()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                if self._stopping:
                    # Claimed while shutdown began: give the rows back untouched.
                    await self._release([ClaimedJob.from_record(r) for r in rows])
                    return
                jobs = [ClaimedJob.from_record(r) for r in rows]
                self._ahead = sorted(self._ahead + jobs, key=self._claim_order)
                self._start_ahead()
                self._backlog = len(rows) == wanted
                if self._backlog:
                    self._dirty = True  # probably more waiting
        if self._unsure_claims:
            with contextlib.suppress(Exception):
                await self._release_unsure_claims()

    async def _release_unsure_claims(self) -> None:
        """Return to the queue the rows of claims whose result never reached us (idempotent)."""
        if not self._unsure_claims:
            return
        db = await self._database()
        stamps = sorted(self._unsure_claims)
        released = await store.release_claims(db.pool, self.process_id, stamps, datetime.now(UTC))
        self._unsure_claims.difference_update(stamps)
        if released:
            log.warning("gave back %d job(s) of a claim whose result was lost: %s",
                        len(released), ", ".join(str(r["id"]) for r in released))

    async def _claim(self, limit: int, now: datetime, delete_ids: list[UUID]) -> list[Any]:
        db = await self._database()
        spec = self.spec
        paused = self._paused()
        if spec.kind == "all":
            return await store.claim_all(
                db.pool, limit, now, self.process_id, paused, self._paused_classes(), delete_ids
            )
        if spec.kind == "include":
            queues = [q for q in spec.queues if q not in paused] if paused else list(spec.queues)
            ordered = spec.ordered
        else:
            waiting = await store.waiting_queue_names(db.pool)
            skip = set(spec.queues).union(paused)
            queues, ordered = [q for q in waiting if q not in skip], False
        if not queues:
            if delete_ids:
                await store.delete_finished(db.pool, delete_ids, self.process_id)
            return []
        return await store.claim_queues(
            db.pool, limit, now, self.process_id, queues, ordered, self._paused_classes(), delete_ids
        )

    def _give_back(self, finished: list[tuple[Outcome, float]]) -> None:
        """Results a failed claim may not have deleted: retried with the next claim (deleting a
        deleted row is a no-op), or written by the recorder once this pool stops claiming."""
        if self._stopping:
            for outcome, _ in finished:
                self.recorder.add(outcome)
        else:
            self._finished[:0] = finished

    def _claim_order(self, job: ClaimedJob) -> tuple[int, int, datetime, str]:
        """The order the claim's SQL chose: the queue's place first in an ordered pool (``+a,b``),
        then priority, then scheduled time."""
        spec = self.spec
        place = spec.queues.index(job.queue_name) if spec.ordered and job.queue_name in spec.queues else 0
        return (place, job.priority, job.scheduled_at, str(job.id))

    def _launch(self, job: ClaimedJob) -> None:
        task = asyncio.get_running_loop().create_task(self._perform(job), name=f"goodjob-job[{job.id}]")
        self.running[task] = job
        task.add_done_callback(self._done)

    async def _perform(self, job: ClaimedJob) -> None:
        refused = await self.gate.admit(job) if job.concurrency_key is not None else None
        if refused is None and self._on_start is not None:
            self._on_start(job)
        t0 = time.monotonic()
        outcome = refused if refused is not None else await self.executor.perform(job)
        self._job_seconds = _average(self._job_seconds, time.monotonic() - t0)
        # A claim is coming: the loop's next one (the pool is dirty), or the one after the claim in
        # flight when claiming ahead (a backlog: the loop claims again as soon as it returns).
        coming = self._backlog if self._claiming else self._dirty
        if (coming and not self._stopping and job.concurrency_key is None
                and outcome.return_value is None and not keeps_row(outcome, self.recorder.preserve)):
            self._finished.append((outcome, time.monotonic()))  # deleted by the claim that is coming
        else:
            self.recorder.add(outcome)
        self.gate.finished(job)
        self.performed += 1
        if self._on_finish is not None:
            self._on_finish(outcome)

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("job task failed", exc_info=task.exception())
        if self.running.pop(task, None) is not None:
            self._slot_freed()

    def _slot_freed(self) -> None:
        self.last_active = asyncio.get_running_loop().time()
        self._start_ahead()  # the freed slot takes a job claimed ahead, even while a claim is in flight
        if (self._dirty or self._finished) and not self._stopping:
            self._event.set()

    async def _release(self, jobs: list[ClaimedJob]) -> None:
        if not jobs:
            return
        db = await self._database()
        await store.release_own_jobs(db.pool, [j.id for j in jobs], self.process_id, datetime.now(UTC))

    # --- shutdown ------------------------------------------------------------------------------

    def stop_claiming(self) -> None:
        self._stopping = True
        self._event.set()
        finished, self._finished = self._finished, []
        self._give_back(finished)  # no claim will delete them now

    async def wait_stopped(self) -> None:
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task

    async def drain(self, timeout: float | None) -> list[ClaimedJob]:
        """Wait for running jobs (None: forever); then cancel what is left and return those jobs."""
        tasks = set(self.running)
        if tasks and (timeout is None or timeout > 0):
            await asyncio.wait(tasks, timeout=timeout)
        left = [t for t in self.running if not t.done()]
        cancelled = [self.running[t] for t in left]
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=5)
        return cancelled


_last_claim_time = datetime.min.replace(tzinfo=UTC)
_claim_time_lock = threading.Lock()


def claim_time() -> datetime:
    """A claim timestamp (written to locked_at) unique within this process, strictly increasing.

    A claim that raised is undone by its timestamp; uniqueness ensures that never touches the
    rows of another pool's claim made in the same microsecond."""
    global _last_claim_time
    with _claim_time_lock:
        now = datetime.now(UTC)
        if now <= _last_claim_time:
            now = _last_claim_time + timedelta(microseconds=1)
        _last_claim_time = now
        return now


def _average(current: float, sample: float) -> float:
    """An exponential moving average (the first sample replaces an unknown, infinite, value)."""
    return sample if math.isinf(current) else current * 0.8 + sample * 0.2

