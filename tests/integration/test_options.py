"""Bad per-enqueue options fail in the caller with a clear GoodJobError and write nothing; labels are
normalised; argument key order round-trips; database_url cannot silently change after first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from helpers import wait_for

import goodjob
from goodjob.core.errors import GoodJobError, JobOptionError, QueueStringError
from goodjob.core.queues import parse_queues
from goodjob.core.runtime import get_runtime

SEEN: list[Any] = []


class EchoJob(goodjob.Job):
    async def perform(self, *args: Any, **kwargs: Any) -> None:
        SEEN.append((args, kwargs))


class BadTimeoutJob(goodjob.Job):
    timeout = -1

    async def perform(self) -> None:
        return None


@pytest.mark.parametrize("options,match", [
    ({"priority": 2**40}, r"priority=1099511627776 is out of range; use a whole number from -2147483648 to 2147483647"),
    ({"priority": True}, r"priority=True must be an int"),
    ({"queue": "x" * 10000}, r"queue='xxxxxxxxxxxxxxxxxxxx'\.\.\. is 10000 characters long; use at most 255"),
    ({"queue": ""}, r"queue='' must be a non-empty string"),
    ({"wait": 1e20}, r"wait=1e\+20 is out of range; use a finite number of seconds up to"),
    ({"wait": float("nan")}, r"wait=nan is out of range"),
    ({"wait": "5"}, r"wait='5' must be a number of seconds or a timedelta"),
    ({"labels": [1, None]}, r"labels item 1 \(int\) is not a string"),
    ({"labels": "abc"}, r"labels='abc' is a single string; pass a list of labels"),
    ({"timeout": -1}, r"timeout=-1 is out of range; use seconds > 0"),
    ({"timeout": float("inf")}, r"timeout=inf is out of range"),
])
async def test_bad_options_fail_before_anything_is_written(
    options: dict[str, Any], match: str, conn: asyncpg.Connection
) -> None:
    with pytest.raises(JobOptionError, match=match) as info:
        await EchoJob.set(**options).perform_later()
    assert isinstance(info.value, GoodJobError)
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 0


async def test_bad_class_attribute_fails_at_enqueue(conn: asyncpg.Connection) -> None:
    with pytest.raises(JobOptionError, match=r"BadTimeoutJob.timeout=-1 is out of range"):
        await BadTimeoutJob.perform_later()
    assert await conn.fetchval("SELECT count(*) FROM good_jobs") == 0


def test_queue_thread_count_out_of_range() -> None:
    with pytest.raises(QueueStringError, match=r"thread count '99999999999999999999' is too large \(at most 10000\)"):
        parse_queues("mail:99999999999999999999", 5)
    with pytest.raises(goodjob.ConfigurationError, match="too large"):
        goodjob.configure(queues="mail:99999999999999999999")


async def test_labels_are_stripped_deduplicated_and_empty_ones_dropped(conn: asyncpg.Connection) -> None:
    job = await EchoJob.set(labels=["  gopher  ", "gopher", "", "  ", "mole"]).perform_later()
    assert await conn.fetchval("SELECT labels FROM good_jobs WHERE id = $1", job.id) == ["gopher", "mole"]
    bulk = EchoJob.set(labels=[" a ", "a"]).new()
    assert list(bulk.request.labels) == ["a"]


async def test_argument_key_order_round_trips(start_worker: Any, conn: asyncpg.Connection) -> None:
    SEEN.clear()
    await start_worker()
    nested = {"zebra": 1, "ant": 2, "mm": {"b": 1, "a": 2}}
    await EchoJob.perform_later(nested, zeta=1, alpha=2, mid=3)
    await wait_for(lambda: SEEN)
    (args, kwargs), = SEEN
    assert list(kwargs) == ["zeta", "alpha", "mid"]
    assert list(args[0]) == ["zebra", "ant", "mm"] and list(args[0]["mm"]) == ["b", "a"]
    assert args[0] == nested


@pytest.fixture
def other(make_database: Callable[..., str]) -> str:
    return make_database()


async def test_database_url_cannot_change_silently_after_first_use(
    gj: str, other: str, conn: asyncpg.Connection
) -> None:
    await EchoJob.perform_later()  # first use: the runtime now talks to `gj`
    with pytest.raises(goodjob.ConfigurationError, match="cannot take effect: goodjob already uses"):
        goodjob.configure(database_url=other)
    assert goodjob.current_config().database_url == gj  # the failed call changed nothing
    goodjob.configure(database_url=gj)  # the same URL is fine
    await get_runtime().close_database()
    get_runtime().reset()
    goodjob.configure(database_url=other)  # after a reset it applies
    await EchoJob.perform_later()
    check = await asyncpg.connect(other)
    try:
        assert await check.fetchval("SELECT count(*) FROM good_jobs") == 1
    finally:
        await check.close()
        await get_runtime().close_database()
