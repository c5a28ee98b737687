"""Where "the project" is: the directory whose embedded Postgres a command uses.

One cluster per project, not per working directory: ``cd app && goodjob paused`` must reach the
same server as ``goodjob start`` at the top. The project root is the nearest directory, from the
working directory up, that holds a ``pyproject.toml`` or is a git work tree (``.git``, a directory
or a worktree's file); with neither, the working directory itself. ``GOOD_JOB_EMBEDDED_DIR`` (or
``embedded_dir=``) overrides all of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EmbeddedLocation", "embedded_location", "find_project_root"]

MARKERS = ("pyproject.toml", ".git")


@dataclass(frozen=True)
class EmbeddedLocation:
    """The embedded cluster's directory (its data in ``pgdata/`` inside) and why it is there."""

    directory: Path
    reason: str

    @property
    def pgdata(self) -> Path:
        return self.directory / "pgdata"


def find_project_root(start: str | os.PathLike[str] | None = None) -> tuple[Path, str | None]:
    """The project root from ``start`` (default: the working directory) and the marker found."""
    here = Path(start if start is not None else os.getcwd()).resolve()
    for directory in (here, *here.parents):
        for marker in MARKERS:
            if (directory / marker).exists():
                return directory, marker
    return here, None


def embedded_location(configured: str | None, start: str | os.PathLike[str] | None = None) -> EmbeddedLocation:
    if configured is not None:
        return EmbeddedLocation(Path(configured).expanduser().resolve(), "GOOD_JOB_EMBEDDED_DIR / embedded_dir")
    root, marker = find_project_root(start)
    if marker:
        reason = f"the project root, {root} (it has {marker})"
    else:
        reason = "the working directory (no pyproject.toml or .git above it)"
    return EmbeddedLocation(root / ".goodjob", reason)
