"""Failures done right: retry rules, discard, rescue, unhandled errors, preservation, timeouts,
callbacks, cleanup and events — through a real worker and a real database."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from helpers import wait_for

import goodjob
from goodjob.core import events, policy

SEEN: list[Any] = []


class TransientError(Exception):
    pass


class SpecificTransientError(TransientError):
    pass


class FlakyJob(goodjob.Job):
    """Fails twice, then succeeds."""

    error_policy = (goodjob.retry_on(TransientError, attempts=5, wait=0.05),)

    async def perform(self, marker: str) -> None:
        SEEN.append((marker, self.job_id, self.executions))
        if self.executions < 3:
            raise TransientError(f"attempt {self.executions} failed")


class ExhaustedJob(goodjob.Job):
    error_policy = (goodjob.retry_on(TransientError, attempts=2, wait=0),)

    async def perform(self) -> None:
        raise TransientError("always")


class ExhaustedWithFallbackJob(goodjob.Job):
    error_policy = (
        goodjob.retry_on(
            TransientError, attempts=2, wait=0,
            on_exhausted=lambda job, exc: SEEN.append(("fallback", job.job_id, str(exc))),
        ),
    )

    async def perform(self) -> None:
        raise TransientError("still failing")


class DiscardedJob(goodjob.Job):
    error_policy = (goodjob.discard_on(ValueError, callback=lambda job, exc: SEEN.append(("discarded", str(exc)))),)

    def perform(self) -> None:
        raise ValueError("bad input")


class SpecificRuleJob(goodjob.Job):
    # Declared first but more specific: it must win over the broad retry rule declared later.
    error_policy = (
        goodjob.discard_on(SpecificTransientError),
        goodjob.retry_on(TransientError, attempts=10, wait=0),
    )

    async def perform(self) -> None:
        raise SpecificTransientError("specific")


class RescuedJob(goodjob.Job):
    error_policy = (goodjob.rescue_from(KeyError, handler=lambda job, exc: SEEN.append(("rescued", repr(exc)))),)

    async def perform(self) -> None:
        raise KeyError("missing")


class UnhandledJob(goodjob.Job):
    async def perform(self) -> None:
        raise RuntimeError("unhandled boom")


class SlowAsyncJob(goodjob.Job):
    timeout = 0.2
    error_policy = (goodjob.discard_on(goodjob.JobTimeoutError),)

    async def perform(self) -> None:
        await asyncio.sleep(30)


class SlowThreadJob(goodjob.Job):
    release = threading.Event()

    def perform(self) -> None:
        SlowThreadJob.release.wait(30)


class ApplicationJob(goodjob.Job):
    """The seed's ApplicationJob pattern: callbacks set once in a base class."""

    async def around_perform(self, call_next: Callable[[], Any]) -> Any:
        SEEN.append(("around:before", type(self).__name__))
        try:
            return await call_next()
        except Exception as exc:  # e.g. Sentry.capture_exception(exc)
            SEEN.append(("captured", type(exc).__name__))
            raise
        finally:
            SEEN.append(("around:after", type(self).__name__))

    def before_perform(self) -> None:
        SEEN.append(("before_perform", self.executions))

    def after_perform(self) -> None:
        SEEN.append(("after_perform", self.executions))

    def before_enqueue(self) -> bool | None:
        if self.arguments and self.arguments[0] == "refuse":
            return False
        SEEN.append(("before_enqueue", self.arguments))
        return None

    def after_enqueue(self) -> None:
        SEEN.append(("after_enqueue", self.job_id is not None))


class ChildJob(ApplicationJob):
    async def perform(self, value: str) -> None:
        SEEN.append(("perform", value))


class FailingChildJob(ApplicationJob):
    error_policy = (goodjob.discard_on(LookupError),)

    async def perform(self, value: str) -> None:
        raise LookupError(value)


@pytest.fixture(autouse=True)
def _reset() -> Any:
    SEEN.clear()
    yield
    events.clear()


async def _state(conn: asyncpg.Connection, job_id: uuid.UUID) -> str | None:
    return await conn.fetchval("SELECT state FROM good_jobs WHERE id = $1", job_id)  # type: ignore[no-any-return]


async def _outcomes(conn: asyncpg.Connection, job_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch("SELECT outcome FROM good_job_executions WHERE job_id = $1 ORDER BY id", job_id)
    return [r["outcome"] for r in rows]


async def test_retry_on_fails_twice_then_succeeds_same_row(start_worker: Any, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)
    await start_worker(poll_interval=0.05)
    job = await FlakyJob.perform_later("flaky")
    await wait_for(lambda: _state(conn, job.id), timeout=20)
    await wait_for(lambda: conn.fetchval("SELECT state = 'succeeded' FROM good_jobs WHERE id = $1", job.id))
    assert [s[2] for s in SEEN] == [1, 2, 3]
    assert {s[1] for s in SEEN} == {job.id}
    row = await conn.fetchrow("SELECT executions_count, error FROM good_jobs WHERE id = $1", job.id)
    assert row["executions_count"] == 3 and row["error"] is None
    execs = await conn.fetch(
        "SELECT outcome, error, started_at, finished_at FROM good_job_executions WHERE job_id = $1 ORDER BY id",
        job.id,
    )
    assert [e["outcome"] for e in execs] == ["retried", "retried", "succeeded"]
    assert "attempt 1 failed" in execs[0]["error"]
    # backoff respected: each retry started at least `wait` after the previous attempt finished
    for before, after in itertools.pairwise(execs):
        assert after["started_at"] - before["finished_at"] >= timedelta(seconds=0.05)


async def test_retry_keeps_the_last_error_while_waiting(conn: asyncpg.Connection, start_worker: Any) -> None:
    goodjob.configure(preserve_job_records=True)
    await start_worker(poll_interval=-1)

    class SlowRetryJob(goodjob.Job):
        error_policy = (goodjob.retry_on(TransientError, wait=3600),)

        async def perform(self) -> None:
            raise TransientError("later")

    job = await SlowRetryJob.perform_later()
    await wait_for(lambda: conn.fetchval(
        "SELECT executions_count = 1 AND state = 'queued' FROM good_jobs WHERE id = $1", job.id))
    row = await conn.fetchrow("SELECT error, error_event, scheduled_at > now() + interval '50 minutes' AS later "
                              "FROM good_jobs WHERE id = $1", job.id)
    assert row["error"] == "test_failures.TransientError: later"
    assert row["error_event"] == "retried" and row["later"]


async def test_exhausted_retries_without_and_with_fallback(start_worker: Any, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)
    seen_errors: list[BaseException] = []
    goodjob.configure(on_thread_error=seen_errors.append)
    await start_worker(poll_interval=0.05)
    exhausted = await ExhaustedJob.perform_later()
    fallback = await ExhaustedWithFallbackJob.perform_later()
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 2 FROM good_jobs WHERE state <> 'queued' "
                                         "AND state <> 'running'"), timeout=20)
    assert await _state(conn, exhausted.id) == "discarded"
    assert await _outcomes(conn, exhausted.id) == ["retried", "discarded"]
    assert any(isinstance(e, TransientError) for e in seen_errors)  # exhausted retries are unhandled
    assert await _state(conn, fallback.id) == "succeeded"
    assert await _outcomes(conn, fallback.id) == ["retried", "handled"]
    assert ("fallback", fallback.id, "still failing") in SEEN


async def test_discard_on_and_most_specific_rule(start_worker: Any, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)
    await start_worker()
    discarded = await DiscardedJob.perform_later()
    specific = await SpecificRuleJob.perform_later()
    rescued = await RescuedJob.perform_later()
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 3 FROM good_jobs WHERE finished_at IS NOT NULL"))
    assert await _state(conn, discarded.id) == "discarded"
    assert ("discarded", "bad input") in SEEN
    assert await _outcomes(conn, specific.id) == ["discarded"]  # not retried
    assert await _state(conn, rescued.id) == "succeeded"
    assert ("rescued", "KeyError('missing')") in SEEN
    ev = await conn.fetchval("SELECT error_event FROM good_jobs WHERE id = $1", discarded.id)
    assert ev == "discarded"


def test_rule_matching_is_by_specificity_then_declaration_order() -> None:
    class Base(goodjob.Job):
        error_policy = (goodjob.retry_on(Exception, attempts=3),)

    class Child(Base):
        error_policy = (goodjob.discard_on(LookupError), goodjob.retry_on(KeyError, attempts=9))

    assert isinstance(policy.match(Child, KeyError()), policy.RetryOn)
    assert isinstance(policy.match(Child, IndexError()), policy.DiscardOn)
    assert policy.match(Child, RuntimeError()) == policy.rules_of(Base)[0]
    assert policy.match(Child, KeyboardInterrupt()) is None
    with pytest.raises(TypeError):
        goodjob.retry_on("not an exception")  # type: ignore[arg-type]


@pytest.mark.parametrize("retry", [True, False])
@pytest.mark.parametrize("preserve", [True, False, "on_unhandled_error"])
async def test_unhandled_errors_by_settings(
    start_worker: Any, conn: asyncpg.Connection, retry: bool, preserve: Any
) -> None:
    errors: list[BaseException] = []
    goodjob.configure(preserve_job_records=preserve, retry_on_unhandled_error=retry, on_thread_error=errors.append)
    worker = await start_worker()
    ok = await ChildJob.perform_later("fine")
    bad = await UnhandledJob.perform_later()
    await wait_for(lambda: errors)
    assert isinstance(errors[0], RuntimeError) and str(errors[0]) == "unhandled boom"

    async def settled() -> bool:
        running = await conn.fetchval("SELECT count(*) FROM good_jobs WHERE state = 'running'")
        return running == 0 and ("perform", "fine") in SEEN

    await wait_for(settled)
    await worker.recorder.drain()
    bad_state = await _state(conn, bad.id)
    ok_state = await _state(conn, ok.id)
    if retry:
        assert bad_state == "queued"  # re-queued with backoff: never deleted
        row = await conn.fetchrow("SELECT error_event, scheduled_at > now() AS later FROM good_jobs WHERE id = $1",
                                  bad.id)
        assert row["error_event"] == "unhandled" and row["later"]
    else:
        assert bad_state == ("discarded" if preserve in (True, "on_unhandled_error") else None)
    assert ok_state == ("succeeded" if preserve is True else None)


async def test_timeout_of_an_async_job(start_worker: Any, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)
    await start_worker()
    started = time.monotonic()
    job = await SlowAsyncJob.perform_later()
    await wait_for(lambda: conn.fetchval("SELECT state = 'discarded' FROM good_jobs WHERE id = $1", job.id))
    assert time.monotonic() - started < 10
    row = await conn.fetchrow("SELECT error_class FROM good_job_executions WHERE job_id = $1", job.id)
    assert row["error_class"] == "goodjob.core.errors.JobTimeoutError"


async def test_set_timeout_per_enqueue_and_thread_slot_accounting(start_worker: Any, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True, retry_on_unhandled_error=False)
    SlowThreadJob.release.clear()
    worker = await start_worker(queues="*:1")
    job = await SlowThreadJob.set(timeout=0.2).perform_later()
    await wait_for(lambda: worker.running_count == 1)
    # past its timeout the thread still runs: the row stays running, the slot taken, the next job waits
    follow = await ChildJob.perform_later("after")
    await asyncio.sleep(0.5)
    assert await _state(conn, job.id) == "running"
    assert worker.schedulers[0].free_slots == 0
    assert await _state(conn, follow.id) == "queued"
    SlowThreadJob.release.set()
    await wait_for(lambda: conn.fetchval("SELECT state = 'discarded' FROM good_jobs WHERE id = $1", job.id))
    error = await conn.fetchval("SELECT error FROM good_jobs WHERE id = $1", job.id)
    assert "timeout" in error and "could not be stopped" in error
    await wait_for(lambda: conn.fetchval("SELECT state = 'succeeded' FROM good_jobs WHERE id = $1", follow.id))


async def test_callbacks_from_a_base_class(start_worker: Any, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)
    refused = await ChildJob.perform_later("refuse")
    assert not refused and refused.reason
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 0
    await ChildJob.perform_later("ok")
    assert SEEN == [("before_enqueue", ("ok",)), ("after_enqueue", True)]
    SEEN.clear()
    await start_worker()
    await wait_for(lambda: ("around:after", "ChildJob") in SEEN)
    assert SEEN == [("before_perform", 1), ("around:before", "ChildJob"), ("perform", "ok"),
                    ("around:after", "ChildJob"), ("after_perform", 1)]
    SEEN.clear()
    await FailingChildJob.perform_later("x")
    await wait_for(lambda: ("around:after", "FailingChildJob") in SEEN)
    assert ("captured", "LookupError") in SEEN


async def test_enqueue_aborted_exception(conn: asyncpg.Connection) -> None:
    class Picky(goodjob.Job):
        def before_enqueue(self) -> None:
            raise goodjob.EnqueueAborted("not today")

        async def perform(self) -> None:
            pass

    got: list[events.Event] = []
    goodjob.subscribe("enqueue_refused", got.append)
    result = await Picky.perform_later()
    assert not result and result.reason == "not today"
    assert got[0].payload["reason"] == "not today"


async def test_interruption_by_shutdown_is_never_deleted(start_worker: Any, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=False)

    class Forever(goodjob.Job):
        async def perform(self) -> None:
            await asyncio.sleep(60)

    worker = await start_worker()
    job = await Forever.perform_later()
    await wait_for(lambda: worker.running_count == 1)
    interrupted = await worker.shutdown(timeout=0)
    assert [j.id for j in interrupted] == [job.id]
    row = await conn.fetchrow("SELECT state, error_event, locked_by_id FROM good_jobs WHERE id = $1", job.id)
    assert row["state"] == "queued" and row["error_event"] == "interrupted" and row["locked_by_id"] is None
    assert await _outcomes(conn, job.id) == ["interrupted"]


async def test_cleanup_by_age_api_and_automatic(start_worker: Any, conn: asyncpg.Connection) -> None:
    goodjob.configure(preserve_job_records=True)
    for _ in range(3):
        await ChildJob.perform_later("old")
    await conn.execute("UPDATE good_jobs SET state = 'succeeded', finished_at = now() - interval '2 days'")
    await ChildJob.perform_later("recent")
    await conn.execute("UPDATE good_jobs SET state = 'succeeded', finished_at = now() WHERE finished_at IS NULL")
    await ChildJob.perform_later("waiting")
    got: list[events.Event] = []
    goodjob.subscribe("cleanup", got.append)
    assert await goodjob.cleanup_preserved_jobs() == 3
    assert got and got[0].payload["deleted"] == 3
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 2
    assert await goodjob.cleanup_preserved_jobs(older_than=0) == 1
    # automatic: the worker cleans every N performed jobs
    await conn.execute("UPDATE good_jobs SET finished_at = now() - interval '2 days', state = 'succeeded'")
    await ChildJob.perform_later("trigger")
    await start_worker(cleanup_interval_jobs=1, cleanup_preserved_jobs_before_seconds_ago=3600)
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 1 FROM good_jobs"))  # only the fresh one left


async def test_events_with_payloads(start_worker: Any, conn: asyncpg.Connection) -> None:
    received: list[events.Event] = []
    goodjob.subscribe("*", received.append)
    worker = await start_worker()
    job = await ChildJob.perform_later("evented")
    bad = await DiscardedJob.perform_later()
    await wait_for(lambda: sum(e.name == "perform_finish" for e in received) == 2)
    await worker.shutdown(timeout=5)
    names = [e.name for e in received]
    for name in ("worker_start", "enqueue", "perform_start", "perform_finish", "discard", "worker_stop",
                 "notifier_connected"):
        assert name in names, names
    enq = next(e for e in received if e.name == "enqueue" and e.payload["job_id"] == job.id)
    assert enq.payload["job_class"].endswith("ChildJob") and enq.payload["queue_name"] == "default"
    fin = next(e for e in received if e.name == "perform_finish" and e.payload["job_id"] == job.id)
    assert fin.payload["outcome"] == "succeeded" and fin.payload["duration_ms"] >= 0
    disc = next(e for e in received if e.name == "discard")
    assert disc.payload["job_id"] == bad.id and disc.payload["error_class"] == "ValueError"
    with pytest.raises(ValueError, match="unknown goodjob event"):
        goodjob.subscribe("perform_finsh", print)


async def test_opentelemetry_links_enqueue_and_perform(start_worker: Any, conn: asyncpg.Connection) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from goodjob.core import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    original = tracing.trace.get_tracer_provider
    tracing.trace.get_tracer_provider = lambda: provider  # type: ignore[assignment]
    original_get_tracer = tracing.trace.get_tracer
    tracing.trace.get_tracer = provider.get_tracer  # type: ignore[assignment]
    tracing.recheck()  # active() keeps its answer for a second
    try:
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("web request"):
            await ChildJob.perform_later("traced")
        await start_worker()
        await wait_for(lambda: any(s.name.startswith("goodjob perform") for s in exporter.get_finished_spans()))
    finally:
        tracing.trace.get_tracer_provider = original  # type: ignore[assignment]
        tracing.trace.get_tracer = original_get_tracer  # type: ignore[assignment]
        tracing.recheck()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    request = spans["web request"]
    enqueue = next(s for n, s in spans.items() if n.startswith("goodjob enqueue"))
    perform = next(s for n, s in spans.items() if n.startswith("goodjob perform"))
    assert enqueue.parent.span_id == request.context.span_id
    assert perform.context.trace_id == request.context.trace_id
    assert perform.parent.span_id == enqueue.context.span_id
    assert trace.SpanKind.CONSUMER == perform.kind
