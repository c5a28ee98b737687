"""Which worker answers a NOTIFY: no thundering herd when many workers serve one queue.

Every worker hears every NOTIFY. If each one claimed, N workers would send N claims for one job
(N-1 of them finding nothing, and all of them competing with the enqueuers for the primary). Instead
each worker knows the cluster's live workers (their ids, threads and queue strings, from the
heartbeat statement) and ranks them for each notification by rendezvous hashing of the
notification's key (its queue and scheduled time, to the microsecond) with each worker's id. Every
worker computes the same ranking without talking to the others; the first ranked workers whose
threads add up to the payload's ``count`` answer, and the rest stay quiet. The first job loses no
latency: the chosen worker claims at once.

The ranking is a hint, like NOTIFY itself: a worker missing from someone's view (just started, or
not yet heard of) answers anyway; a chosen worker that is busy claims when a slot frees; a chosen
worker that died is replaced at the next heartbeat; and the poll (every ``poll_interval``) claims
whatever nobody answered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from uuid import UUID

from goodjob.core.errors import QueueStringError
from goodjob.core.queues import PoolSpec, parse_queues


def notification_key(queue: str, at: float | None) -> bytes:
    """The same bytes in every worker for one notification (or cache entry) of ``queue``."""
    micros = round(at * 1_000_000) if at is not None else 0
    return f"{queue}|{micros}".encode()


class WakeRouter:
    def __init__(self, own_id: UUID) -> None:
        self.own_id = own_id
        self._members: list[tuple[UUID, int, tuple[PoolSpec, ...]]] = []
        self._specs: dict[tuple[str, int], tuple[PoolSpec, ...]] = {}

    def set_members(self, members: Sequence[tuple[UUID, int, str]]) -> None:
        parsed = []
        for ident, threads, queues in members:
            specs = self._specs.get((queues, threads))
            if specs is None:
                try:
                    specs = tuple(parse_queues(queues, max(threads, 1)))
                except (QueueStringError, ValueError):
                    specs = ()
                self._specs[(queues, threads)] = specs
            parsed.append((ident, max(threads, 1), specs))
        self._members = parsed

    @property
    def size(self) -> int:
        return len(self._members)

    def answers(self, queue: str, key: bytes, count: int = 1) -> bool:
        """Whether this worker is among those that claim for this notification."""
        serving = [(ident, threads) for ident, threads, specs in self._members
                   if any(spec.matches(queue) for spec in specs)]
        if len(serving) <= 1 or all(ident != self.own_id for ident, _ in serving):
            return True
        serving.sort(key=lambda m: hashlib.blake2b(key + m[0].bytes, digest_size=8).digest())
        wanted = max(int(count), 1)
        for ident, threads in serving:
            if ident == self.own_id:
                return True
            wanted -= threads
            if wanted <= 0:
                return False
        return True
