"""NOTIFY channels per queue (storage/channels.py, migration 0010): a worker whose pools name their
queues hears only those queues and the control channel; "*" and "-a" workers hear everything."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from helpers import wait_for

import goodjob
from goodjob import jobs
from goodjob.core.queues import parse_queues
from goodjob.core.storage.channels import CHANNEL, CONTROL_CHANNEL, listen_channels, queue_channel
from goodjob.core.worker.launcher import Worker

StartWorker = Callable[..., Awaitable[Worker]]
RAN: list[str] = []


class ChannelJob(goodjob.Job):
    async def perform(self, label: str) -> None:
        RAN.append(label)


class LongChannelJob(goodjob.Job):
    async def perform(self) -> None:
        RAN.append("started")
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            RAN.append("cancelled")
            raise


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


@pytest.mark.parametrize("queue", ["mail", "a" * 300, "Ünïcødé queue", "with'quote", " spaced "])
async def test_python_and_sql_derive_the_same_channel(conn: asyncpg.Connection, queue: str) -> None:
    channel = queue_channel(queue)
    assert channel == await conn.fetchval("SELECT good_job_queue_channel($1)", queue)
    assert len(channel.encode()) <= 63  # a Postgres identifier: a longer name would be truncated


def test_which_channels_a_worker_listens_on() -> None:
    assert listen_channels(parse_queues("mail:2;*", 5)) == [CHANNEL]
    assert listen_channels(parse_queues("-mail", 5)) == [CHANNEL]
    assert listen_channels(parse_queues("mail,batch:2;+mail,other:1", 5)) == [
        CONTROL_CHANNEL, *sorted({queue_channel("mail"), queue_channel("batch"), queue_channel("other")})]


async def test_a_job_announcement_reaches_the_shared_and_the_queue_channel(gj: str) -> None:
    listener = await asyncpg.connect(gj)
    heard: list[tuple[str, str]] = []
    for channel in (CHANNEL, queue_channel("mail"), queue_channel("other"), CONTROL_CHANNEL):
        await listener.add_listener(channel, lambda _c, _p, ch, payload: heard.append((ch, payload)))
    try:
        await ChannelJob.set(queue="mail").perform_later("single")
        await goodjob.perform_all_later([ChannelJob.set(queue="mail").new("bulk")])  # the uniform bulk path
        await goodjob.perform_all_later([ChannelJob.set(queue="mail", priority=i).new("mixed") for i in range(2)])
        await goodjob.pause(queue="elsewhere")
        await listener.execute("SELECT 1")
        await wait_for(lambda: len(heard) >= 8, timeout=10)
        await asyncio.sleep(0.05)
        by_channel: dict[str, list[dict[str, object]]] = {}
        for channel, payload in heard:
            by_channel.setdefault(channel, []).append(json.loads(payload))
        jobs = [{"queue": "mail", "count": 1}, {"queue": "mail", "count": 1}, {"queue": "mail", "count": 2}]
        assert [{k: p[k] for k in ("queue", "count")} for p in by_channel[queue_channel("mail")]] == jobs
        assert by_channel[CHANNEL][-1] == {"paused": True} and len(by_channel[CHANNEL]) == 4
        assert by_channel[CONTROL_CHANNEL] == [{"paused": True}]  # job announcements stay off it
        assert queue_channel("other") not in by_channel
    finally:
        await goodjob.resume(queue="elsewhere")
        await listener.close()


async def test_a_named_queue_worker_is_not_woken_by_other_queues(start_worker: StartWorker) -> None:
    worker = await start_worker(queues="mail:2", poll_interval=-1)  # NOTIFY alone must start its jobs
    everything = await start_worker(queues="*", poll_interval=-1, max_threads=1)
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    await wait_for(lambda: everything.notifier is not None and everything.notifier.connected)
    assert worker.notifier is not None and everything.notifier is not None
    assert CHANNEL not in worker.notifier.channels and everything.notifier.channels == (CHANNEL,)
    # Scheduled far ahead: nobody runs them, but a "*" worker hears of them (its cache needs to).
    await goodjob.perform_all_later([ChannelJob.set(queue="other", wait=3600).new(str(i)) for i in range(3)])
    for i in range(3):
        await ChannelJob.set(queue="other", wait=3600).perform_later(f"single {i}")
    await wait_for(lambda: everything.notifier is not None and everything.notifier.received >= 4, timeout=10)
    assert worker.notifier.received == 0  # none of "other"'s four announcements woke it
    started = time.monotonic()
    await ChannelJob.set(queue="mail").perform_later("mail")
    await wait_for(lambda: "mail" in RAN, timeout=10)
    assert time.monotonic() - started < 5  # woken by its queue's channel, not by a poll
    assert worker.notifier.received == 1  # its queue's announcement


async def test_a_named_queue_worker_still_hears_cancels_and_pauses(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    goodjob.configure(preserve_job_records=True)
    worker = await start_worker(queues="mail:2", poll_interval=-1)
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    await goodjob.pause(queue="mail")
    await wait_for(lambda: worker.services.pauses.current.queues == ("mail",), timeout=10)
    await ChannelJob.set(queue="mail").perform_later("held")
    await asyncio.sleep(0.3)
    assert RAN == []
    started = time.monotonic()
    await goodjob.resume(queue="mail")
    await wait_for(lambda: RAN == ["held"], timeout=10)
    assert time.monotonic() - started < 3  # the resume reached it by NOTIFY (no poll)
    job = await LongChannelJob.set(queue="mail").perform_later()
    await wait_for(lambda: "started" in RAN, timeout=10)
    started = time.monotonic()
    await jobs.cancel(job.id)
    await wait_for(lambda: "cancelled" in RAN, timeout=10)
    assert time.monotonic() - started < 3  # by NOTIFY on the control channel, not the heartbeat
    await wait_for(lambda: conn.fetchval("SELECT state = 'discarded' FROM good_jobs WHERE id = $1", job.id))


async def test_a_named_queue_worker_listens_again_on_its_channels_after_a_cut(
    start_worker: StartWorker, conn: asyncpg.Connection
) -> None:
    worker = await start_worker(queues="mail:2", poll_interval=-1)  # NOTIFY alone must start the job
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    killed = await conn.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'goodjob-session' AND datname = current_database()"
    )
    assert killed == 1
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connections >= 2, timeout=20)
    await wait_for(lambda: worker.notifier is not None and worker.notifier.connected)
    listening = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'goodjob-session'"
        " AND datname = current_database()")
    assert listening == 1
    started = time.monotonic()
    await ChannelJob.set(queue="mail").perform_later("after the cut")
    await wait_for(lambda: "after the cut" in RAN, timeout=10)
    assert time.monotonic() - started < 5  # its queue's channel again, not a poll (there is none)
