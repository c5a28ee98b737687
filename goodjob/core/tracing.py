"""Optional OpenTelemetry spans: used when ``opentelemetry-api`` is installed, free otherwise.

Enqueue runs in a PRODUCER span and stores its W3C trace context with the job (in the row's
params, under ``meta.trace``); perform runs in a CONSUMER span whose parent is that context, so a
trace shows the request that enqueued a job and the job's run, even across processes and hours.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

try:  # pragma: no cover - depends on the environment
    from opentelemetry import propagate, trace

    ENABLED = True
except ImportError:  # pragma: no cover
    ENABLED = False

_TRACER = "goodjob"


@contextlib.contextmanager
def enqueue_span(job_class: str, queue_name: str) -> Iterator[dict[str, str] | None]:
    """A PRODUCER span around an enqueue; yields the trace carrier to store with the job."""
    if not ENABLED:
        yield None
        return
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(
        f"goodjob enqueue {job_class}",
        kind=trace.SpanKind.PRODUCER,
        attributes={"messaging.system": "goodjob", "messaging.destination.name": queue_name,
                    "goodjob.job_class": job_class},
    ):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield carrier or None


@contextlib.contextmanager
def perform_span(job: Any, carrier: Mapping[str, str] | None) -> Iterator[None]:
    """A CONSUMER span around one attempt, parented by the enqueue's stored context."""
    if not ENABLED:
        yield
        return
    tracer = trace.get_tracer(_TRACER)
    parent = propagate.extract(dict(carrier)) if carrier else None
    with tracer.start_as_current_span(
        f"goodjob perform {job.job_class}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.system": "goodjob", "messaging.destination.name": job.queue_name,
                    "goodjob.job_class": job.job_class, "goodjob.job_id": str(job.id),
                    "goodjob.attempt": job.executions_count},
    ) as span:
        try:
            yield
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
            raise


def active() -> bool:
    """True when an SDK tracer provider is configured (a no-op API alone records nothing).

    Asked per enqueue and per job. OpenTelemetry's ``get_tracer_provider()`` reads ``os.environ``
    on every call until a provider is set (2-3% of a drain's worker CPU), so the answer is kept
    for a second: a provider installed after the first job is used from at most a second later.
    """
    global _active, _checked_at
    if not ENABLED:
        return False
    now = time.monotonic()
    if now - _checked_at >= RECHECK_SECONDS:
        provider = trace.get_tracer_provider()
        _active = type(provider).__name__ not in ("ProxyTracerProvider", "NoOpTracerProvider")
        _checked_at = now
    return _active


def recheck() -> None:
    """Forget the kept answer of :func:`active` (for code that has just installed a provider)."""
    global _checked_at
    _checked_at = -math.inf


RECHECK_SECONDS = 1.0
_active = False
_checked_at = -math.inf
