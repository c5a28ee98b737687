"""The NOTIFY channels goodjob uses, and which of them a worker LISTENs on.

* ``good_job``: every announcement (jobs of any queue, pauses, cancels). "*" and "-a,b" pools and
  the dashboard's live view listen here: they may serve any queue.
* ``good_job_q_<hash>``, one per queue: that queue's job announcements, again. A worker whose pools
  all name their queues (``mail:2;batch:1``) listens only on these and on
* ``good_job_control``: what every worker must hear whatever it serves (pause changes, cancels).

Why: every NOTIFY a process listens for wakes it (~0.13 ms of client CPU per notification on a
2-core box, more than the enqueue's own statement), so workers dedicated to other queues cost an
enqueuer as much as workers serving its queue. A channel is an identifier of at most 63 bytes and a
queue name may be longer, hence the hash. The enqueue statements take the channel as a parameter
(computing it in SQL costs the server ~50 us per statement); the rarer statements that announce
rows they move (retries, "run now") use migration 0010's ``good_job_notify``, whose
``good_job_queue_channel`` derives the same name.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable

from goodjob.core.queues import PoolSpec

CHANNEL = "good_job"
CONTROL_CHANNEL = "good_job_control"
_QUEUE_PREFIX = "good_job_q_"


@functools.lru_cache(maxsize=1024)
def queue_channel(queue: str) -> str:
    """The channel of ``queue``'s job announcements (the same as SQL ``good_job_queue_channel``)."""
    return _QUEUE_PREFIX + hashlib.sha256(queue.encode()).hexdigest()[:32]


def listen_channels(pools: Iterable[PoolSpec]) -> list[str]:
    """The channels of a worker with these pools: the shared one if a pool may serve any queue
    ("*", "-a,b"); else the control channel and the channel of every queue the pools name."""
    pools = list(pools)
    if any(spec.kind != "include" for spec in pools):
        return [CHANNEL]
    return [CONTROL_CHANNEL, *sorted({queue_channel(q) for spec in pools for q in spec.queues})]
