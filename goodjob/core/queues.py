"""Parse GoodJob's queue string (``--queues`` / ``GOOD_JOB_QUEUES``) into isolated pool specs.

The grammar is GoodJob's, so a string copied from a Ruby deployment works unchanged::

    mail:2;batch:1;-mail,batch:2;+urgent,default;*

``;`` separates isolated pools; each pool is ``QUEUES[:THREADS]``. ``QUEUES`` is ``*`` (every queue),
``a,b`` (only these), ``-a,b`` (every queue but these) or ``+a,b`` (only these, and drain them in
that order before looking at priority). A pool without ``:THREADS`` gets the default thread count.

Parsing is strict on purpose: a typo in a queue string silently starves a queue in production, so
every malformed part is an error that quotes the part, the whole string and the expected shape.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from goodjob.core.errors import QueueStringError

__all__ = ["PoolSpec", "first_match", "parse_queues"]

PoolKind = Literal["all", "include", "exclude"]


@dataclass(frozen=True)
class PoolSpec:
    """One isolated execution pool: which queues it takes jobs from and how many at once."""

    kind: PoolKind
    queues: tuple[str, ...]
    ordered: bool
    max_threads: int
    source: str

    def matches(self, queue_name: str) -> bool:
        """Whether a job on ``queue_name`` may run in this pool (used to route NOTIFY wake-ups)."""
        if self.kind == "all":
            return True
        if self.kind == "include":
            return queue_name in self.queues
        return queue_name not in self.queues

    def describe(self) -> str:
        """Canonical text of this pool (``+mail,batch:2``, ``-mail:1``, ``*:5``) for logs and the
        processes table; parsing it again gives an equal spec (apart from ``source``)."""
        if self.kind == "all":
            head = "*"
        else:
            prefix = "-" if self.kind == "exclude" else ("+" if self.ordered else "")
            head = prefix + ",".join(self.queues)
        return f"{head}:{self.max_threads}"


def parse_queues(text: str, default_threads: int) -> tuple[PoolSpec, ...]:
    """Parse a whole queue string; raise :class:`QueueStringError` on the first malformed part."""
    if isinstance(default_threads, bool) or not isinstance(default_threads, int) or default_threads < 1:
        raise QueueStringError(
            f"default thread count must be a positive integer, got {default_threads!r}; "
            "set max_threads (GOOD_JOB_MAX_THREADS) to 1 or more"
        )
    if not isinstance(text, str):
        raise QueueStringError(f"queue string must be a str, got {type(text).__name__} {text!r}")
    pools = tuple(
        _parse_pool(part.strip(), text, default_threads) for part in text.split(";") if part.strip()
    )
    if not pools:
        raise QueueStringError(f"queue string {text!r} names no pools; {_EXPECTED}")
    return pools


def first_match(pools: Sequence[PoolSpec], queue_name: str) -> int | None:
    """Index of the first pool whose filter accepts ``queue_name``, or None if no pool would run it.

    Pool order is the order in the queue string, which is how an operator expresses preference
    (dedicated pools first, the catch-all ``*`` last)."""
    for index, pool in enumerate(pools):
        if pool.matches(queue_name):
            return index
    return None


_EXPECTED = (
    "expected pools separated by ';', each QUEUES[:THREADS] where QUEUES is '*' (every queue), "
    "'a,b' (only these), '-a,b' (every queue except these) or '+a,b' (only these, in this order), "
    "THREADS is a positive integer and queue names use only letters, digits, '_', '-' and '.', "
    "e.g. 'mail:2;batch:1;-mail,batch:2;*'"
)
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.\-]*")
_THREADS = re.compile(r"[0-9]+")
# More threads than this is a typo (or an overflow waiting to happen in the claim's LIMIT), not a plan.
MAX_THREADS = 10_000


def _fail(part: str, text: str, problem: str) -> QueueStringError:
    return QueueStringError(f"invalid pool {part!r} in queue string {text!r}: {problem}; {_EXPECTED}")


def _parse_pool(part: str, text: str, default_threads: int) -> PoolSpec:
    queues_text, colon, threads_text = part.partition(":")
    if ":" in threads_text:
        raise _fail(part, text, "more than one ':'")
    max_threads = default_threads
    if colon:
        threads_text = threads_text.strip()
        if not threads_text:
            raise _fail(part, text, "missing thread count after ':'")
        if not _THREADS.fullmatch(threads_text):
            raise _fail(part, text, f"thread count {threads_text!r} is not a positive integer")
        max_threads = int(threads_text)
        if max_threads < 1:
            raise _fail(part, text, f"thread count {threads_text!r} must be at least 1")
        if max_threads > MAX_THREADS:
            raise _fail(part, text, f"thread count {threads_text!r} is too large (at most {MAX_THREADS})")

    body = queues_text.strip()
    if not body:
        raise _fail(part, text, "empty queue name (no queues before ':')")
    sign = body[0] if body[0] in "+-" else ""
    if sign:
        body = body[1:].strip()
        if not body:
            raise _fail(part, text, f"lone {sign!r} without queue names")
    if body == "*":
        if sign:
            raise _fail(part, text, f"'{sign}*' is meaningless; use '*' alone for every queue")
        return PoolSpec("all", (), False, max_threads, part)

    names: list[str] = []
    for raw in body.split(","):
        name = raw.strip()
        if not name:
            raise _fail(part, text, "empty queue name (check for ',,' or a trailing ',')")
        if name == "*":
            raise _fail(part, text, "'*' cannot be combined with queue names")
        if not _QUEUE_NAME.fullmatch(name):
            raise _fail(part, text, f"invalid queue name {name!r}")
        if name in names:
            raise _fail(part, text, f"queue {name!r} is listed twice")
        names.append(name)
    kind: PoolKind = "exclude" if sign == "-" else "include"
    return PoolSpec(kind, tuple(names), sign == "+", max_threads, part)
