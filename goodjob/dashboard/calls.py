"""A job's arguments as the call an operator would write: ``SendWelcomeEmail(2413, "user@example.com")``.

The list reads the first few hundred characters of ``args`` and ``kwargs`` (JSON); a value cut off
there is shown up to the cut with an ellipsis rather than as broken JSON.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["call_text", "short_class"]

MAX_CALL = 160


def short_class(job_class: str) -> str:
    """``app.jobs.SendWelcomeEmail`` -> ``SendWelcomeEmail`` (the full name is on the job's page)."""
    return job_class.rpartition(".")[2] or job_class


def call_text(job_class: str, args_json: str | None, kwargs_json: str | None, limit: int = MAX_CALL) -> str:
    parts: list[str] = []
    complete = True
    args = _load(args_json)
    if isinstance(args, list):
        parts += [_value(v) for v in args]
    elif args_json:
        parts.append(args_json.strip("[]"))
        complete = False
    kwargs = _load(kwargs_json)
    if isinstance(kwargs, dict):
        parts += [f"{k}={_value(v)}" for k, v in kwargs.items()]
    elif kwargs_json and kwargs_json != "{}":
        parts.append(kwargs_json.strip("{}"))
        complete = False
    inner = ", ".join(parts)
    text = f"{short_class(job_class)}({inner}{'' if complete else '…'})"
    return text if len(text) <= limit else text[: limit - 2] + "…)"


def _load(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _value(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))
