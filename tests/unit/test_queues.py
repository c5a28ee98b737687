"""Unit tests for the queue string parser (goodjob.core.queues)."""

from __future__ import annotations

import dataclasses

import pytest

from goodjob.core.errors import ConfigurationError, GoodJobError, QueueStringError
from goodjob.core.queues import PoolSpec, first_match, parse_queues


def test_readme_example_gives_four_pools() -> None:
    pools = parse_queues(
        "transactional_messages:2;batch_processing:1;-transactional_messages,batch_processing:2;*", 5
    )
    assert pools == (
        PoolSpec("include", ("transactional_messages",), False, 2, "transactional_messages:2"),
        PoolSpec("include", ("batch_processing",), False, 1, "batch_processing:1"),
        PoolSpec(
            "exclude",
            ("transactional_messages", "batch_processing"),
            False,
            2,
            "-transactional_messages,batch_processing:2",
        ),
        PoolSpec("all", (), False, 5, "*"),
    )


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("*", 5, ["*:5"]),
        ("*:3", 5, ["*:3"]),
        ("mail", 4, ["mail:4"]),
        ("mail,batch:2", 4, ["mail,batch:2"]),
        ("-mail:1", 4, ["-mail:1"]),
        ("-mail,batch", 4, ["-mail,batch:4"]),
        ("+mail,batch:2", 4, ["+mail,batch:2"]),
        ("+urgent,default,low", 1, ["+urgent,default,low:1"]),
        ("mail:2;batch:1;-mail,batch:2;*", 5, ["mail:2", "batch:1", "-mail,batch:2", "*:5"]),
        ("mail:2;", 3, ["mail:2"]),
        (";mail:2;;  ;batch;", 3, ["mail:2", "batch:3"]),
        (
            "  mail , batch : 2 ; - a , b ; + c , d : 7 ; * : 1 ",
            3,
            ["mail,batch:2", "-a,b:3", "+c,d:7", "*:1"],
        ),
        ("\tmail\n", 2, ["mail:2"]),
        ("a.b-c_d,Q9:010", 1, ["a.b-c_d,Q9:10"]),
        ("_private,.dotted,9lives", 1, ["_private,.dotted,9lives:1"]),
        ("mail;mail:2", 1, ["mail:1", "mail:2"]),
        ("*:1000", 1, ["*:1000"]),
    ],
)
def test_valid_strings(text: str, default: int, expected: list[str]) -> None:
    assert [pool.describe() for pool in parse_queues(text, default)] == expected


def test_kinds_and_flags() -> None:
    everything, include, exclude, ordered = parse_queues("*;a,b;-a;+b,a", 2)
    assert (everything.kind, everything.queues, everything.ordered) == ("all", (), False)
    assert (include.kind, include.queues, include.ordered) == ("include", ("a", "b"), False)
    assert (exclude.kind, exclude.queues, exclude.ordered) == ("exclude", ("a",), False)
    assert (ordered.kind, ordered.queues, ordered.ordered) == ("include", ("b", "a"), True)


def test_source_is_the_stripped_part() -> None:
    pools = parse_queues("  mail , batch : 2 ;  *  ", 1)
    assert [pool.source for pool in pools] == ["mail , batch : 2", "*"]


def test_describe_round_trips() -> None:
    text = "+a,b:3;-c:1;d,e;*"
    pools = parse_queues(text, 4)
    again = parse_queues(";".join(pool.describe() for pool in pools), 99)
    assert [dataclasses.replace(pool, source="") for pool in pools] == [
        dataclasses.replace(pool, source="") for pool in again
    ]


def test_pool_spec_is_frozen() -> None:
    (pool,) = parse_queues("a", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pool.max_threads = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "bad_part", "problem"),
    [
        ("a,,b", "a,,b", "empty queue name"),
        ("a,", "a,", "empty queue name"),
        (",a", ",a", "empty queue name"),
        (":2", ":2", "empty queue name"),
        ("  :2", ":2", "empty queue name"),
        ("-", "-", "lone '-'"),
        ("+", "+", "lone '+'"),
        ("- :2", "- :2", "lone '-'"),
        ("a:abc", "a:abc", "'abc' is not a positive integer"),
        ("a:0", "a:0", "must be at least 1"),
        ("a:000", "a:000", "must be at least 1"),
        ("a:-1", "a:-1", "not a positive integer"),
        ("a:+1", "a:+1", "not a positive integer"),
        ("a:1.5", "a:1.5", "not a positive integer"),
        ("a:1e2", "a:1e2", "not a positive integer"),
        ("a:\u00b2", "a:\u00b2", "not a positive integer"),
        ("a:", "a:", "missing thread count"),
        ("a: ", "a:", "missing thread count"),
        ("a:1:2", "a:1:2", "more than one ':'"),
        ("a::2", "a::2", "more than one ':'"),
        ("*,a", "*,a", "'*' cannot be combined"),
        ("a,*", "a,*", "'*' cannot be combined"),
        ("-a,*", "-a,*", "'*' cannot be combined"),
        ("*,*", "*,*", "'*' cannot be combined"),
        ("-*", "-*", "'-*' is meaningless"),
        ("+*:2", "+*:2", "'+*' is meaningless"),
        ("my queue", "my queue", "invalid queue name 'my queue'"),
        ("a\tb", "a\tb", "invalid queue name"),
        ("mail/x", "mail/x", "invalid queue name 'mail/x'"),
        ("caf\u00e9", "caf\u00e9", "invalid queue name"),
        ("a,-b", "a,-b", "invalid queue name '-b'"),
        ("--a", "--a", "invalid queue name '-a'"),
        ("+-a", "+-a", "invalid queue name '-a'"),
        ("-+a", "-+a", "invalid queue name '+a'"),
        ("a'b", "a'b", "invalid queue name"),
        ("a,b,a", "a,b,a", "queue 'a' is listed twice"),
        ("-a, a", "-a, a", "queue 'a' is listed twice"),
        ("mail:2;batch:x;*", "batch:x", "not a positive integer"),
    ],
)
def test_malformed_parts(text: str, bad_part: str, problem: str) -> None:
    with pytest.raises(QueueStringError) as info:
        parse_queues(text, 5)
    message = str(info.value)
    assert f"invalid pool {bad_part!r}" in message
    assert f"in queue string {text!r}" in message
    assert problem in message
    assert "expected pools separated by ';'" in message


@pytest.mark.parametrize("text", ["", "   ", ";", ";;", " ; ; "])
def test_strings_without_pools(text: str) -> None:
    with pytest.raises(QueueStringError, match="names no pools") as info:
        parse_queues(text, 5)
    assert repr(text) in str(info.value)
    assert "expected" in str(info.value)


@pytest.mark.parametrize("default", [0, -1, True, 1.0])
def test_bad_default_threads(default: object) -> None:
    with pytest.raises(QueueStringError, match="default thread count must be a positive integer"):
        parse_queues("*", default)  # type: ignore[arg-type]


def test_non_str_queue_string() -> None:
    with pytest.raises(QueueStringError, match="must be a str"):
        parse_queues(None, 5)  # type: ignore[arg-type]


def test_error_hierarchy() -> None:
    with pytest.raises(QueueStringError) as info:
        parse_queues("a,,b", 1)
    assert isinstance(info.value, ConfigurationError)
    assert isinstance(info.value, GoodJobError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "queue", "expected"),
    [
        ("*", "anything", True),
        ("*", "", True),
        ("mail,batch", "mail", True),
        ("mail,batch", "batch", True),
        ("mail,batch", "other", False),
        ("mail,batch", "mai", False),
        ("+mail,batch", "batch", True),
        ("+mail,batch", "other", False),
        ("-mail,batch", "mail", False),
        ("-mail,batch", "other", True),
        ("-mail,batch", "mailx", True),
    ],
)
def test_matches(text: str, queue: str, expected: bool) -> None:
    (pool,) = parse_queues(text, 1)
    assert pool.matches(queue) is expected


@pytest.mark.parametrize(
    ("queue", "expected"),
    [("mail", 0), ("batch", 1), ("other", 2), ("urgent", 2)],
)
def test_first_match(queue: str, expected: int) -> None:
    pools = parse_queues("mail:2;batch:1;-mail,batch:2;*", 5)
    assert first_match(pools, queue) == expected


def test_first_match_none() -> None:
    pools = parse_queues("mail;batch", 1)
    assert first_match(pools, "other") is None
    assert first_match((), "mail") is None
    assert first_match(list(pools), "batch") == 1
