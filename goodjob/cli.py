"""The ``goodjob`` command line: start | migrate | schema | cleanup-preserved-jobs | demo |
pause | resume | paused.

Every option also reads a ``GOOD_JOB_*`` environment variable. Flags are passed to the
configuration as "CLI" values so that the documented precedence holds: flag > code
(``goodjob.configure`` in a module loaded with ``--import``) > environment > default.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from goodjob.core import config as config_module
from goodjob.core.errors import ConfigurationError, GoodJobError

log = logging.getLogger("goodjob")


def _env_help(text: str, var: str | None, default: str | None) -> str:
    parts = [f"env var: {var}"] if var else []
    if default is not None:
        parts.append(f"default: {default}")
    return f"{text} ({', '.join(parts)})" if parts else text


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )


def _import_modules(modules: tuple[str, ...]) -> None:
    """Import the app's modules: they register jobs and may call goodjob.configure()."""
    sys.path.insert(0, os.getcwd())
    for name in modules:
        for part in name.split(","):
            if part.strip():
                try:
                    importlib.import_module(part.strip())
                except ImportError as exc:
                    raise click.UsageError(f"--import {part.strip()!r} could not be imported: {exc}") from exc


def _fail(exc: BaseException, code: int = 1) -> None:
    click.echo(f"goodjob: error: {exc}", err=True)
    sys.exit(code)


def _run(main: Callable[[], Any]) -> Any:
    try:
        return main()
    except GoodJobError as exc:
        _fail(exc, 2 if isinstance(exc, ConfigurationError) else 1)


IMPORT_HELP = _env_help(
    "Python module(s) to import first, comma separated: they define jobs and may call goodjob.configure().",
    "GOOD_JOB_IMPORT", None,
)
LOG_LEVEL_HELP = _env_help("Log level of the goodjob logger.", "GOOD_JOB_LOG_LEVEL", "info")


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="goodjob")
@click.pass_context
def main(ctx: click.Context) -> None:
    """goodjob: a Postgres-backed job queue. Without a command, runs `start`."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(start)


@main.command()
@click.option("--max-threads", type=str, default=None, metavar="COUNT",
              help=_env_help("Maximum number of threads (concurrent jobs) per pool.", "GOOD_JOB_MAX_THREADS", "5"))
@click.option("--queues", type=str, default=None, metavar="QUEUE_LIST",
              help=_env_help("Queues to work from.", "GOOD_JOB_QUEUES", "*"))
@click.option("--poll-interval", type=str, default=None, metavar="SECONDS",
              help=_env_help("Interval between polls for available jobs in seconds; -1 disables polling.",
                             "GOOD_JOB_POLL_INTERVAL", "1"))
@click.option("--max-cache", type=str, default=None, metavar="COUNT",
              help=_env_help("Maximum number of scheduled jobs to cache in memory.", "GOOD_JOB_MAX_CACHE", "10000"))
@click.option("--shutdown-timeout", type=str, default=None, metavar="SECONDS",
              help=_env_help("Seconds to wait for jobs to finish when shutting down before stopping them.",
                             "GOOD_JOB_SHUTDOWN_TIMEOUT", "-1 (forever)"))
@click.option("--idle-timeout", type=str, default=None, metavar="SECONDS",
              help=_env_help("Exit after this many seconds without work.", "GOOD_JOB_IDLE_TIMEOUT", "none"))
@click.option("--probe-port", type=str, default=None, metavar="PORT",
              help=_env_help("Serve /status, /status/started and /status/connected on this port.",
                             "GOOD_JOB_PROBE_PORT", "none"))
@click.option("--daemonize", is_flag=True, default=None,
              help=_env_help("Run as a background daemon.", "GOOD_JOB_DAEMONIZE", "false"))
@click.option("--pidfile", type=str, default=None, metavar="PIDFILE",
              help=_env_help("Path to write the daemonized process id.", "GOOD_JOB_PIDFILE",
                             "tmp/pids/goodjob.pid"))
@click.option("--enable-cron", is_flag=True, default=None,
              help=_env_help("Run cron entries in this process.", "GOOD_JOB_ENABLE_CRON", "false"))
@click.option("--cron-graceful-restart-period", type=str, default=None, metavar="SECONDS",
              help=_env_help("At start, enqueue cron runs missed within this many seconds.",
                             "GOOD_JOB_CRON_GRACEFUL_RESTART_PERIOD", "none"))
@click.option("--import", "imports", multiple=True, metavar="MODULE", help=IMPORT_HELP)
@click.option("--log-level", default=None, metavar="LEVEL", help=LOG_LEVEL_HELP)
def start(imports: tuple[str, ...], log_level: str | None, **flags: Any) -> None:
    """Executes queued jobs.

    All options can be configured with environment variables.
    See option descriptions for the matching environment variable name.

    \b
    == Configuring queues
    Separate multiple queues with commas; exclude queues with a leading minus;
    take queues in order before priority with a leading plus; separate isolated
    execution pools with semicolons and threads with colons.
    Example: --queues="mail:2;batch:1;-mail,batch:2;*"
    """
    from goodjob import starter

    _setup_logging(log_level or os.environ.get("GOOD_JOB_LOG_LEVEL") or "info")
    imports = imports or tuple(filter(None, [os.environ.get("GOOD_JOB_IMPORT")]))
    _import_modules(imports)
    cli = {name: value for name, value in flags.items() if value is not None}
    _run(lambda: starter.start_from_cli(cli))


@main.command()
@click.option("--import", "imports", multiple=True, metavar="MODULE", help=IMPORT_HELP)
def migrate(imports: tuple[str, ...]) -> None:
    """Creates or updates goodjob's tables (idempotent; safe to run from several deploys at once)."""
    import goodjob

    _setup_logging(os.environ.get("GOOD_JOB_LOG_LEVEL") or "info")
    _import_modules(imports)

    def run() -> None:
        applied = goodjob.migrate_sync()
        if applied:
            click.echo(f"goodjob: applied migration(s) {', '.join(f'{v:04d}' for v in applied)}")
        else:
            click.echo("goodjob: schema is up to date")

    _run(run)


def _pause_command(pausing: bool) -> Callable[..., None]:
    def command(queues: tuple[str, ...], job_classes: tuple[str, ...], imports: tuple[str, ...]) -> None:
        import goodjob

        if not queues and not job_classes:
            raise click.UsageError("name at least one --queue or --job-class")
        _setup_logging(os.environ.get("GOOD_JOB_LOG_LEVEL") or "warning")
        _import_modules(imports)
        act = goodjob.pause_sync if pausing else goodjob.resume_sync

        def run() -> None:
            for queue in queues:
                act(queue=queue)
            for job_class in job_classes:
                act(job_class=job_class)
            click.echo(_describe_paused(goodjob.paused_sync()))

        _run(run)

    return command


def _describe_paused(paused: Any) -> str:
    if not paused:
        return "goodjob: nothing is paused"
    lines = [f"goodjob: paused queues: {', '.join(paused.queues) or 'none'}",
             f"goodjob: paused job classes: {', '.join(paused.job_classes) or 'none'}"]
    return "\n".join(lines)


_PAUSE_OPTIONS = [
    click.option("--queue", "queues", multiple=True, metavar="QUEUE", help="A queue (repeatable)."),
    click.option("--job-class", "job_classes", multiple=True, metavar="CLASS",
                 help="A job class by its import name, e.g. app.jobs.SendEmail (repeatable)."),
    click.option("--import", "imports", multiple=True, metavar="MODULE", help=IMPORT_HELP),
]


def _with_pause_options(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_PAUSE_OPTIONS):
        fn = option(fn)
    return fn


main.command("pause", help="Pauses queues or job classes: their jobs wait (nothing is lost) until resumed; "
             "running workers stop starting them at once. Jobs already running finish.")(
    _with_pause_options(_pause_command(True)))
main.command("resume", help="Resumes paused queues or job classes; workers start their jobs at once.")(
    _with_pause_options(_pause_command(False)))


@main.command()
@click.option("--import", "imports", multiple=True, metavar="MODULE", help=IMPORT_HELP)
def paused(imports: tuple[str, ...]) -> None:
    """Lists the paused queues and job classes."""
    import goodjob

    _setup_logging(os.environ.get("GOOD_JOB_LOG_LEVEL") or "warning")
    _import_modules(imports)
    _run(lambda: click.echo(_describe_paused(goodjob.paused_sync())))


@main.command()
def schema() -> None:
    """Prints the schema SQL, for Alembic, Django or any migration tool that owns your schema."""
    from goodjob.core.storage.migrate import schema_sql

    click.echo(schema_sql(), nl=False)


@main.command("cleanup-preserved-jobs")
@click.option("--before-seconds-ago", type=str, default=None, metavar="SECONDS",
              help=_env_help("Delete records finished more than this many seconds ago.",
                             "GOOD_JOB_CLEANUP_PRESERVED_JOBS_BEFORE_SECONDS_AGO", "86400"))
@click.option("--import", "imports", multiple=True, metavar="MODULE", help=IMPORT_HELP)
def cleanup_preserved_jobs(before_seconds_ago: str | None, imports: tuple[str, ...]) -> None:
    """Deletes preserved job records.

    By default, goodjob deletes job records when the job is performed and this
    command is not necessary. With preserve_job_records enabled, run it regularly
    to delete old records and keep the table small.
    """
    import goodjob

    _setup_logging(os.environ.get("GOOD_JOB_LOG_LEVEL") or "warning")
    _import_modules(imports)
    cli = {"cleanup_preserved_jobs_before_seconds_ago": before_seconds_ago}

    def run() -> None:
        config_module.set_cli_options({k: v for k, v in cli.items() if v is not None})
        seconds = goodjob.current_config().cleanup_preserved_jobs_before_seconds_ago
        deleted = goodjob.cleanup_preserved_jobs_sync(older_than=seconds)
        click.echo(f"goodjob: deleted {deleted} preserved job(s) finished more than {seconds:g}s ago")

    _run(run)


@main.command()
@click.option("--port", default=8000, show_default=True, help="Port of the demo web server.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface of the demo web server.")
@click.option("--once", is_flag=True, help="Run one batch of sample jobs without the web server and print the results.")
def demo(port: int, host: str, once: bool) -> None:
    """Runs the demo: a web app with the dashboard at /good_job, workers in async_server mode and a
    stream of sample jobs, all on the embedded Postgres."""
    from goodjob.demo import run as demo_module

    _setup_logging(os.environ.get("GOOD_JOB_LOG_LEVEL") or "warning")
    _run(lambda: demo_module.run(host=host, port=port, once=once))


if __name__ == "__main__":  # pragma: no cover
    main()

