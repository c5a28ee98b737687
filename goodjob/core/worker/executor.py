"""Perform one claimed job and describe what happened as an :class:`Outcome`.

No database access happens here: the scheduler claims, the executor performs, the recorder writes.
``async def`` jobs run on the worker's event loop; plain ``def`` jobs run in the pool's threads so a
blocking job never stalls the loop that claims and records for everyone else.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from goodjob.core import context, policy, registry, tracing
from goodjob.core.errors import JobCancelledError, JobTimeoutError, Snooze
from goodjob.core.serialize import NO_ARGUMENTS_TEXT, exception_info, load_arguments
from goodjob.core.types import ClaimedJob, Outcome, OutcomeKind

log = logging.getLogger("goodjob")

class Completer(Protocol):
    """Writes an attempt's success inside the caller's open transaction (the recorder)."""

    async def complete_in(self, connection: Any, outcome: Outcome) -> None: ...

    def complete_in_sync(self, cursor: Any, outcome: Outcome) -> None: ...


class JobExecutor:
    """Runs jobs for one pool: its thread pool is sized to the pool's capacity."""

    def __init__(
        self,
        *,
        max_threads: int,
        retry_on_unhandled_error: bool = True,
        on_thread_error: Callable[[BaseException], object] | None = None,
        shutting_down: Callable[[], bool] = lambda: False,
        thread_name: str = "goodjob",
        immediate_retries: bool = False,
        completer: Completer | None = None,
    ) -> None:
        # Writes a success inside a job's own transaction (current_job().complete(conn)): the
        # recorder. The executor only hands it the outcome; it never touches a database.
        self.completer = completer
        self.immediate_retries = immediate_retries  # inline mode: retry_on waits are skipped
        self.retry_on_unhandled_error = retry_on_unhandled_error
        self.on_thread_error = on_thread_error
        self.shutting_down = shutting_down
        self.threads = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix=thread_name)
        # Thread jobs that outlived their timeout keep their thread (Python cannot kill it); the
        # scheduler counts them as busy slots until they really end.
        self.stuck: dict[concurrent.futures.Future[Any], Any] = {}
        # The jobs performing now, by id: what goodjob.current_job() returns inside each, and where
        # an operator's cancel lands (cancel()).
        self.running: dict[Any, context.JobContext] = {}

    def cancel(self, job_id: Any) -> bool:
        """An operator cancelled ``job_id``: interrupt it if it runs here (on this loop)."""
        ctx = self.running.get(job_id)
        if ctx is None:
            return False
        ctx.request_cancel()
        return True

    async def perform(self, job: ClaimedJob, completer: Completer | None = None) -> Outcome:
        """Perform ``job``; ``completer`` overrides the executor's (inline mode: one per claim)."""
        ctx = context.JobContext(
            id=job.id, job_class=job.job_class, attempt=job.executions_count, queue=job.queue_name,
            priority=job.priority, labels=job.labels, batch_id=job.batch_id, scheduled_at=job.scheduled_at,
            shutting_down=self.shutting_down, task=asyncio.current_task(), loop=asyncio.get_running_loop(),
        )
        self.running[job.id] = ctx
        token = context.enter(ctx)  # not context.entered(): a generator per job costs ~1 us
        try:
            outcome = await self._perform(job, ctx, completer or self.completer)
        finally:
            context.leave(token)
            self.running.pop(job.id, None)
        if ctx.cancelled and outcome.kind is not OutcomeKind.CANCELLED:
            # An operator cancelled it while it ran: whatever it did after that, it is discarded.
            return self._outcome(job, OutcomeKind.CANCELLED, outcome.started_at, _t0(outcome),
                                 outcome.exception or JobCancelledError("cancelled by operator"))
        return outcome

    async def _perform(self, job: ClaimedJob, ctx: context.JobContext, completer: Completer | None) -> Outcome:
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        if completer is not None:
            ctx.completer = completer
            ctx.success_now = lambda: self._outcome(job, OutcomeKind.SUCCEEDED, started_at, t0)
        cls: type[Any] | None = None
        instance: Any = None
        value: Any = None
        try:
            cls = registry.resolve(job.job_class)
            args: tuple[object, ...]
            kwargs: dict[str, object]
            meta: dict[str, Any]
            if job.params == NO_ARGUMENTS_TEXT:
                args, kwargs, meta = (), {}, {}
            else:
                data = json.loads(job.params)
                args, kwargs = load_arguments(data)
                meta = data.get("meta") or {}
            instance = cls._goodjob_instance(job, args, kwargs, meta, self.shutting_down)
            if tracing.ENABLED and (meta.get("trace") or tracing.active()):
                with tracing.perform_span(job, meta.get("trace")):
                    value = await self._run(instance, instance.timeout, ctx)
            else:
                value = await self._run(instance, instance.timeout, ctx)
            # Jobs that keep their return value (Django tasks) encode it here; an unstorable value
            # fails the attempt like any error. Other jobs return None: nothing is written.
            stored = instance._goodjob_store_result(value)
        except Snooze as exc:
            # Before the retry rules: a snooze is not a failure (no error, the attempt not counted).
            return self._outcome(job, OutcomeKind.SNOOZED, started_at, t0, retry_in=exc.seconds)
        except BaseException as exc:
            if ctx.cancelled:
                # An operator's cancel (goodjob.jobs.cancel): whatever the job raised on its way out.
                # Clear the cancel request so the task can go on to record it.
                if isinstance(exc, asyncio.CancelledError) and ctx.task is not None:
                    ctx.task.uncancel()
                return self._outcome(job, OutcomeKind.CANCELLED, started_at, t0,
                                     JobCancelledError("cancelled by operator"))
            if _cancelled_by_worker():
                # The worker cancelled the task (shutdown): an interruption, whatever the job then
                # raised. No retry time: the row keeps its scheduled_at, so it keeps its place.
                return self._outcome(job, OutcomeKind.INTERRUPTED, started_at, t0, exc)
            # Anything the job raises itself is the job's error, Exception or not: CancelledError
            # nobody asked for, KeyboardInterrupt, SystemExit, GeneratorExit, a custom
            # BaseException. Retry rules apply; the worker's own signals never pass through here.
            return await self._failure(cls, instance, job, exc, started_at, t0)
        return self._outcome(job, OutcomeKind.SUCCEEDED, started_at, t0, return_value=stored)

    async def _run(self, instance: Any, timeout: float | None, ctx: context.JobContext) -> Any:
        loop = asyncio.get_running_loop()
        threads = ctx.threads

        def run_in_thread(fn: Callable[[], Any]) -> asyncio.Future[Any]:
            # In a copy of this task's context: the thread sees goodjob.current_job() too.
            future = self.threads.submit(contextvars.copy_context().run, fn)
            threads.append(future)
            return asyncio.wrap_future(future, loop=loop)

        if not timeout:
            try:
                return await instance._goodjob_perform(run_in_thread)
            finally:
                self._track_stuck(instance.job_id, threads)
        try:
            async with asyncio.timeout(timeout) as scope:
                return await instance._goodjob_perform(run_in_thread)
        except TimeoutError as exc:
            if not scope.expired():
                raise
            alive = [f for f in threads if not f.done()]
            late = ""
            if alive:
                # Python cannot stop a thread. Until it really ends the job keeps running: its row
                # stays locked and its slot taken, so its retry can never overlap it. Only then is
                # the timeout recorded (and a retry scheduled). A shutdown cancels this wait.
                waited_from = time.perf_counter()
                try:
                    await asyncio.wait([asyncio.wrap_future(f, loop=loop) for f in alive])
                finally:
                    self._track_stuck(instance.job_id, threads)
                late = f"; its thread could not be stopped and ran {time.perf_counter() - waited_from:.1f}s longer"
            raise JobTimeoutError(
                f"{instance.job_name} {instance.job_id} ran past its timeout of {timeout:g}s{late}"
            ) from exc

    def _track_stuck(self, job_id: Any, threads: list[concurrent.futures.Future[Any]]) -> bool:
        """Remember thread work that outlives its job (timeout, shutdown) until it really ends."""
        alive = [f for f in threads if not f.done()]
        for future in alive:
            self.stuck[future] = job_id
            future.add_done_callback(lambda f: self.stuck.pop(f, None))
        return bool(alive)

    async def _failure(
        self,
        cls: type[Any] | None,
        instance: Any,
        job: ClaimedJob,
        exc: BaseException,
        started_at: datetime,
        t0: float,
    ) -> Outcome:
        decision = policy.decide(cls, exc, job.executions_count)
        if decision.handler is not None and instance is not None:
            try:
                result = decision.handler(instance, exc)
                if inspect.isawaitable(result):
                    await result
            except Exception as handler_exc:
                handler_exc.__context__ = exc
                exc, decision = handler_exc, policy.UNHANDLED
        if decision.unhandled:
            self._report(exc)
            if self.retry_on_unhandled_error and not decision.final:
                wait = policy.unhandled_retry_wait(job.executions_count)
                return self._outcome(job, OutcomeKind.RETRIED, started_at, t0, exc, wait, unhandled=True)
            return self._outcome(job, OutcomeKind.DISCARDED, started_at, t0, exc, unhandled=True)
        retry_in = 0.0 if self.immediate_retries and decision.wait is not None else decision.wait
        return self._outcome(job, decision.kind, started_at, t0, exc, retry_in)

    def _report(self, exc: BaseException) -> None:
        if self.on_thread_error is None:
            return
        try:
            self.on_thread_error(exc)
        except Exception:
            log.exception("on_thread_error raised")

    @staticmethod
    def _outcome(
        job: ClaimedJob,
        kind: OutcomeKind,
        started_at: datetime,
        t0: float,
        exc: BaseException | None = None,
        retry_in: float | None = None,
        *,
        unhandled: bool = False,
        return_value: str | None = None,
    ) -> Outcome:
        duration = (time.perf_counter() - t0) * 1000.0
        finished_at = started_at + timedelta(milliseconds=duration)
        error_class = error = backtrace = None
        if exc is not None:
            error_class, error, backtrace = exception_info(exc)
            if not error and kind is OutcomeKind.INTERRUPTED:
                error = "interrupted by worker shutdown"
            if kind is OutcomeKind.CANCELLED:
                error = f"cancelled by operator ({error_class}: {error})" if not isinstance(
                    exc, JobCancelledError) else "cancelled by operator"
        retry_at = finished_at + timedelta(seconds=retry_in) if retry_in is not None else None
        return Outcome(
            job, kind, started_at, finished_at, duration, error_class, error, backtrace,
            retry_at, unhandled, exc, return_value,
        )

    def cancelled_before_start(self, job: ClaimedJob) -> Outcome:
        """The outcome of a claimed job an operator cancelled before it started (no duration)."""
        return self._outcome(job, OutcomeKind.CANCELLED, datetime.now(UTC), time.perf_counter(),
                             JobCancelledError("cancelled by operator"))

    def close(self, wait: bool = False) -> None:
        self.threads.shutdown(wait=wait, cancel_futures=True)



def _t0(outcome: Outcome) -> float:
    """The perf_counter origin that gives ``outcome``'s duration again (for a re-labelled outcome)."""
    return time.perf_counter() - outcome.duration_ms / 1000.0


def _cancelled_by_worker() -> bool:
    """True if someone cancelled the running task (the worker's shutdown or drain), False if the
    job raised CancelledError on its own. ``Task.cancelling()`` counts pending cancel requests."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
