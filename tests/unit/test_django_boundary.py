"""Django is optional: importing goodjob (core, CLI, dashboard) loads no Django. That only
goodjob/django/ imports it is checked statically in test_imports.py (CONFINED)."""

from __future__ import annotations

import subprocess
import sys


def test_the_core_cli_and_dashboard_import_no_django() -> None:
    code = (
        "import sys, goodjob, goodjob.cli, goodjob.starter, goodjob.dashboard, goodjob.core.runtime\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'django_tasks'))\n"
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
