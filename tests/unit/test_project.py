"""One embedded cluster per project: the project root is found from any directory inside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from goodjob.core.config import Config
from goodjob.core.project import embedded_location, find_project_root


def test_nearest_pyproject_wins_over_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    deep = tmp_path / "app" / "jobs"
    deep.mkdir(parents=True)
    assert find_project_root(deep) == (tmp_path.resolve(), "pyproject.toml")
    assert embedded_location(None, deep).pgdata == tmp_path.resolve() / ".goodjob" / "pgdata"
    assert embedded_location(None, deep) == embedded_location(None, tmp_path)


def test_git_root_counts_too_and_a_worktree_file(tmp_path: Path) -> None:
    (tmp_path / ".git").write_text("gitdir: /elsewhere\n")  # a git worktree has a .git file
    (tmp_path / "src").mkdir()
    assert find_project_root(tmp_path / "src") == (tmp_path.resolve(), ".git")


def test_without_markers_the_working_directory_is_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    root, marker = find_project_root(lonely)
    if marker is None:  # tmp_path itself could lie inside some checkout; then that is the project
        assert root == lonely.resolve()
        assert "working directory" in embedded_location(None, lonely).reason


def test_explicit_directory_overrides_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    location = embedded_location(str(tmp_path / "elsewhere"), tmp_path)
    assert location.pgdata == (tmp_path / "elsewhere" / "pgdata").resolve()
    assert "GOOD_JOB_EMBEDDED_DIR" in location.reason
    monkeypatch.setenv("GOOD_JOB_EMBEDDED_DIR", str(tmp_path / "env"))
    assert Config.from_env().embedded_dir == str(tmp_path / "env")
