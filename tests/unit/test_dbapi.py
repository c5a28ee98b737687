"""The named queries as pyformat statements for DB-API drivers (complete_sync)."""

from __future__ import annotations

import re
import uuid

from goodjob.core.storage import dbapi
from goodjob.core.storage.sql_files import sql


def test_every_placeholder_becomes_a_named_one_and_nothing_else_changes() -> None:
    text = dbapi.pyformat("record_outcomes")
    assert "$" not in text
    numbers = {int(n) for n in re.findall(r"%\(p(\d+)\)s", text)}
    assert numbers == set(range(1, 23))  # $10..$22 are not read as $1 followed by a digit
    assert re.sub(r"%\(p(\d+)\)s", r"$\1", text).replace("%%", "%") == sql("record_outcomes")


def test_a_literal_percent_is_doubled() -> None:
    assert dbapi.convert("SELECT $1 % 2, '%x' LIKE $12") == "SELECT %(p1)s %% 2, '%%x' LIKE %(p12)s"


def test_ids_go_as_text_for_every_driver() -> None:
    u = uuid.uuid4()
    params = dbapi._params([u, [u, None], "x", 3])
    assert params == {"p1": str(u), "p2": [str(u), None], "p3": "x", "p4": 3}
