"""``goodjob jobs list|show|retry|discard|cancel|reschedule|delete``: goodjob.jobs from a shell.

A table for people, ``--json`` for scripts. An action names job ids, or a filter (the options of
``list``); on a filter it first counts the matching jobs and asks (``--yes`` skips the question,
``--dry-run`` only counts), because a filter can mean a million jobs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from goodjob.cli_support import CommandGroup, common_options, prepare
from goodjob.cli_support import run as run_guarded
from goodjob.core.errors import GoodJobError

FILTER_OPTIONS = [
    click.option("--state", type=click.Choice(["scheduled", "queued", "retried", "running", "succeeded",
                                               "discarded"]), default=None, help="Jobs in this state."),
    click.option("--queue", default=None, metavar="QUEUE", help="Jobs of this queue."),
    click.option("--job-class", default=None, metavar="CLASS", help="Jobs of this class (its import name)."),
    click.option("--label", default=None, metavar="LABEL", help="Jobs carrying this label."),
    click.option("--batch", "batch_id", default=None, metavar="BATCH_ID", help="Jobs of this batch."),
    click.option("--cron-key", default=None, metavar="KEY", help="Jobs enqueued by this cron entry."),
    click.option("--search", default=None, metavar="TEXT",
                 help="A job id, or text in the arguments or the error (a scan of the state)."),
]
FILTER_KEYS = ("state", "queue", "job_class", "label", "batch_id", "cron_key", "search")


def with_filters(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(FILTER_OPTIONS):
        fn = option(fn)
    return common_options(fn)  # --import, --log-level, --traceback


def _setup(options: dict[str, Any]) -> None:
    prepare(options.pop("imports"), options.pop("log_level"), options.pop("show_traceback"), "warning")


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"goodjob: error: {message}", err=True)
    sys.exit(code)


def _record_json(record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, indent=2)


def _table(records: list[Any]) -> str:
    rows = [("ID", "STATE", "QUEUE", "CLASS", "ATTEMPTS", "SCHEDULED_AT", "ERROR")]
    for r in records:
        error = (r.error or "").replace("\n", " ")
        rows.append((str(r.id), r.state, r.queue, r.job_class, str(r.attempts),
                     r.scheduled_at.strftime("%Y-%m-%d %H:%M:%S"), error[:60] + ("…" if len(error) > 60 else "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _filters(options: dict[str, Any]) -> dict[str, Any]:
    return {k: options[k] for k in FILTER_KEYS if options.get(k) is not None}


@click.group("jobs", cls=CommandGroup)
def jobs_group() -> None:
    """Lists, shows and operates jobs (goodjob.jobs from the shell)."""


@jobs_group.command("list")
@with_filters
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Jobs per page.")
@click.option("--after", default=None, metavar="JOB_ID", help="The page after this job (the last id shown).")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts instead of a table.")
def list_jobs(limit: int, after: str | None, as_json: bool, **options: Any) -> None:
    """Lists jobs, newest first, with the filters given."""
    traceback = bool(options["show_traceback"])
    _setup(options)
    run_guarded(lambda: _list(limit, after, as_json, options), show_traceback=traceback)


def _list(limit: int, after: str | None, as_json: bool, options: dict[str, Any]) -> None:
    from goodjob import jobs

    try:
        cursor = None
        if after is not None:
            cursor = jobs.get_sync(after)
            if cursor is None:
                _fail(f"--after {after}: there is no such job")
        records = jobs.find_sync(**_filters(options), limit=limit, after=cursor)
    except GoodJobError as exc:
        _fail(str(exc), 2)
    if as_json:
        click.echo(_dumps([_record_json(r) for r in records]))
    elif records:
        click.echo(_table(records))
        if len(records) == limit:
            click.echo(f"(more: --after {records[-1].id})")
    else:
        click.echo("goodjob: no jobs match")


@jobs_group.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@common_options
def show(job_id: str, as_json: bool, **options: Any) -> None:
    """Shows one job with its executions."""
    traceback = bool(options["show_traceback"])
    _setup(options)
    run_guarded(lambda: _show(job_id, as_json), show_traceback=traceback)


def _show(job_id: str, as_json: bool) -> None:
    from goodjob import jobs

    try:
        record = jobs.get_sync(job_id, executions=True)
    except GoodJobError as exc:
        _fail(str(exc), 2)
    if record is None:
        _fail(f"there is no job {job_id}")
    assert record is not None
    if as_json:
        click.echo(_dumps(_record_json(record)))
        return
    data = _record_json(record)
    executions = data.pop("executions") or []
    for key, value in data.items():
        click.echo(f"{key + ':':<18}{value}")
    click.echo(f"executions:       {len(executions)}")
    for e in executions:
        click.echo(f"  #{e['attempt']} {e['outcome']:<12} {e['started_at']} {e['duration_ms'] or 0:.1f}ms "
                   f"{e['error_class'] or ''} {e['error'] or ''}".rstrip())


def _action(name: str, help_text: str) -> None:
    @jobs_group.command(name, help=help_text)
    @click.argument("job_ids", nargs=-1)
    @with_filters
    @click.option("--all", "everything", is_flag=True, help="With no filter: every job the action applies to.")
    @click.option("--yes", is_flag=True, help="Do not ask before acting on a filter.")
    @click.option("--dry-run", is_flag=True, help="Only count the jobs a filter matches.")
    @click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
    def command(job_ids: tuple[str, ...], everything: bool, yes: bool, dry_run: bool,
                as_json: bool, at: str | None = None, delay: float | None = None, **options: Any) -> None:
        traceback = bool(options["show_traceback"])
        _setup(options)
        run_guarded(lambda: _act(name, job_ids, everything, yes, dry_run, as_json, at, delay, options),
                    show_traceback=traceback)

    if name == "reschedule":
        command = click.option("--at", default=None, metavar="TIME",
                               help="ISO 8601 time with a zone (default: now).")(command)
        command = click.option("--in", "delay", type=float, default=None, metavar="SECONDS",
                               help="Seconds from now (instead of --at).")(command)


def _act(name: str, job_ids: tuple[str, ...], everything: bool, yes: bool, dry_run: bool, as_json: bool,
         at: str | None, delay: float | None, options: dict[str, Any]) -> None:
    from goodjob import jobs

    filters = _filters(options)
    when = _when(at, delay)
    if job_ids and (filters or everything):
        raise click.UsageError("give job ids or a filter, not both")
    if not job_ids and not filters and not everything:
        raise click.UsageError("name job ids, or a filter (see --help), or --all")
    if job_ids:
        _act_on_ids(name, job_ids, when, as_json)
        return
    try:
        matching = jobs.count_sync(**filters)
    except GoodJobError as exc:
        _fail(str(exc), 2)
    described = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in filters.items()) or "no filter"
    if dry_run:
        click.echo(_dumps({"matching": matching}) if as_json else
                   f"goodjob: {matching} job(s) match ({described}); nothing changed (--dry-run)")
        return
    if not yes:
        if not sys.stdin.isatty():
            _fail(f"{matching} job(s) match ({described}); pass --yes to {name} them without a prompt")
        click.confirm(f"goodjob: {matching} job(s) match ({described}). {name.capitalize()} them?", abort=True)
    extra = {"at": when} if name == "reschedule" else {}
    result = getattr(jobs, f"{name}_all_sync")(**filters, **extra)
    if as_json:
        click.echo(_dumps({"changed": result.changed_ids, "skipped": dict(result.skipped),
                           "missing": result.missing, "more": result.more}))
        return
    skipped = ", ".join(f"{n} {s}" for s, n in sorted(result.skipped.items()))
    click.echo(f"goodjob: {name}: {result.changed} job(s) changed" + (f"; skipped {skipped}" if skipped else "")
               + ("; stopped at the time limit, run it again to continue" if result.more else ""))


def _when(at: str | None, delay: float | None) -> datetime | None:
    if at is not None and delay is not None:
        raise click.UsageError("give --at or --in, not both")
    if delay is not None:
        return datetime.now(UTC) + timedelta(seconds=delay)
    if at is None:
        return None
    try:
        value = datetime.fromisoformat(at)
    except ValueError:
        raise click.BadParameter(f"{at!r} is not an ISO 8601 time (e.g. 2030-01-01T12:00:00+00:00)",
                                 param_hint="--at") from None
    if value.tzinfo is None:
        raise click.BadParameter(f"{at!r} has no time zone (add +00:00 or Z)", param_hint="--at")
    return value


def _act_on_ids(name: str, job_ids: tuple[str, ...], when: datetime | None, as_json: bool) -> None:
    from goodjob import jobs

    failed = 0
    out = []
    for job_id in job_ids:
        try:
            args: tuple[Any, ...] = (job_id, when) if name == "reschedule" else (job_id,)
            record = getattr(jobs, f"{name}_sync")(*args)
        except GoodJobError as exc:
            failed += 1
            out.append({"id": job_id, "error": str(exc)})
            if not as_json:
                click.echo(f"goodjob: error: {exc}", err=True)
            continue
        out.append(_record_json(record))
        if not as_json:
            note = " (cancel requested: its worker stops it)" if name == "cancel" and record.state == "running" else ""
            click.echo(f"goodjob: {name}: job {record.id} is now {record.state}{note}")
    if as_json:
        click.echo(_dumps(out))
    if failed:
        sys.exit(1)


_action("retry", "Retries discarded jobs (by id, or every one a filter matches).")
_action("discard", "Discards waiting jobs (scheduled, queued, retried) without running them.")
_action("cancel", "Cancels jobs: waiting ones are discarded; running ones are stopped by their worker, then "
                  "discarded (an async job at once, a def job when it checks current_job().cancelled).")
_action("reschedule", "Moves waiting jobs to a new time (--at, --in; default: now).")
_action("delete", "Deletes finished jobs (succeeded, discarded) and their executions.")
