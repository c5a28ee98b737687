"""The ``goodjob`` command line: start | migrate | schema | cleanup-preserved-jobs | demo |
pause | resume | paused | db | jobs (cli_jobs.py) | help.

Every option also reads a ``GOOD_JOB_*`` environment variable. Flags are passed to the
configuration as "CLI" values so that the documented precedence holds: flag > code
(``goodjob.configure`` in a module loaded with ``--import``) > environment > default.
Every command imports ``--import`` / ``GOOD_JOB_IMPORT`` before it touches a database, and
reports a failure as one line (see ``cli_support``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import click

from goodjob import cli_support
from goodjob.cli_db import db
from goodjob.cli_jobs import jobs_group
from goodjob.cli_support import (
    DATABASE_EPILOG,
    TRACEBACK_HELP,
    CommandGroup,
    common_options,
    env_help,
    prepare,
)
from goodjob.core import config as config_module
from goodjob.core.progress import Meter

log = logging.getLogger("goodjob")

class MainGroup(CommandGroup):
    default_command = "start"


@click.group(cls=MainGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="goodjob-pg")
@click.pass_context
def main(ctx: click.Context) -> None:
    """goodjob: a Postgres-backed job queue.

    Without a command (or with only options, as in `goodjob --queues=mail --max-threads=5`), runs
    `start`. `goodjob help COMMAND` shows a command's help; `cleanup_preserved_jobs` spellings work too.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(start)


@main.command("help")
@click.argument("command", nargs=-1)
@click.pass_context
def help_command(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Shows the help of goodjob or of a command: `goodjob help start`, `goodjob help db stop`."""
    parent = ctx.parent
    assert parent is not None
    group: click.Command = parent.command
    target_ctx = parent
    for name in command:
        if not isinstance(group, click.Group):
            raise click.UsageError(f"{target_ctx.command_path} has no subcommands; try `goodjob help`")
        found = group.get_command(target_ctx, name)
        if found is None:
            known = ", ".join(group.list_commands(target_ctx))
            raise click.UsageError(f"no such command {name!r}; the commands are: {known}")
        target_ctx = click.Context(found, info_name=found.name, parent=target_ctx)
        group = found
    click.echo(group.get_help(target_ctx))


@main.command(epilog=DATABASE_EPILOG)
@click.option("--max-threads", type=str, default=None, metavar="COUNT",
              help=env_help("Maximum number of threads (concurrent jobs) per pool.", "GOOD_JOB_MAX_THREADS", "5"))
@click.option("--queues", type=str, default=None, metavar="QUEUE_LIST",
              help=env_help("Queues to work from.", "GOOD_JOB_QUEUES", "*"))
@click.option("--poll-interval", type=str, default=None, metavar="SECONDS",
              help=env_help("Interval between polls for available jobs in seconds; -1 disables polling.",
                             "GOOD_JOB_POLL_INTERVAL", "1"))
@click.option("--max-cache", type=str, default=None, metavar="COUNT",
              help=env_help("Maximum number of scheduled jobs to cache in memory.", "GOOD_JOB_MAX_CACHE", "10000"))
@click.option("--shutdown-timeout", type=str, default=None, metavar="SECONDS",
              help=env_help("Seconds to wait for jobs to finish when shutting down before stopping them.",
                             "GOOD_JOB_SHUTDOWN_TIMEOUT", "-1 (forever)"))
@click.option("--idle-timeout", type=str, default=None, metavar="SECONDS",
              help=env_help("Exit after this many seconds without work.", "GOOD_JOB_IDLE_TIMEOUT", "none"))
@click.option("--probe-port", type=str, default=None, metavar="PORT",
              help=env_help("Serve /status, /status/started, /status/connected and /metrics on this port.",
                             "GOOD_JOB_PROBE_PORT", "none"))
@click.option("--daemonize", is_flag=True, default=None,
              help=env_help("Run as a background daemon.", "GOOD_JOB_DAEMONIZE", "false"))
@click.option("--pidfile", type=str, default=None, metavar="PIDFILE",
              help=env_help("Path to write the daemonized process id.", "GOOD_JOB_PIDFILE",
                             "tmp/pids/goodjob.pid"))
@click.option("--enable-cron", is_flag=True, default=None,
              help=env_help("Run cron entries in this process.", "GOOD_JOB_ENABLE_CRON", "false"))
@click.option("--cron-graceful-restart-period", type=str, default=None, metavar="SECONDS",
              help=env_help("At start, enqueue cron runs missed within this many seconds.",
                             "GOOD_JOB_CRON_GRACEFUL_RESTART_PERIOD", "none"))
@common_options
def start(imports: tuple[str, ...], log_level: str | None, show_traceback: bool, **flags: Any) -> None:
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

    prepare(imports, log_level, show_traceback, "info")
    cli = {name: value for name, value in flags.items() if value is not None}
    cli_support.run(lambda: starter.start_from_cli(cli), show_traceback=show_traceback)


@main.command(epilog=DATABASE_EPILOG)
@common_options
def migrate(imports: tuple[str, ...], log_level: str | None, show_traceback: bool) -> None:
    """Creates or updates goodjob's tables (idempotent; safe to run from several deploys at once)."""
    import goodjob

    prepare(imports, log_level, show_traceback, "info")

    def run() -> None:
        applied = goodjob.migrate_sync()
        where = goodjob.current_config().describe_database()
        if applied:
            click.echo(f"goodjob: applied migration(s) {', '.join(f'{v:04d}' for v in applied)} to {where}")
        else:
            click.echo(f"goodjob: schema is up to date in {where}")

    cli_support.run(run, show_traceback=show_traceback)


def _pause_command(pausing: bool) -> Callable[..., None]:
    def command(queues: tuple[str, ...], job_classes: tuple[str, ...], imports: tuple[str, ...],
                log_level: str | None, show_traceback: bool) -> None:
        import goodjob

        if not queues and not job_classes:
            raise click.UsageError("name at least one --queue or --job-class")
        prepare(imports, log_level, show_traceback, "warning")
        act = goodjob.pause_sync if pausing else goodjob.resume_sync

        def run() -> None:
            for queue in queues:
                act(queue=queue)
            for job_class in job_classes:
                act(job_class=job_class)
            click.echo(_describe_paused(goodjob.paused_sync()))

        cli_support.run(run, show_traceback=show_traceback)

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
]


def _with_pause_options(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_PAUSE_OPTIONS):
        fn = option(fn)
    return common_options(fn)


main.command("pause", epilog=DATABASE_EPILOG,
             help="Pauses queues or job classes: their jobs wait (nothing is lost) until resumed; "
             "running workers stop starting them at once. Jobs already running finish.")(
    _with_pause_options(_pause_command(True)))
main.command("resume", epilog=DATABASE_EPILOG,
             help="Resumes paused queues or job classes; workers start their jobs at once.")(
    _with_pause_options(_pause_command(False)))


@main.command(epilog=DATABASE_EPILOG)
@common_options
def paused(imports: tuple[str, ...], log_level: str | None, show_traceback: bool) -> None:
    """Lists the paused queues and job classes."""
    import goodjob

    prepare(imports, log_level, show_traceback, "warning")
    cli_support.run(lambda: click.echo(_describe_paused(goodjob.paused_sync())), show_traceback=show_traceback)


@main.command()
@common_options
def schema(imports: tuple[str, ...], log_level: str | None, show_traceback: bool) -> None:
    """Prints the schema SQL, for Alembic, Django or any migration tool that owns your schema.

    It touches no database."""
    from goodjob.core.storage.migrate import schema_sql

    prepare(imports, log_level, show_traceback, "warning")
    click.echo(schema_sql(), nl=False)


@main.command("cleanup-preserved-jobs", epilog=DATABASE_EPILOG)
@click.option("--before-seconds-ago", type=str, default=None, metavar="SECONDS",
              help=env_help("Delete records finished more than this many seconds ago.",
                             "GOOD_JOB_CLEANUP_PRESERVED_JOBS_BEFORE_SECONDS_AGO", "86400"))
@common_options
def cleanup_preserved_jobs(before_seconds_ago: str | None, imports: tuple[str, ...], log_level: str | None,
                           show_traceback: bool) -> None:
    """Deletes preserved job records.

    By default, goodjob deletes job records when the job is performed and this
    command is not necessary. With preserve_job_records enabled, run it regularly
    to delete old records and keep the table small. On a terminal it shows its
    progress (rows deleted, rate); it always ends with a summary line.
    """
    prepare(imports, log_level, show_traceback, "warning")
    cli = {"cleanup_preserved_jobs_before_seconds_ago": before_seconds_ago}

    def run() -> None:
        config_module.set_cli_options({k: v for k, v in cli.items() if v is not None})
        seconds = config_module.current_config().cleanup_preserved_jobs_before_seconds_ago
        meter = Meter("cleanup-preserved-jobs", unit="rows deleted", stream=sys.stderr, log=log)
        deleted = _cleanup(seconds, meter)
        click.echo(f"goodjob: deleted {deleted} preserved job(s) finished more than {seconds:g}s ago "
                   f"({meter.summary()})")

    cli_support.run(run, show_traceback=show_traceback)


@main.command()
@click.option("--port", default=8000, show_default=True, envvar="PORT",
              help="Port of the demo web server (env var: PORT).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface of the demo web server.")
@click.option("--once", is_flag=True, help="Run one batch of sample jobs without the web server and print the results.")
@click.option("--traceback", "show_traceback", is_flag=True, help=TRACEBACK_HELP)
def demo(port: int, host: str, once: bool, show_traceback: bool) -> None:
    """Runs the demo: a web app with the dashboard at /good_job, workers in async_server mode and a
    stream of sample jobs.

    Database: its own database, goodjob_demo, on the project's embedded Postgres (never your app's
    database; GOOD_JOB_DATABASE_URL is ignored), so its sample jobs stay out of your data.
    `goodjob db destroy` removes it with the rest of the embedded data."""
    from goodjob.demo import run as demo_module

    prepare((), None, show_traceback, "warning")
    cli_support.run(lambda: demo_module.run(host=host, port=port, once=once), show_traceback=show_traceback)


def _cleanup(seconds: float, meter: Meter) -> int:
    from goodjob.core.cleanup import cleanup_preserved_jobs as cleanup
    from goodjob.core.runtime import get_runtime

    runtime = get_runtime()

    async def run() -> int:
        db = await runtime.database()
        return await cleanup(db.pool, older_than=seconds, on_progress=meter.update)

    return runtime.run_sync(run)


main.add_command(db)
main.add_command(jobs_group)


if __name__ == "__main__":  # pragma: no cover
    main()

