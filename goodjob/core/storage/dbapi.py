"""Named queries on a caller's DB-API connection (psycopg 2 or 3, Django's PostgreSQL backend).

``current_job().complete_sync(cursor)`` writes a job's success inside the caller's own transaction,
which for ``def`` jobs and Django code runs on a synchronous driver, not on asyncpg. The statements
are the same named queries as everywhere (sql/*.sql): their ``$n`` placeholders become pyformat
``%(pn)s`` ones (a literal ``%`` doubled), and ids go as text, which every such driver adapts
(psycopg 2 cannot adapt ``uuid.UUID`` without a global registration); the statements cast them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from goodjob.core.storage.sql_files import sql

_PLACEHOLDER = re.compile(r"\$(\d+)")


@functools.cache
def pyformat(name: str) -> str:
    """The named query with pyformat placeholders: ``$3`` -> ``%(p3)s``."""
    return convert(sql(name))


def convert(text: str) -> str:
    """``$n`` placeholders to ``%(pn)s``, a literal ``%`` to ``%%``."""
    return _PLACEHOLDER.sub(r"%(p\1)s", text.replace("%", "%%"))


def _params(values: Sequence[Any]) -> dict[str, Any]:
    return {f"p{i}": _text_ids(v) for i, v in enumerate(values, start=1)}


def _text_ids(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list):
        return [str(v) if isinstance(v, UUID) else v for v in value]
    return value


def record_outcomes(
    cursor: Any, gone: list[UUID], process_id: UUID, results: tuple[list[Any], ...], now: datetime,
    executions: tuple[list[Any], ...],
) -> set[str]:
    """store.record_outcomes on a DB-API cursor; the ids (as text) of the rows it updated."""
    cursor.execute(pyformat("record_outcomes"), _params([gone, process_id, *results, now, *executions]))
    return {str(row[0]) for row in cursor.fetchall()}


def delete_finished(cursor: Any, ids: list[UUID], process_id: UUID) -> set[str]:
    """store.delete_finished on a DB-API cursor; the ids (as text) it deleted."""
    cursor.execute(pyformat("delete_finished"), _params([ids, process_id]))
    return {str(row[0]) for row in cursor.fetchall()}
