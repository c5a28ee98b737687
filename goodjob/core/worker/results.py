"""What a result writes: the columns of the results, history and return-value statements, built
from outcomes, and which finished rows are kept (the seed's preserve_job_records rules).

Pure functions of :class:`~goodjob.core.types.Outcome`: the recorder writes them on its pool, and
``current_job().complete()`` on the caller's own connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal
from uuid import UUID

from goodjob.core.types import Outcome, OutcomeKind

Preserve = bool | Literal["on_unhandled_error"]


def keeps_row(outcome: Outcome, preserve: Preserve) -> bool:
    """Whether a finished job's row stays in the table (the seed's preserve_job_records rules)."""
    kind = outcome.kind
    if kind in (OutcomeKind.RETRIED, OutcomeKind.INTERRUPTED, OutcomeKind.THROTTLED, OutcomeKind.SNOOZED):
        return True  # it runs again: never deleted
    if kind is OutcomeKind.CANCELLED:
        return True  # an operator's cancel stays visible (as discarded) until the cleanup removes it
    if outcome.job.batch_id is not None:
        return True  # a batch's progress, job list and retry read its rows (core/batches.py)
    if preserve is True:
        return True
    if preserve == "on_unhandled_error":
        return kind is OutcomeKind.DISCARDED and outcome.unhandled
    return False


_STATE = {
    OutcomeKind.SUCCEEDED: "succeeded",
    OutcomeKind.HANDLED: "succeeded",
    OutcomeKind.DISCARDED: "discarded",
    OutcomeKind.RETRIED: "queued",
    OutcomeKind.INTERRUPTED: "queued",
    OutcomeKind.THROTTLED: "queued",
    OutcomeKind.SNOOZED: "queued",
    OutcomeKind.CANCELLED: "discarded",
}


def result_columns(outcomes: Sequence[Outcome]) -> tuple[list[Any], ...]:
    ids, states, finished, errors, events, scheduled, deltas = [], [], [], [], [], [], []
    for o in outcomes:
        state = _STATE[o.kind]
        ids.append(o.job.id)
        states.append(state)
        finished.append(o.finished_at if state in ("succeeded", "discarded") else None)
        errors.append(_error_text(o))
        events.append(_event(o))
        scheduled.append(o.retry_at if state == "queued" else None)
        # A throttled attempt did not run, a snoozed one asked to be put off: neither counts.
        deltas.append(-1 if o.kind in (OutcomeKind.THROTTLED, OutcomeKind.SNOOZED) else 0)
    return ids, states, finished, errors, events, scheduled, deltas


def _error_text(o: Outcome) -> str | None:
    """``good_jobs.error`` as GoodJob writes it, ``'RuntimeError: message'``: the dashboard's error
    search and anyone reading the row see which exception it was (executions keep both apart)."""
    if o.kind is OutcomeKind.INTERRUPTED:
        return f"goodjob.core.errors.InterruptedJobError: {o.error or 'interrupted'}"
    if o.error_class is None:
        return o.error
    return f"{o.error_class}: {o.error}" if o.error else o.error_class


def _event(o: Outcome) -> str | None:
    if o.kind is OutcomeKind.SUCCEEDED:
        return None
    if o.kind is OutcomeKind.DISCARDED:
        return "unhandled" if o.unhandled else "discarded"
    if o.kind is OutcomeKind.RETRIED:
        return "unhandled" if o.unhandled else "retried"
    return str(o.kind)


def execution_columns(outcomes: Sequence[Outcome]) -> tuple[list[Any], ...]:
    cols: tuple[list[Any], ...] = tuple([] for _ in range(12))
    for o in outcomes:
        j = o.job
        values = (
            j.id, j.executions_count, j.queue_name, j.job_class, j.scheduled_at, o.started_at,
            o.finished_at, o.duration_ms, str(o.kind), o.error_class, o.error, o.error_backtrace,
        )
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    return cols


def return_value_columns(outcomes: Sequence[Outcome]) -> tuple[list[UUID], list[str]]:
    """Ids and JSON texts of the outcomes that carry a return value (only jobs that keep one)."""
    kept = [o for o in outcomes if o.return_value is not None]
    return [o.job.id for o in kept], [o.return_value for o in kept if o.return_value is not None]
