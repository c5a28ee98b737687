"""Cron: recurring jobs, enqueued once per occurrence however many processes run cron.

Entries come from ``goodjob.configure(cron={...})`` (a dict; classes, or callables for ``args``,
``kwargs`` and ``set``, allowed) or ``GOOD_JOB_CRON`` (the same as JSON)::

    {"cleanup": {"cron": "*/15 * * * *", "class": "app.jobs.Cleanup", "args": [42],
                 "kwargs": {"dry_run": false}, "set": {"queue": "low", "priority": 5},
                 "description": "Clean up", "enabled_by_default": true, "timezone": "UTC"}}

An expression has 5 fields, or 6 with *seconds first* (``"*/15 * * * * *"``: every 15 seconds, as in
GoodJob), or is an alias such as ``@hourly``; it is read with croniter in the entry's ``timezone``
(UTC by default). Processes started with ``--enable-cron`` (or the async modes with
``enable_cron``) schedule every enabled entry. Each occurrence is enqueued by one process only:
``cron_claim_occurrence`` moves the entry's ``last_at`` forward under its row lock in the same
transaction as the job's INSERT (which also carries ``cron_key``/``cron_at`` under a unique index),
so a second process, a restarted one, or a clock a little ahead or behind never enqueues it again,
even after the job row itself was performed and deleted. At start, occurrences missed within
``cron_graceful_restart_period`` seconds are enqueued, oldest first. Whether an entry runs is
``enabled_by_default`` unless an operator switched it (the 'cron_enabled' setting).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from goodjob.core import registry, scope
from goodjob.core.config import Config
from goodjob.core.errors import ConfigurationError, SerializationError
from goodjob.core.serialize import dump_arguments, load_arguments
from goodjob.core.storage import store
from goodjob.core.storage.db import Connection, Database, Executor, is_connection, is_connection_error
from goodjob.core.types import Enqueued

log = logging.getLogger("goodjob")

_KEYS = ("cron", "class", "job_class", "args", "kwargs", "set", "description", "enabled_by_default", "timezone")
_SET_ALLOWED = ("queue", "priority", "timeout", "labels")
#: An occurrence later than this (or the grace period, if longer) is skipped, not enqueued: a stalled
#: or disconnected process must not flood the queue when it comes back.
LATE_LIMIT_SECONDS = 60.0


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ImportError:  # pragma: no cover - the `cron` extra is missing
        raise ConfigurationError(
            "cron entries need the croniter package: pip install 'goodjob-pg[cron]'"
        ) from None
    return croniter


@dataclass(frozen=True)
class CronEntry:
    """One recurring job. ``args``, ``kwargs`` and ``set_options`` may be callables (code only),
    called at each occurrence."""

    key: str
    cron: str
    job_class: str
    args: Sequence[Any] | Callable[[], Sequence[Any]] = ()
    kwargs: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None
    set_options: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None
    description: str | None = None
    enabled_by_default: bool = True
    timezone: str = "UTC"

    @property
    def seconds_first(self) -> bool:
        return len(self.cron.split()) == 6

    def _iter(self, start: datetime, *, is_prev: bool = False) -> Any:
        local = start.astimezone(ZoneInfo(self.timezone))
        return _croniter()(self.cron, local, second_at_beginning=self.seconds_first, is_prev=is_prev)

    def next_at(self, after: datetime) -> datetime:
        """The first occurrence strictly after ``after`` (UTC)."""
        return self._iter(after).get_next(datetime).astimezone(UTC)  # type: ignore[no-any-return]

    def previous_at(self, before: datetime) -> datetime:
        return self._iter(before, is_prev=True).get_prev(datetime).astimezone(UTC)  # type: ignore[no-any-return]

    def occurrences(self, since: datetime, until: datetime) -> Iterator[datetime]:
        """Occurrences in (since, until], oldest first."""
        at = self.next_at(since)
        while at <= until:
            yield at
            at = self.next_at(at)

    def resolve(self) -> Any:
        """The job class (raises UnknownJobError naming it if it cannot be imported)."""
        return registry.resolve(self.job_class)

    async def enqueue(self, conn: Connection, *, cron_at: datetime | None) -> Enqueued:
        """Enqueue one run through the class's own ``set(...).perform_later`` (class defaults,
        labels, concurrency key and enqueue callbacks apply) on ``conn``, stamped with the cron key
        and occurrence (None: an "enqueue now" run, which is never deduplicated)."""
        cls = self.resolve()
        args = self.args() if callable(self.args) else self.args
        kwargs = (self.kwargs() if callable(self.kwargs) else self.kwargs) or {}
        options = dict((self.set_options() if callable(self.set_options) else self.set_options) or {})
        options["connection"] = conn
        if cron_at is not None:
            options["wait_until"] = cron_at
        with scope.entered(scope.EnqueueScope(cron_key=self.key, cron_at=cron_at)):
            result: Enqueued = await cls.set(**options).perform_later(*args, **kwargs)
        return result


# --- parsing -------------------------------------------------------------------------------------


def parse_entries(table: Mapping[str, Any] | str | None, *, resolve: bool = False) -> list[CronEntry]:
    """Entries from the ``cron`` setting; ConfigurationError naming the entry for anything invalid.
    With ``resolve``, every job class must also be importable (what a cron process checks at start)."""
    if table is None:
        return []
    if isinstance(table, str):
        try:
            table = json.loads(table) if table.strip() else {}
        except ValueError as exc:
            raise ConfigurationError(f"GOOD_JOB_CRON is not valid JSON: {exc}") from None
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"cron must be an object of entries by key, not {type(table).__name__}")
    return [_entry(str(key), spec, resolve) for key, spec in table.items()]


def _entry(key: str, spec: Any, resolve: bool) -> CronEntry:
    where = f"cron entry {key!r}"
    if not key.strip():
        raise ConfigurationError("a cron entry has an empty key; every entry needs a unique key")
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"{where} must be an object with at least 'cron' and 'class'")
    unknown = sorted(set(spec) - set(_KEYS))
    if unknown:
        raise ConfigurationError(f"{where} has unknown field(s) {', '.join(unknown)}; expected {', '.join(_KEYS)}")
    expression = spec.get("cron")
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigurationError(f"{where} needs 'cron': a cron expression such as '*/5 * * * *'")
    expression = " ".join(expression.split())
    check_expression(expression, where)
    target = spec.get("class", spec.get("job_class"))
    target = getattr(target, "job_class", target)  # a @goodjob.job function
    name = target if isinstance(target, str) else getattr(target, "job_name", None)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{where} needs 'class': a job class or its import name, got {target!r}")
    timezone = spec.get("timezone") or "UTC"
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"{where} has an unknown timezone {timezone!r}") from None
    args, kwargs, options = spec.get("args", ()), spec.get("kwargs"), spec.get("set")
    if not callable(args) and (isinstance(args, str) or not isinstance(args, Sequence)):
        raise ConfigurationError(f"{where}: 'args' must be a list, not {args!r}")
    if kwargs is not None and not callable(kwargs) and not isinstance(kwargs, Mapping):
        raise ConfigurationError(f"{where}: 'kwargs' must be an object, not {kwargs!r}")
    if options is not None and not callable(options):
        if not isinstance(options, Mapping):
            raise ConfigurationError(f"{where}: 'set' must be an object, not {options!r}")
        bad = sorted(set(options) - set(_SET_ALLOWED))
        if bad:
            raise ConfigurationError(
                f"{where}: 'set' option(s) {', '.join(bad)} are not allowed; use {', '.join(_SET_ALLOWED)}"
            )
    enabled = spec.get("enabled_by_default", True)
    if not isinstance(enabled, bool):
        raise ConfigurationError(f"{where}: 'enabled_by_default' must be true or false, not {enabled!r}")
    description = spec.get("description")
    entry = CronEntry(key, expression, name, args, kwargs, options, None if description is None else str(description),
                      enabled, str(timezone))
    if resolve:
        try:
            entry.resolve()
        except Exception as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
    return entry


def check_expression(expression: str, where: str = "cron expression") -> None:
    fields = expression.split()
    aliased = len(fields) == 1 and fields[0].startswith("@")
    problem = None
    if not aliased and len(fields) not in (5, 6):
        problem = f"has {len(fields)} fields; expected 5 (minute hour day month weekday) or 6 (seconds first)"
    elif not _croniter().is_valid(expression, second_at_beginning=len(fields) == 6):
        problem = "is not a valid cron expression"
    if problem:
        raise ConfigurationError(f"{where}: {expression!r} {problem}")


def entries_from_config(config: Config, *, resolve: bool = False) -> list[CronEntry]:
    return parse_entries(config.cron, resolve=resolve)


# --- published entries -----------------------------------------------------------------------------
# A cron process writes its entries into its process row (good_job_processes.cron), so that a
# dashboard in another process (a web app without GOOD_JOB_CRON) shows and enqueues what the
# workers actually schedule. Arguments are stored as job arguments are; callables cannot be, so an
# entry whose args, kwargs or set options are computed at each run says so ("dynamic").


def publish_entries(entries: Sequence[CronEntry]) -> str:
    table: dict[str, Any] = {}
    for e in entries:
        dynamic = [name for name, value in (("args", e.args), ("kwargs", e.kwargs), ("set", e.set_options))
                   if callable(value)]
        try:
            arguments: dict[str, Any] | None = dump_arguments(
                [] if callable(e.args) else list(e.args), {} if callable(e.kwargs) else dict(e.kwargs or {}))
        except SerializationError:
            arguments, dynamic = None, [*dynamic, "args"]
        options = None if callable(e.set_options) else dict(e.set_options or {})
        table[e.key] = {"cron": e.cron, "class": e.job_class, "arguments": arguments,
                        "set": json.loads(json.dumps(options, default=str)), "description": e.description,
                        "enabled_by_default": e.enabled_by_default, "timezone": e.timezone, "dynamic": dynamic}
    return json.dumps(table, separators=(",", ":"), ensure_ascii=False)


def published_entries(text: str) -> list[tuple[CronEntry, list[str]]]:
    """What publish_entries wrote, back as entries with the names of their computed parts."""
    out = []
    for key, spec in json.loads(text).items():
        arguments = spec.get("arguments") or {"args": [], "kwargs": {}}
        args, kwargs = load_arguments(arguments)
        entry = CronEntry(str(key), spec["cron"], spec["class"], args, kwargs, spec.get("set") or None,
                          spec.get("description"), bool(spec.get("enabled_by_default", True)),
                          spec.get("timezone") or "UTC")
        out.append((entry, [str(d) for d in spec.get("dynamic") or []]))
    return out


# --- enable flags and state -------------------------------------------------------------------------


async def enabled_flags(ex: Executor) -> dict[str, bool]:
    raw = await store.cron_enabled_get(ex)
    value = json.loads(raw) if raw else {}
    return {str(k): bool(v) for k, v in value.items()} if isinstance(value, dict) else {}


def is_enabled(entry: CronEntry, flags: Mapping[str, bool]) -> bool:
    return flags.get(entry.key, entry.enabled_by_default)


async def set_enabled(ex: Executor, key: str, enabled: bool, *, now: datetime | None = None) -> None:
    await store.cron_enabled_set(ex, key, enabled, now or datetime.now(UTC))


async def status(ex: Executor, entries: Sequence[CronEntry], *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each entry with enabled, last run (latest enqueue) and next run: the dashboard's cron page."""
    now = now or datetime.now(UTC)
    flags = await enabled_flags(ex)
    state = await store.cron_entries_state(ex, [e.key for e in entries])
    out = []
    for e in entries:
        row = state.get(e.key)
        out.append({
            "key": e.key, "cron": e.cron, "job_class": e.job_class, "description": e.description,
            "timezone": e.timezone, "enabled": is_enabled(e, flags), "enabled_by_default": e.enabled_by_default,
            "last_at": row["last_at"] if row else None, "last_job_id": row["last_job_id"] if row else None,
            "last_enqueued_at": row["last_enqueued_at"] if row else None, "next_at": e.next_at(now),
        })
    return out


@contextlib.asynccontextmanager
async def _transaction(ex: Executor | Database) -> Any:
    if isinstance(ex, Database):
        async with ex.transaction() as conn:
            yield conn
    elif is_connection(ex):
        async with ex.transaction():
            yield ex
    else:
        async with ex.acquire() as conn, conn.transaction():
            yield conn


async def enqueue_occurrence(ex: Executor | Database, entry: CronEntry, at: datetime) -> Enqueued | None:
    """Enqueue occurrence ``at`` of ``entry`` unless some process already did; None if it had."""
    now = datetime.now(UTC)
    async with _transaction(ex) as conn:
        if not await store.cron_claim_occurrence(conn, entry.key, at, now):
            return None
        result = await entry.enqueue(conn, cron_at=at)
        if result:
            await store.cron_record_job(conn, entry.key, result.id, now)
    return result


async def enqueue_now(ex: Executor | Database, entry: CronEntry) -> Enqueued:
    """One extra run of ``entry`` now (the dashboard's "enqueue now"); its schedule is unchanged."""
    async with _transaction(ex) as conn:
        result = await entry.enqueue(conn, cron_at=None)
        if result:
            await store.cron_record_job(conn, entry.key, result.id, datetime.now(UTC))
    return result


# --- the scheduler ------------------------------------------------------------------------------------


class CronScheduler:
    """Schedules every entry in one task: sleep until the earliest next occurrence, enqueue what is
    due (if enabled), repeat. Started and stopped by the worker."""

    def __init__(
        self, entries: Sequence[CronEntry], *, database: Callable[[], Awaitable[Database]],
        graceful_restart_period: float | None = None,
    ) -> None:
        self.entries = list(entries)
        self._database = database
        self.grace = graceful_restart_period or 0.0
        self.late_limit = max(self.grace, LATE_LIMIT_SECONDS)
        self._task: asyncio.Task[None] | None = None
        self.enqueued = 0

    def start(self) -> None:
        if self.entries:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="goodjob-cron")
            log.info("cron scheduling %s", ", ".join(f"{e.key} ({e.cron})" for e in self.entries))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        now = datetime.now(UTC)
        if self.grace > 0:
            await self._catch_up(now)
        upcoming = {e.key: e.next_at(now) for e in self.entries}
        delay = 0.5
        while True:
            soonest = min(upcoming.values())
            wait = (soonest - datetime.now(UTC)).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
            now = datetime.now(UTC)
            due = [e for e in self.entries if upcoming[e.key] <= now]
            try:
                flags = await enabled_flags((await self._database()).pool) if due else {}
                for entry in due:
                    at = upcoming[entry.key]
                    if is_enabled(entry, flags):
                        await self._enqueue(entry, at)
                    upcoming[entry.key] = entry.next_at(max(at, now - timedelta(seconds=self.late_limit)))
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cron could not enqueue (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                now = datetime.now(UTC)
                for entry in self.entries:  # skip what is now too late
                    floor = now - timedelta(seconds=self.late_limit)
                    if upcoming[entry.key] < floor:
                        upcoming[entry.key] = entry.next_at(floor)

    async def _catch_up(self, now: datetime) -> None:
        since = now - timedelta(seconds=self.grace)
        try:
            flags = await enabled_flags((await self._database()).pool)
            for entry in self.entries:
                if is_enabled(entry, flags):
                    for at in entry.occurrences(since, now):
                        await self._enqueue(entry, at)
        except Exception:
            log.exception("cron could not enqueue the runs missed within the graceful restart period")

    async def _enqueue(self, entry: CronEntry, at: datetime) -> None:
        try:
            result = await enqueue_occurrence(await self._database(), entry, at)
        except Exception as exc:
            if is_connection_error(exc):
                raise
            log.error("cron entry %r could not enqueue its run at %s: %s: %s", entry.key,
                      at.isoformat(), type(exc).__name__, exc)
            return
        if result:
            self.enqueued += 1
            log.debug("cron entry %r enqueued job %s for %s", entry.key, result.id, at.isoformat())
