"""A small event API: goodjob's counterpart of ActiveSupport::Notifications.

``goodjob.subscribe("perform_finish", fn)`` (or ``"*"``) registers a callback that receives an
:class:`Event`. Every event is also a structured record on the ``goodjob.events`` logger (DEBUG),
with the payload in ``record.goodjob``, for log pipelines. Emitting with no subscriber and DEBUG off
costs one dict lookup, so the hot paths can afford it.

Event names: enqueue, enqueue_refused, perform_start, perform_finish, retry, discard, interrupt,
throttle, snooze, cancel, cleanup, notifier_connected, notifier_disconnected, worker_start, worker_stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("goodjob.events")

NAMES = frozenset(
    {
        "enqueue", "enqueue_refused", "perform_start", "perform_finish", "retry", "discard",
        "interrupt", "throttle", "snooze", "cancel", "cleanup", "notifier_connected", "notifier_disconnected",
        "worker_start", "worker_stop",
    }
)


@dataclass(frozen=True)
class Event:
    name: str
    payload: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


Subscriber = Callable[[Event], object]

_subscribers: dict[str, list[Subscriber]] = {}
_lock = threading.Lock()


def subscribe(name: str, callback: Subscriber) -> Callable[[], None]:
    """Call ``callback(event)`` for every event called ``name`` ("*" for all); returns an unsubscribe
    function. Callbacks run synchronously where the event happens: keep them fast."""
    if name != "*" and name not in NAMES:
        raise ValueError(f"unknown goodjob event {name!r}; known events: {', '.join(sorted(NAMES))}")
    with _lock:
        _subscribers.setdefault(name, []).append(callback)

    def unsubscribe() -> None:
        with _lock:
            callbacks = _subscribers.get(name, [])
            if callback in callbacks:
                callbacks.remove(callback)

    return unsubscribe


def active(name: str) -> bool:
    """Whether anyone listens: lets callers skip building an expensive payload."""
    return bool(_subscribers.get(name) or _subscribers.get("*")) or log.isEnabledFor(logging.DEBUG)


def emit(name: str, **payload: Any) -> None:
    callbacks = _subscribers.get(name, []) + _subscribers.get("*", [])
    debug = log.isEnabledFor(logging.DEBUG)
    if not callbacks and not debug:
        return
    event = Event(name, payload)
    if debug:
        log.debug("goodjob event %s %s", name, payload, extra={"goodjob": {"event": name, **payload}})
    for callback in callbacks:
        try:
            callback(event)
        except Exception:
            logging.getLogger("goodjob").exception("event subscriber for %r raised", name)


def clear() -> None:
    """Remove every subscriber (tests)."""
    with _lock:
        _subscribers.clear()
