"""What every ``goodjob`` command does the same way: logging, ``--import``, and one-line errors.

A command that fails prints one line, ``goodjob: error: <what failed>; <what to do>``, and exits
non-zero (2 for a bad setting or usage, 1 otherwise). The traceback is for developers: it is printed
with ``--traceback`` or ``GOOD_JOB_LOG_LEVEL=debug``. Errors are recognised here by their type and
SQLSTATE (not by importing asyncpg, which only ``core/db`` may do).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from goodjob.core.errors import ConfigurationError, GoodJobError
from goodjob.core.logfmt import FORMATS, formatter

LEVELS = ("debug", "info", "warning", "error", "critical")
TRACEBACK_HINT = "run again with --traceback (or GOOD_JOB_LOG_LEVEL=debug) for details"

_SQLSTATE_HINTS = {
    "42P01": "{db} has no goodjob tables ({exc}); run `goodjob migrate`",
    "42883": "{db} has an outdated goodjob schema ({exc}); run `goodjob migrate`",
    "42703": "{db} has an outdated goodjob schema ({exc}); run `goodjob migrate`",
    "3D000": "cannot use {db}: {exc}; create it, or fix the database name in GOOD_JOB_DATABASE_URL",
    "28000": "{db} refused the connection: {exc}; fix the user in GOOD_JOB_DATABASE_URL "
    "or create that role",
    "28P01": "{db} refused the password: {exc}; fix the password in GOOD_JOB_DATABASE_URL",
    "57P03": "{db} is not accepting connections yet: {exc}; try again in a moment",
    "53300": "{db} has too many connections: {exc}; lower GOOD_JOB_DATABASE_POOL_SIZE "
    "or raise max_connections",
    "42501": "{db} refused an operation: {exc}; grant the goodjob user the needed privileges",
}


def level_from(flag: str | None, default: str) -> str:
    """``--log-level`` or ``GOOD_JOB_LOG_LEVEL``, checked: a typo is an error, not silently INFO."""
    text, source = (flag, "--log-level") if flag else (os.environ.get("GOOD_JOB_LOG_LEVEL"), "GOOD_JOB_LOG_LEVEL")
    if not text:
        return default
    if text.strip().lower() not in LEVELS:
        raise ConfigurationError(f"{source}={text!r} is not a log level; use one of {', '.join(LEVELS)}")
    return text.strip().lower()


def setup_logging(flag: str | None, default: str) -> str:
    """Log to stderr at the chosen level, as text or (``GOOD_JOB_LOG_FORMAT=json``) JSON lines."""
    level = level_from(flag, default)
    kind = (os.environ.get("GOOD_JOB_LOG_FORMAT") or "text").strip().lower()
    if kind not in FORMATS:
        raise ConfigurationError(
            f"GOOD_JOB_LOG_FORMAT={os.environ['GOOD_JOB_LOG_FORMAT']!r} is not a log format; use text or json"
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(kind))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    return level


def import_modules(modules: tuple[str, ...]) -> None:
    """Import the app's modules (``--import``, else ``GOOD_JOB_IMPORT``) before any database is used:
    they register jobs and may call ``goodjob.configure(database_url=...)``."""
    if not modules:
        modules = tuple(filter(None, [os.environ.get("GOOD_JOB_IMPORT")]))
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in modules:
        for part in name.split(","):
            if part.strip():
                try:
                    importlib.import_module(part.strip())
                except ImportError as exc:
                    raise ConfigurationError(
                        f"--import / GOOD_JOB_IMPORT {part.strip()!r} could not be imported: {exc}; "
                        "check the module name and that it is importable from the current directory"
                    ) from exc


def explain(exc: BaseException) -> tuple[str, int]:
    """One line that names what failed and what to do, and the exit code."""
    if isinstance(exc, GoodJobError):
        first, _, rest = str(exc).partition("\n")
        text = " ".join(first.split()) + (f" ({TRACEBACK_HINT})" if rest.strip() else "")
        return text, 2 if isinstance(exc, ConfigurationError) else 1
    database = _describe_database()
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate in _SQLSTATE_HINTS:
        return _SQLSTATE_HINTS[sqlstate].format(db=database, exc=_short(exc)), 1
    if isinstance(exc, (OSError, TimeoutError)) or type(exc).__name__ in _CONNECTION_ERROR_NAMES:
        return (
            f"could not connect to {database}: {_short(exc)}; check that the server runs "
            "and that GOOD_JOB_DATABASE_URL (or DATABASE_URL) points at it",
            1,
        )
    return f"unexpected {type(exc).__name__}: {_short(exc)}; {TRACEBACK_HINT}", 1


_CONNECTION_ERROR_NAMES = frozenset(
    {"InterfaceError", "ConnectionDoesNotExistError", "CannotConnectNowError", "ConnectionFailureError",
     "AdminShutdownError", "ClientCannotConnectError"}
)


def run(main: Callable[[], Any], *, show_traceback: bool) -> Any:
    """Run a command's body; turn any failure into one line and a non-zero exit."""
    try:
        return main()
    except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except KeyboardInterrupt:
        click.echo("goodjob: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        message, code = explain(exc)
        if show_traceback or logging.getLogger("goodjob").isEnabledFor(logging.DEBUG):
            traceback.print_exception(exc, file=sys.stderr)
        click.echo(f"goodjob: error: {message}", err=True)
        sys.exit(code)


def _describe_database() -> str:
    try:
        from goodjob.core.config import current_config

        return current_config().describe_database()
    except Exception:  # the configuration itself is broken: the caller reports the original error
        return "(unknown: the configuration is invalid)"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


# --- shared by every command's definition ---------------------------------------------------------

DATABASE_EPILOG = (
    "Database: goodjob.configure(database_url=...) in an --import module, else GOOD_JOB_DATABASE_URL, else "
    "DATABASE_URL; with none of them, the project's embedded Postgres (its data in .goodjob/pgdata at the "
    "project root, or GOOD_JOB_EMBEDDED_DIR; see `goodjob db status`)."
)


def env_help(text: str, var: str | None, default: str | None) -> str:
    parts = [f"env var: {var}"] if var else []
    if default is not None:
        parts.append(f"default: {default}")
    return f"{text} ({', '.join(parts)})" if parts else text


IMPORT_HELP = env_help(
    "Python module(s) to import first, comma separated: they define jobs and may call goodjob.configure().",
    "GOOD_JOB_IMPORT", None,
)
LOG_LEVEL_HELP = env_help("Log level of the goodjob logger: debug, info, warning, error.",
                           "GOOD_JOB_LOG_LEVEL", "info")
TRACEBACK_HELP = "On an error, print the full traceback too (as GOOD_JOB_LOG_LEVEL=debug does)."


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--import, --log-level and --traceback, on every command."""
    fn = click.option("--traceback", "show_traceback", is_flag=True, help=TRACEBACK_HELP)(fn)
    fn = click.option("--log-level", default=None, metavar="LEVEL", help=LOG_LEVEL_HELP)(fn)
    return click.option("--import", "imports", multiple=True, metavar="MODULE", help=IMPORT_HELP)(fn)


def prepare(imports: tuple[str, ...], log_level: str | None, show_traceback: bool, default_level: str) -> None:
    """Logging, then a Django project's setup, then the app's modules: before any database work."""

    def setup() -> None:
        setup_logging(log_level, default_level)
        setup_django()
        import_modules(imports)

    run(setup, show_traceback=show_traceback)


def setup_django() -> None:
    """With DJANGO_SETTINGS_MODULE set: django.setup() once, and the TASKS' GoodJobBackend OPTIONS
    become goodjob settings (goodjob/django/worker.py; the only place the CLI reaches Django)."""
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        from goodjob.django.worker import setup

        setup()


class CommandGroup(click.Group):
    """Accepts ``cleanup_preserved_jobs`` for ``cleanup-preserved-jobs`` (GoodJob's spelling), and,
    with ``default_command``, options given to the bare group (``goodjob --queues=mail``) as
    options of that command, as GoodJob's Procfile form ``good_job --max-threads=5`` does."""

    default_command: str | None = None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or super().get_command(ctx, cmd_name.replace("_", "-"))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        own = {"-h", "--help", "--version"}
        if self.default_command and args and args[0].startswith("-") and args[0] not in own:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)
