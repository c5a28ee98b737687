"""`goodjob start` subprocesses for tests: start them with a log file each, read their output, stop
them all (SIGTERM, then SIGKILL after 15 s). Subclasses say what environment a child gets."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


class WorkerProcesses:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[str]] = []

    def child_env(self, extra: dict[str, str]) -> dict[str, str]:
        raise NotImplementedError

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        log = open(self.tmp_path / f"worker{len(self.procs)}.log", "w+")
        proc = subprocess.Popen(
            [sys.executable, "-m", "goodjob", "start", *args], env=self.child_env(env or {}),
            stdout=log, stderr=subprocess.STDOUT, text=True, cwd=self.tmp_path,
        )
        proc.log_path = log.name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    @staticmethod
    def output(proc: subprocess.Popen[str]) -> str:
        return Path(proc.log_path).read_text()  # type: ignore[attr-defined]

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
