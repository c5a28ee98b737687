"""Every goodjob setting, its default, and where its value came from.

One frozen :class:`Config` holds all options with their defaults in one place. :func:`load_config`
fills it with the precedence GoodJob users expect: command-line flag > code
(``goodjob.configure``) > ``GOOD_JOB_*`` environment variable > default. Strings are coerced only
when they come from the environment or the command line; values given in code must already have the
right type, so a typo such as ``max_threads="5"`` fails loudly instead of being guessed at.

Every error names the variable, flag or keyword, and the value (passwords masked), because a message
in a deployment log is often all an operator has.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, cast

from goodjob.core.config_kinds import (
    DATABASE_POOLERS,
    EXECUTION_MODES,
    DatabasePooler,
    ExecutionMode,
    _Bool,
    _Callback,
    _count,
    _CronTable,
    _DatabasePooler,
    _DatabaseUrl,
    _ExecutionMode,
    _Invalid,
    _Kind,
    _Logger,
    _Number,
    _PreserveRecords,
    _seconds,
    _Text,
    mask_database_url,
)
from goodjob.core.errors import ConfigurationError, QueueStringError
from goodjob.core.project import embedded_location
from goodjob.core.queues import MAX_THREADS

__all__ = [
    "DATABASE_POOLERS",
    "ENV_VARS",
    "EXECUTION_MODES",
    "Config",
    "ExecutionMode",
    "configure",
    "current_config",
    "load_config",
    "mask_database_url",
    "reset_configuration",
    "set_cli_options",
]

PreserveJobRecords: TypeAlias = bool | Literal["on_unhandled_error"]


def _goodjob_logger() -> logging.Logger:
    return logging.getLogger("goodjob")


@dataclass(frozen=True, repr=False)
class Config:
    """The effective settings of one goodjob process. Build it with :func:`load_config`.

    Constructing it directly (or with :func:`dataclasses.replace`) validates every field too, so no
    code path can hold an invalid configuration.
    """

    database_url: str | None = None
    execution_mode: ExecutionMode = "external"
    max_threads: int = 5
    queues: str = "*"
    poll_interval: float = 1.0
    max_cache: int = 10000
    shutdown_timeout: float = -1
    preserve_job_records: PreserveJobRecords = False
    retry_on_unhandled_error: bool = True
    on_thread_error: Callable[[BaseException], object] | None = None
    logger: logging.Logger = field(default_factory=_goodjob_logger)
    idle_timeout: float | None = None
    probe_port: int | None = None
    pidfile: str = "tmp/pids/goodjob.pid"
    daemonize: bool = False
    cleanup_preserved_jobs_before_seconds_ago: float = 86400
    cleanup_interval_jobs: int | None = 1000
    cleanup_interval_seconds: float | None = 600
    enable_cron: bool = False
    cron: str | Mapping[str, Any] | None = None  # JSON text (env, CLI) or a dict (code); see core/cron.py
    cron_graceful_restart_period: float | None = None
    embedded: bool = True
    embedded_dir: str | None = None  # None: .goodjob at the project root (see core/project.py)
    embedded_idle_timeout: float | None = 900
    database_pool_size: int = 10
    dashboard_username: str | None = None
    dashboard_password: str | None = None
    database_pooler: DatabasePooler = "none"
    session_database_url: str | None = None

    def __post_init__(self) -> None:
        for name, kind in _OPTIONS.items():
            value = getattr(self, name)
            label = f"{name}={kind.show(value)}"
            try:
                checked = kind.check(value)
            except _Invalid as invalid:
                raise ConfigurationError(invalid.message(label, kind.expected)) from None
            if checked is not value:
                object.__setattr__(self, name, checked)
        _check_queues(self.queues, self.max_threads, f"queues={self.queues!r}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={kind.show(getattr(self, name))}" for name, kind in _OPTIONS.items())
        return f"Config({shown})"

    @property
    def polling_enabled(self) -> bool:
        """Whether to poll at all (``poll_interval=-1`` relies on LISTEN/NOTIFY alone)."""
        return self.poll_interval > 0

    @property
    def transaction_pooler(self) -> bool:
        """True behind PgBouncer in transaction mode: no prepared statements, no session state."""
        return self.database_pooler == "transaction"

    def describe_database(self) -> str:
        """Which database this config points at, safe for logs (the password is masked)."""
        if self.database_url is not None:
            return mask_database_url(self.database_url)
        if self.embedded:
            return f"the embedded Postgres in {embedded_location(self.embedded_dir).pgdata}"
        return "no database configured (set GOOD_JOB_DATABASE_URL or DATABASE_URL)"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Defaults overridden by the environment only (no code or CLI overrides)."""
        return load_config(environ=environ)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Config))

#: Field name -> environment variable, for documentation and the CLI's help text. ``database_url``
#: additionally falls back to ``DATABASE_URL``.
ENV_VARS: Mapping[str, str] = MappingProxyType({name: f"GOOD_JOB_{name.upper()}" for name in _FIELD_NAMES})

_FALLBACK_ENV = {"database_url": "DATABASE_URL"}
_WATCHED_ENV = (*ENV_VARS.values(), *_FALLBACK_ENV.values(), "GOOD_JOB_ENV")


def load_config(
    *,
    code: Mapping[str, object] | None = None,
    cli: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Merge CLI flags > code > environment > defaults into a validated :class:`Config`.

    In ``cli`` a value of ``None`` means the flag was not given. Empty environment variables count
    as unset, because ``FOO=`` in a compose file usually means "no opinion".
    """
    env = os.environ if environ is None else environ
    code = dict(code or {})
    cli = dict(cli or {})
    _reject_unknown(code, "passed to goodjob.configure")
    _reject_unknown(cli, "given on the command line")

    values: dict[str, object] = {}
    labels: dict[str, str] = {}
    for name, kind in _OPTIONS.items():
        raw: object
        if cli.get(name) is not None:
            raw, coerce = cli[name], True
            label = f"--{name.replace('_', '-')}={kind.show(raw)}"
        elif name in code:
            raw, coerce = code[name], False  # code keeps its types: "5" for an int is a bug, not a hint
            label = f"{name}={kind.show(raw)} (from goodjob.configure)"
        elif found := _from_env(name, env):
            (var, raw), coerce = found, True
            label = f"{var}={kind.show(raw)}"
        else:
            continue
        try:
            values[name] = kind.parse(raw) if coerce and isinstance(raw, str) else kind.check(raw)
        except _Invalid as invalid:
            raise ConfigurationError(invalid.message(label, kind.expected)) from None
        labels[name] = label

    if "embedded" not in values and env.get("GOOD_JOB_ENV", "").strip().lower() == "production":
        values["embedded"] = False
    _check_queues(
        cast(str, values.get("queues", Config.queues)),
        cast(int, values.get("max_threads", Config.max_threads)),
        labels.get("queues", f"queues={Config.queues!r} (default)"),
    )
    return Config(**cast(dict[str, Any], values))


_lock = threading.Lock()
_code_options: dict[str, object] = {}
_cli_options: dict[str, object] = {}
_generation = 0
_cached: tuple[tuple[object, ...], Config] | None = None


def configure(**options: object) -> Config:
    """Set code-level options (merged with earlier calls) and return the effective config.

    The new options are validated before they are stored, so a failed call changes nothing.
    """
    global _code_options, _generation
    with _lock:
        merged = {**_code_options, **options}
        config = load_config(code=merged, cli=_cli_options)
        if "database_url" in options and _database_guard is not None:
            _database_guard(config.database_url)  # raises if goodjob already uses another database
        _code_options = merged
        _generation += 1
        return config


_ENV_DATA: Any = getattr(os.environ, "_data", None)
_WATCHED_KEYS = [var.encode() for var in _WATCHED_ENV]


def _watched_values() -> list[object]:
    """The raw values of every variable goodjob reads; this runs on every enqueue, so on POSIX it
    reads os.environ's underlying bytes dict directly (about 20x cheaper than os.environ.get)."""
    data = _ENV_DATA
    if isinstance(data, dict):
        return list(map(data.get, _WATCHED_KEYS))
    return [os.environ.get(var) for var in _WATCHED_ENV]


def current_config() -> Config:
    """The effective config: stored ``configure()`` options over the current ``os.environ``.

    Cached, but the cache key includes every environment variable goodjob reads, so a changed
    variable (a test's monkeypatch, say) is seen on the next call without any explicit reset.
    """
    global _cached
    cached = _cached  # read without the lock (every enqueue asks); rebuilt under it
    key = (_generation, *_watched_values())
    if cached is not None and cached[0] == key:
        return cached[1]
    with _lock:
        key = (_generation, *_watched_values())
        if _cached is None or _cached[0] != key:
            _cached = (key, load_config(code=_code_options, cli=_cli_options))
        return _cached[1]


def set_cli_options(cli: Mapping[str, object]) -> Config:
    """Record command-line flags (highest precedence) for this process; validated first."""
    global _cli_options, _generation
    with _lock:
        config = load_config(code=_code_options, cli=cli)
        _cli_options = dict(cli)
        _generation += 1
        return config


_database_guard: Callable[[str | None], None] | None = None


def set_database_guard(guard: Callable[[str | None], None] | None) -> None:
    """The runtime's check that a new ``database_url`` does not differ from the one in use: a
    changed URL after first use must fail loudly, not be silently ignored by the open pools."""
    global _database_guard
    _database_guard = guard


def reset_configuration() -> None:
    """Forget every ``configure()`` override and CLI flag (tests call this between cases)."""
    global _code_options, _cli_options, _generation, _cached
    with _lock:
        _code_options = {}
        _cli_options = {}
        _generation += 1
        _cached = None


def _from_env(name: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    for var in (ENV_VARS[name], _FALLBACK_ENV.get(name)):
        if var is not None and env.get(var, "").strip():
            return var, env[var]
    return None


def _reject_unknown(options: Mapping[str, object], where: str) -> None:
    for key in options:
        if key not in ENV_VARS:
            close = difflib.get_close_matches(str(key), _FIELD_NAMES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "."
            raise ConfigurationError(
                f"unknown option {key!r} {where}{hint} Valid options: {', '.join(_FIELD_NAMES)}"
            )


def _check_queues(queues: str, max_threads: int, label: str) -> None:
    """Validate the queue string now, so a typo fails at startup rather than starving a queue."""
    try:
        from goodjob.core.queues import parse_queues
    except ModuleNotFoundError as missing:  # pragma: no cover - only while the module is being written
        if missing.name != "goodjob.core.queues":
            raise
        return
    try:
        parse_queues(queues, max_threads)
    except QueueStringError as err:
        raise QueueStringError(f"{label} is not a valid queue string: {err}") from None


_OPTIONS: Mapping[str, _Kind] = MappingProxyType(
    {
        "database_url": _DatabaseUrl(),
        "execution_mode": _ExecutionMode(),
        "max_threads": _Number(f"a whole number from 1 to {MAX_THREADS}", f"between 1 and {MAX_THREADS}",
                               integer=True, ok=lambda n: 1 <= n <= MAX_THREADS),
        "queues": _Text(),
        "poll_interval": _seconds("> 0, or -1 to disable polling", lambda n: n > 0 or n == -1),
        "max_cache": _count(0),
        "shutdown_timeout": _seconds(">= 0, or -1 to wait forever", lambda n: n >= 0 or n == -1),
        "preserve_job_records": _PreserveRecords(),
        "retry_on_unhandled_error": _Bool(),
        "on_thread_error": _Callback(),
        "logger": _Logger(),
        "idle_timeout": _seconds("> 0", lambda n: n > 0, nullable=True),
        "probe_port": _Number(
            "a port number between 1 and 65535",
            "between 1 and 65535",
            integer=True,
            ok=lambda n: 1 <= n <= 65535,
            nullable=True,
        ),
        "pidfile": _Text(path=True),
        "daemonize": _Bool(),
        "cleanup_preserved_jobs_before_seconds_ago": _seconds(">= 0", lambda n: n >= 0),
        "cleanup_interval_jobs": _Number(
            "a whole number >= 1, or 'off' (or -1) to disable",
            ">= 1, or -1 to disable",
            integer=True,
            ok=lambda n: n >= 1,
            off=True,
        ),
        "cleanup_interval_seconds": _seconds("> 0, or 'off' (or -1) to disable", lambda n: n > 0, off=True),
        "enable_cron": _Bool(),
        "cron": _CronTable(),
        "cron_graceful_restart_period": _seconds(">= 0", lambda n: n >= 0, nullable=True),
        "embedded": _Bool(),
        "embedded_dir": _Text(path=True, nullable=True),
        "embedded_idle_timeout": _seconds("> 0, or 'off' (or -1) to keep it running", lambda n: n > 0, off=True),
        "database_pool_size": _count(1),
        "dashboard_username": _Text(nullable=True),
        "dashboard_password": _Text(nullable=True, secret=True),
        "database_pooler": _DatabasePooler(),
        "session_database_url": _DatabaseUrl(),
    }
)
assert tuple(_OPTIONS) == _FIELD_NAMES, "Config fields and _OPTIONS must list the same names in order"
