"""Django is optional: only goodjob/django/ imports it, and goodjob works without it installed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "goodjob"


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_goodjob_django_imports_django() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if PACKAGE / "django" in path.parents:
            continue
        for name in _imported_modules(path):
            if name.split(".")[0] in ("django", "django_tasks", "asgiref"):
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert offenders == []


def test_the_core_cli_and_dashboard_import_no_django() -> None:
    code = (
        "import sys, goodjob, goodjob.cli, goodjob.starter, goodjob.dashboard, goodjob.core.runtime\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'django_tasks'))\n"
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
