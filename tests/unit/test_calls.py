"""A listed job's arguments as a readable call."""

from __future__ import annotations

from goodjob.dashboard.calls import call_text, short_class


def test_arguments_read_as_a_call_with_json_literals() -> None:
    assert call_text("app.jobs.SendWelcomeEmail", '[2413, "user@example.com"]', "{}") == \
        'SendWelcomeEmail(2413, "user@example.com")'
    assert call_text("Report", "[]", '{"kind": "revenue", "dry_run": true}') == 'Report(kind="revenue", dry_run=true)'
    assert short_class("app.jobs.X") == "X" and short_class("X") == "X"


def test_cut_off_json_is_shown_up_to_the_cut_and_long_calls_are_shortened() -> None:
    assert call_text("Big", '["aaaa", "bbb', "{}") == 'Big("aaaa", "bbb…)'
    long = call_text("Big", "[" + ", ".join(str(i) for i in range(200)) + "]", "{}")
    assert len(long) <= 160 and long.endswith("…)")
