"""``Job.set(...)`` results are cached per class and options (job.py's _SET_CACHE): the cache must
never change what an enqueue writes, nor let a bad option through."""

from __future__ import annotations

import importlib

import pytest

import goodjob
from goodjob.core.errors import JobOptionError

job_module = importlib.import_module("goodjob.job")  # `goodjob.job` is also the decorator


class Mail(goodjob.Job):
    queue_name = "mail"
    priority = 3

    async def perform(self) -> None:
        pass


def test_plain_options_give_the_same_configured_job_and_the_same_request() -> None:
    first = Mail.set(queue="urgent", priority=1)
    assert Mail.set(queue="urgent", priority=1) is first
    req = Mail.set(queue="urgent", priority=1).new().request
    assert (req.queue_name, req.priority) == ("urgent", 1)
    assert Mail.set(queue="other").new().request.queue_name == "other"
    assert Mail.new().request.queue_name == "mail"


def test_a_value_equal_to_a_cached_one_but_of_another_type_is_still_checked() -> None:
    assert Mail.set(priority=1).new().request.priority == 1
    with pytest.raises(JobOptionError, match=r"priority=True must be an int"):
        Mail.set(priority=True)
    with pytest.raises(JobOptionError, match=r"priority=1\.0 must be an int"):
        Mail.set(priority=1.0)


def test_unhashable_and_unknown_options_get_the_usual_errors() -> None:
    with pytest.raises(JobOptionError, match=r"queue=\['x'\] must be a non-empty string"):
        Mail.set(queue=["x"])
    with pytest.raises(TypeError, match="unknown option"):
        Mail.set(queue="a", colour="red")


def test_a_class_attribute_changed_later_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Mail.set(queue="urgent").new().request.priority == 3
    assert Mail.new().request.priority == 3
    monkeypatch.setattr(Mail, "priority", 7)
    assert Mail.set(queue="urgent").new().request.priority == 7
    assert Mail.new().request.priority == 7
    monkeypatch.setattr(Mail, "queue_name", "bulk")
    assert Mail.new().request.queue_name == "bulk"
    assert Mail.set(queue="urgent").new().request.queue_name == "urgent"
    monkeypatch.setattr(Mail, "timeout", 0)
    with pytest.raises(JobOptionError, match=r"Mail\.timeout=0"):
        Mail.set(queue="urgent").new()


def test_options_that_vary_per_call_are_not_cached() -> None:
    assert Mail.set(wait=5) is not Mail.set(wait=5)
    assert Mail.set(labels=["a"]) is not Mail.set(labels=["a"])


def test_the_cache_stays_bounded() -> None:
    for i in range(job_module._SET_CACHE_SIZE + 10):
        assert Mail.set(queue=f"q{i}").new().request.queue_name == f"q{i}"
    assert len(job_module._SET_CACHE) <= job_module._SET_CACHE_SIZE
