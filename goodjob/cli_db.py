"""``goodjob db status | stop | url | destroy``: the project's embedded Postgres, in plain sight.

The embedded server is found the way every command finds it (``GOOD_JOB_EMBEDDED_DIR``, else
``.goodjob`` at the project root; see ``core/project.py``), so these commands always talk about the
same cluster that ``goodjob start`` would use from the same directory.
"""

from __future__ import annotations

from typing import Any

import click

from goodjob import cli_support
from goodjob.cli_support import DATABASE_EPILOG, CommandGroup, common_options, prepare
from goodjob.core import config as config_module
from goodjob.core.config_kinds import mask_database_url
from goodjob.core.project import embedded_location


@click.group(cls=CommandGroup, epilog=DATABASE_EPILOG)
def db() -> None:
    """The project's embedded Postgres: status, stop, url, destroy."""


def _context() -> tuple[Any, Any]:
    config = config_module.current_config()
    return config, embedded_location(config.embedded_dir)


def _configured_note(config: Any) -> str | None:
    if config.database_url is not None:
        return (f"goodjob uses {mask_database_url(config.database_url)} (GOOD_JOB_DATABASE_URL, DATABASE_URL "
                "or goodjob.configure), not the embedded Postgres")
    return None


@db.command(epilog=DATABASE_EPILOG)
@common_options
def status(imports: tuple[str, ...], log_level: str | None, show_traceback: bool) -> None:
    """Shows where the embedded Postgres keeps its data, whether it runs, and its URL."""
    from goodjob.core.storage.embedded import embedded_status
    from goodjob.core.storage.embedded_idle import watcher_pid

    prepare(imports, log_level, show_traceback, "warning")

    def run() -> None:
        config, location = _context()
        note = _configured_note(config)
        if note:
            click.echo(f"goodjob: {note}")
        state = embedded_status(location.pgdata)
        click.echo(f"data:    {state.pgdata}  (from {location.reason})")
        if not state.exists:
            click.echo("state:   not created yet (the first command that needs it creates it)")
            return
        lifetime = (f"stops after {config.embedded_idle_timeout:g}s without clients "
                    "(GOOD_JOB_EMBEDDED_IDLE_TIMEOUT)" if config.embedded_idle_timeout else
                    "runs until `goodjob db stop` (GOOD_JOB_EMBEDDED_IDLE_TIMEOUT=off)")
        if state.running:
            watcher = watcher_pid(state.pgdata)
            click.echo(f"state:   running, pid {state.pid}; {lifetime}"
                       + (f"; idle watcher pid {watcher}" if watcher else "; no idle watcher"))
            click.echo(f"url:     {state.url()}")
        else:
            click.echo("state:   stopped (the next command that needs it starts it)")
        click.echo(f"size:    {state.size_bytes / 1e6:.1f} MB")

    cli_support.run(run, show_traceback=show_traceback)


@db.command(epilog=DATABASE_EPILOG)
@common_options
def stop(imports: tuple[str, ...], log_level: str | None, show_traceback: bool) -> None:
    """Stops the embedded Postgres (its data stays; the next command starts it again)."""
    from goodjob.core.storage.embedded import stop_embedded

    prepare(imports, log_level, show_traceback, "warning")

    def run() -> None:
        _config, location = _context()
        if stop_embedded(location.pgdata):
            click.echo(f"goodjob: stopped the embedded Postgres in {location.pgdata}")
        else:
            click.echo(f"goodjob: the embedded Postgres in {location.pgdata} was not running")

    cli_support.run(run, show_traceback=show_traceback)


@db.command(epilog=DATABASE_EPILOG)
@click.option("--database", default="goodjob", show_default=True, metavar="NAME",
              help="The database on the embedded server (the demo's is goodjob_demo).")
@common_options
def url(database: str, imports: tuple[str, ...], log_level: str | None, show_traceback: bool) -> None:
    """Prints the URL goodjob connects to (starting the embedded Postgres if it is the one), for
    psql or your own tools: psql "$(goodjob db url)"."""
    from goodjob.core.storage.embedded import ensure_embedded

    prepare(imports, log_level, show_traceback, "warning")

    def run() -> None:
        config, location = _context()
        if config.database_url is not None:
            click.echo(config.database_url)
            return
        click.echo(ensure_embedded(location.pgdata, database=database, idle_timeout=config.embedded_idle_timeout))

    cli_support.run(run, show_traceback=show_traceback)


@db.command(epilog=DATABASE_EPILOG)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@common_options
def destroy(yes: bool, imports: tuple[str, ...], log_level: str | None, show_traceback: bool) -> None:
    """Stops the embedded Postgres and deletes its data: every database in it, the demo's too."""
    from goodjob.core.storage.embedded import destroy_embedded

    prepare(imports, log_level, show_traceback, "warning")

    def run() -> None:
        _config, location = _context()
        if not (location.pgdata / "PG_VERSION").exists() and not location.pgdata.exists():
            click.echo(f"goodjob: there is no embedded Postgres in {location.pgdata}")
            return
        if not yes and not click.confirm(f"Delete the embedded Postgres in {location.pgdata} and all its data?"):
            raise click.exceptions.Exit(1)
        destroy_embedded(location.pgdata)
        click.echo(f"goodjob: deleted the embedded Postgres in {location.pgdata}")

    cli_support.run(run, show_traceback=show_traceback)
