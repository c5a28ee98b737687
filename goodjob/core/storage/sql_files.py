"""Read the package's ``sql/*.sql`` files into named queries (``schema.sql`` aside).

A file is a run of ``-- name: <query>`` blocks; comment lines are dropped. A line
``-- include: <name>`` inside a block stands for that block's text, so statements that must agree
(the claims' UPDATE and the columns it returns, which ClaimedJob reads) are written once.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_INCLUDE = re.compile(r"^\s*-- include: (\w+)\s*$")  # indented like the line it replaces


@functools.cache
def queries() -> dict[str, str]:
    """All named queries, parsed once, includes expanded."""
    raw: dict[str, str] = {}
    folder = resources.files("goodjob.core.storage.sql")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql") or entry.name == "schema.sql":
            continue
        parts = _NAME.split(entry.read_text("utf-8"))
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in raw:
                raise RuntimeError(f"query {name!r} is defined twice ({entry.name})")
            raw[name] = body
    return {name: _expand(raw, name) for name in raw}


def _expand(raw: dict[str, str], name: str) -> str:
    lines: list[str] = []
    for line in raw[name].strip().splitlines():
        if (include := _INCLUDE.match(line)) is not None:
            indent = line[: len(line) - len(line.lstrip())]
            lines.extend(indent + part for part in _expand(raw, include.group(1)).splitlines())
        elif not line.lstrip().startswith("--"):
            lines.append(line)
    return "\n".join(lines).strip().rstrip(";")


def sql(name: str) -> str:
    return queries()[name]
