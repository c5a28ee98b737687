"""Which driver errors count as "the connection went away" (retried quietly by every loop)."""

from __future__ import annotations

import asyncpg

from goodjob.core.storage.db import is_connection_error


def test_a_connection_cut_mid_query_is_a_connection_error() -> None:
    # What `pg_ctl restart -m fast` can produce while a query is in flight (issue 11).
    cut = asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress")
    assert is_connection_error(cut)
    assert is_connection_error(asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"))
    assert is_connection_error(ConnectionResetError())


def test_sql_errors_are_not_connection_errors() -> None:
    assert not is_connection_error(asyncpg.UniqueViolationError("duplicate key"))
    assert not is_connection_error(ValueError("bad"))
