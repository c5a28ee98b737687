"""The embedded Postgres stops by itself when nobody uses it.

A development server that outlives every command is a surprise (a process nobody started on
purpose, holding memory and files). So the first :func:`~goodjob.core.storage.embedded.ensure_embedded`
with an ``idle_timeout`` also starts a small watcher process for that data directory. Every few
seconds it counts the server's client connections; once there have been none for ``idle_timeout``
seconds and no command asked for the server meanwhile (``<pgdata>.used``, touched on every
``ensure_embedded``), it stops the server under the same lock that starting takes, and exits. It also
exits when the server stops for another reason (``goodjob db stop``). One watcher per data
directory: it holds ``<pgdata>.idle`` locked (and writes its pid there); its log is
``<pgdata>.idle.log``.

Run as ``python -m goodjob.core.storage.embedded_idle PGDATA SECONDS``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

__all__ = ["ensure_watcher", "forget", "mark_used", "watcher_pid"]


def _paths(pgdata: Path) -> tuple[Path, Path, Path]:
    return (pgdata.with_name(pgdata.name + ".idle"), pgdata.with_name(pgdata.name + ".used"),
            pgdata.with_name(pgdata.name + ".idle.log"))


def mark_used(pgdata: Path) -> None:
    """Tell the watcher a command just asked for the server (it will connect in a moment)."""
    used = _paths(pgdata)[1]
    used.touch()
    os.utime(used)


def forget(pgdata: Path) -> None:
    """Remove the watcher's files (``goodjob db destroy``)."""
    for path in _paths(pgdata):
        path.unlink(missing_ok=True)


def watcher_pid(pgdata: Path) -> int | None:
    """The pid of the watcher of ``pgdata``, or None when none runs."""
    lock = _paths(pgdata)[0]
    try:
        with open(lock) as handle:
            if _try_lock(handle):
                fcntl.flock(handle, fcntl.LOCK_UN)
                return None
            text = handle.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def ensure_watcher(pgdata: Path, timeout: float) -> None:
    """Start the watcher for ``pgdata`` unless one runs (callers hold the server's start lock)."""
    if watcher_pid(pgdata) is not None:
        return
    log = _paths(pgdata)[2]
    package_parent = str(Path(__file__).resolve().parents[3])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    with open(log, "a") as out:
        # The watcher forks again at once and its first process exits: waiting here leaves no zombie.
        subprocess.run(
            [sys.executable, "-m", "goodjob.core.storage.embedded_idle", str(pgdata), f"{timeout:g}"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True,
            check=False, timeout=30,
        )


def _try_lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} goodjob idle watcher {os.getpid()}: {message}", flush=True)


def watch(pgdata: Path, timeout: float) -> int:
    from goodjob.core.errors import GoodJobError
    from goodjob.core.storage.embedded_server import _is_postgres, _read_postmaster, _Server

    lock_path, used_path, _log_path = _paths(pgdata)
    with open(lock_path, "a+") as handle:
        if not _try_lock(handle):
            return 0  # another watcher has it
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        server = _Server(pgdata)
        interval = min(15.0, max(0.2, timeout / 5))
        last_busy = time.time()
        busy = None
        _log(f"watching {pgdata}: stops it after {timeout:g}s without clients")
        while True:
            time.sleep(interval)
            info = _read_postmaster(pgdata)
            if info is None or not _is_postgres(info.pid):
                _log("the server stopped; exiting")
                return 0
            try:
                clients = server.client_count()
            except GoodJobError:
                clients = 1  # starting up or shutting down: not idle
            if clients:
                last_busy = time.time()
            if bool(clients) != busy:
                busy = bool(clients)
                _log(f"{clients} client(s) connected" if clients else "no clients")
            if clients or _idle_for(last_busy, used_path) < timeout:
                continue
            with server.locked():
                if _idle_for(last_busy, used_path) < timeout or server.client_count():
                    continue
                try:
                    server.stop(mode="fast")
                except GoodJobError as exc:
                    _log(f"could not stop the server ({exc}); exiting")
                    return 1
            _log(f"stopped the server after {timeout:g}s without clients")
            return 0


def _idle_for(last_busy: float, used_path: Path) -> float:
    used = 0.0
    with contextlib.suppress(OSError):
        used = used_path.stat().st_mtime
    return time.time() - max(last_busy, used)


def main(argv: list[str]) -> int:
    if os.fork() > 0:
        return 0
    os.setsid()
    return watch(Path(argv[0]), float(argv[1]))


if __name__ == "__main__":  # pragma: no cover - a separate process
    os._exit(main(sys.argv[1:]))
