"""``goodjob start``: run a worker process until a signal (or the idle timeout) stops it.

Process concerns live here, not in the engine: the pidfile and daemonizing, signal handling (the
first SIGTERM/SIGINT shuts down gracefully within ``shutdown_timeout``; a second stops jobs at once;
a third exits immediately), the probe server, and the idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from goodjob.core import config as config_module
from goodjob.core.config import Config
from goodjob.core.errors import AlreadyRunningError, ConfigurationError, DatabaseUnavailableError
from goodjob.core.runtime import get_runtime
from goodjob.core.storage import db
from goodjob.core.worker.launcher import Worker

log = logging.getLogger("goodjob")


_early_signals: list[int] = []


def _remember_signal(signum: int, _frame: object) -> None:
    _early_signals.append(signum)


def start_from_cli(cli: dict[str, Any]) -> None:
    # A signal that arrives before the event loop installs its handlers (e.g. right after the
    # pidfile appears) must still mean "shut down cleanly", not the default instant death.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _remember_signal)
    config_module.set_cli_options(cli)
    config = config_module.current_config()
    pidfile: Path | None = None
    if config.daemonize:
        pidfile = Path(config.pidfile)
        if config.pidfile == Config.pidfile and not pidfile.parent.exists():
            pidfile.parent.mkdir(parents=True)  # the default place (tmp/pids/) is ours to create
            log.info("created %s for the pidfile", pidfile.parent)
        check_pidfile(pidfile)
        print(f"goodjob: starting in the background; pidfile {pidfile.resolve()}, "
              f"log {pidfile.with_suffix('.log').resolve()}", file=sys.stderr, flush=True)
        daemonize(pidfile.with_suffix(".log"))
        write_pidfile(pidfile)
    try:
        code = asyncio.run(run_worker(config))
    finally:
        if pidfile is not None:
            with contextlib.suppress(FileNotFoundError):
                pidfile.unlink()
    # Thread jobs abandoned at shutdown would keep a normal interpreter exit waiting forever.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# --- pidfile and daemon ------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def check_pidfile(pidfile: Path) -> None:
    """Refuse to start twice; name a missing directory instead of failing after the fork."""
    if not pidfile.parent.is_dir():
        raise ConfigurationError(
            f"pidfile directory {str(pidfile.parent)!r} does not exist (GOOD_JOB_PIDFILE / --pidfile="
            f"{str(pidfile)!r}); create it (mkdir -p {shlex.quote(str(pidfile.parent))}) or choose another path"
        )
    try:
        text = pidfile.read_text().strip()
    except FileNotFoundError:
        return
    if text.isdigit() and pid_alive(int(text)):
        raise AlreadyRunningError(
            f"goodjob is already running with pid {text} (pidfile {str(pidfile)!r}); stop it first"
        )
    log.info("removing stale pidfile %s (pid %s is not running)", pidfile, text)


def write_pidfile(pidfile: Path) -> None:
    tmp = pidfile.with_suffix(pidfile.suffix + ".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(pidfile)


def daemonize(log_path: Path) -> None:
    """Classic double fork: detach from the terminal and the parent's session.

    The daemon's output (its log) goes to ``log_path``, next to the pidfile, so that nothing holds
    the launching shell's terminal or pipes open.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)


# --- the worker process --------------------------------------------------------------------------


async def run_worker(config: Config) -> int:
    runtime = get_runtime()

    async def url() -> str:
        return await asyncio.to_thread(runtime.database_url)

    worker = Worker(config, database=runtime.database, url=url, execution_mode="external")
    stop = asyncio.Event()
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        name = signal.Signals(signum).name
        if signals == 1:
            log.info("%s received; shutting down (send again to stop jobs at once)", name)
            stop.set()
        elif signals == 2:
            log.warning("%s received again; interrupting running jobs now", name)
            for scheduler in worker.schedulers:
                for task in list(scheduler.running):
                    task.cancel()
        else:
            log.error("%s received a third time; exiting immediately", name)
            os._exit(1)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    for early in _early_signals:
        on_signal(early)

    probe = None
    if config.probe_port is not None:
        from goodjob.probe import ProbeServer

        probe = ProbeServer(config.probe_port, worker)
        await probe.start()
    try:
        try:
            await worker.start()
        except db.CONNECTION_ERRORS as exc:
            raise DatabaseUnavailableError(
                f"could not connect to {config.describe_database()}: {exc}; check that the server runs "
                "and that GOOD_JOB_DATABASE_URL (or DATABASE_URL) points at it"
            ) from exc
    except BaseException:
        if probe is not None:
            await probe.stop()
        await runtime.close_database()
        raise

    # Jobs of this process that enqueue jobs in an async mode hand them to this worker (fast path)
    # rather than starting a second in-process worker.
    runtime.in_process.attach(worker)
    idle_task = None
    if config.idle_timeout:
        idle_task = loop.create_task(_idle_watch(worker, config.idle_timeout, stop))
    await stop.wait()
    if idle_task is not None:
        idle_task.cancel()
    await worker.shutdown()
    if probe is not None:
        await probe.stop()
    await runtime.close_database()
    return 0


async def _idle_watch(worker: Worker, timeout: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(min(1.0, timeout / 4))
        if worker.idle_for() >= timeout:
            log.info("idle for %gs; exiting", timeout)
            stop.set()
