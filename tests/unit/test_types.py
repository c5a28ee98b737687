"""Results built for a uniform bulk enqueue (types.accepted_all) are ordinary frozen Enqueued values."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from goodjob.core.types import Enqueued, accepted_all


def test_accepted_all_builds_the_same_values_as_the_constructor() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [uuid.uuid4() for _ in range(3)]
    built = accepted_all(ids, "mail", -5, at)
    assert built == [Enqueued(i, "mail", -5, at) for i in ids]
    assert [hash(e) for e in built] == [hash(Enqueued(i, "mail", -5, at)) for i in ids]
    assert all(e and e.enqueued and e.reason is None for e in built)
    assert repr(built[0]) == repr(Enqueued(ids[0], "mail", -5, at))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built[0].queue_name = "other"  # type: ignore[misc]
    assert accepted_all([], "mail", 0, at) == []
