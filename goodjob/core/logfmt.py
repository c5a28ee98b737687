"""How goodjob's log records look: plain text for people, JSON lines for log pipelines.

The job lines carry their facts in ``record.goodjob`` (a dict: event, job id, class, queue, attempt,
duration, outcome). :class:`JsonFormatter` lifts them into top-level fields, so a pipeline can
filter on ``outcome`` or chart ``duration_ms`` without parsing the message. ``goodjob`` commands use
it with ``GOOD_JOB_LOG_FORMAT=json``; an application can put it on any handler.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

__all__ = ["FORMATS", "TEXT_FORMAT", "JsonFormatter", "formatter"]

# The logger name is the prefix ("goodjob: started job ..."); messages themselves carry none, so a
# host's own format (uvicorn, basicConfig's "%(levelname)s:%(name)s:%(message)s") never doubles it.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
_FIELDS = ("event", "job_id", "job_class", "queue_name", "attempt", "duration_ms", "outcome", "error")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's goodjob fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        facts = getattr(record, "goodjob", None)
        if isinstance(facts, dict):
            for key in _FIELDS:
                if facts.get(key) is not None:
                    out["queue" if key == "queue_name" else key] = _plain(facts[key])
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def formatter(kind: str) -> logging.Formatter:
    """The formatter for ``GOOD_JOB_LOG_FORMAT``: ``text`` (the default) or ``json``."""
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)


def _plain(value: object) -> object:
    return value if isinstance(value, (str, int, float, bool)) else str(value)
