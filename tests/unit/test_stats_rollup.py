"""The statistics rollup (core/stats.py) against the plain per-attempt definition it replaced.

The recorder rolls up every finished attempt once a second, so ``rollup`` sums per hour first and
makes the day rows from the hour sums, reusing a row's hour while the next rows stay in it. These
tests hold it to the straightforward definition (every attempt counted into its hour row and its
UTC-day row) across hour and day boundaries, unsorted input, half-hour time zones (where one local
hour spans two UTC days) and naive datetimes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from goodjob.core import stats


def _plain(rows: list[tuple[datetime, str, str, str, float | None]]) -> list[tuple[Any, ...]]:
    acc: dict[tuple[Any, ...], list[float]] = {}
    for finished_at, queue, job_class, outcome, ms in rows:
        if outcome in stats.NOT_COUNTED:
            continue
        value = max(float(ms or 0.0), 0.0)
        b = stats.bin_of(value)
        for key in ((1, stats.hour_of(finished_at), queue, job_class, b),
                    (24, stats.day_of(finished_at), queue, job_class, b)):
            a = acc.setdefault(key, [0, 0, 0.0, 0.0])
            a[0] += 1
            a[1] += outcome in stats.FAILURES
            a[2] += value
            a[3] = max(a[3], value)
    return [(*key, int(a[0]), int(a[1]), a[2], a[3]) for key, a in sorted(acc.items())]


@pytest.mark.parametrize("tz", [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-7)), None],
                         ids=["utc", "plus-5h30", "minus-7h", "naive"])
@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "shuffled"])
def test_rollup_matches_the_per_attempt_definition(tz: timezone | None, shuffled: bool) -> None:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, 22, 10, tzinfo=tz)  # crosses hours and, in UTC, midnight
    rows: list[Any] = sorted(
        ((start + timedelta(seconds=rng.uniform(0, 9_000)), rng.choice("ab"), rng.choice("XY"),
          rng.choice(["succeeded", "retried", "discarded", "throttled"]),
          rng.choice([0, None, 0.05, 3.0, rng.uniform(0, 99)]))
         for _ in range(3_000)),
        key=lambda r: r[0],
    )
    if shuffled:
        rng.shuffle(rows)
    got, want = stats.rollup(rows), _plain(rows)
    assert [r[:7] for r in got] == [r[:7] for r in want]  # keys, executions, failures
    assert [r[8] for r in got] == [r[8] for r in want]  # max
    assert all(abs(g[7] - w[7]) < 1e-6 for g, w in zip(got, want, strict=True))  # sums (float order)
    spans = {r[0] for r in got}
    assert spans == {1, 24}


def test_one_local_hour_split_across_two_utc_days() -> None:
    # +05:30: local 05:00-06:00 is UTC 23:30-00:30, so one hour row feeds two day rows.
    tz = timezone(timedelta(hours=5, minutes=30))
    rows = [(datetime(2026, 1, 2, 5, 10, tzinfo=tz), "q", "C", "succeeded", 1.0),
            (datetime(2026, 1, 2, 5, 50, tzinfo=tz), "q", "C", "succeeded", 1.0)]
    days = [r for r in stats.rollup(rows) if r[0] == 24]
    assert [(r[1], r[5]) for r in days] == [(datetime(2026, 1, 1, tzinfo=UTC), 1),
                                            (datetime(2026, 1, 2, tzinfo=UTC), 1)]
    hours = [r for r in stats.rollup(rows) if r[0] == 1]
    assert [r[5] for r in hours] == [2]
