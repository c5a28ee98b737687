"""Every Python block of README.md runs as pasted (against the test Postgres), or says why not."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from conftest import ROOT, child_env
from readme_snippets import blocks, python_blocks

README = ROOT / "README.md"


def test_the_extractor_reads_markers_files_and_indented_blocks() -> None:
    text = (
        "intro\n\n<!-- readme-test: skip: stands for your code -->\n```python\nyour_code()\n```\n\n"
        "- a list item:\n\n  ```python\n  # app/x.py\n  X = 1\n  ```\n\n```bash\nls\n```\n"
    )
    found = blocks(text)
    assert [(b.lang, b.skip, b.path) for b in found] == [
        ("python", "stands for your code", None), ("python", None, "app/x.py"), ("bash", None, None)
    ]
    assert found[1].code == "# app/x.py\nX = 1\n"
    with pytest.raises(ValueError, match="malformed marker"):
        blocks("<!-- readme-test: skipp -->\n```python\nx\n```\n")


def test_every_skipped_block_says_why_and_most_blocks_run() -> None:
    found = python_blocks(README.read_text())
    assert all(b.skip for b in found if b.skip is not None)
    runnable = [b for b in found if b.skip is None]
    assert len(runnable) >= 12 and len(runnable) > 2 * (len(found) - len(runnable)), [b.line for b in found]


async def test_readme_python_blocks_run(database_url: str, tmp_path: Path) -> None:
    env = child_env(database_url)
    env["PYTHONPATH"] = str(ROOT / "tests")  # not the checkout's root: the README's app/ is the scratch one
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(ROOT / "tests" / "readme_snippets.py"), str(README)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(summary["ran"]) == len([b for b in python_blocks(README.read_text()) if b.skip is None])
    conn = await asyncpg.connect(database_url)
    try:
        classes = {r["job_class"] for r in await conn.fetch("SELECT job_class FROM good_jobs")}
    finally:
        await conn.close()
    # The quick start's enqueue.py and request-handler blocks really enqueued their jobs.
    assert {"app.jobs.SendWelcomeEmail", "app.jobs.resize_image"} <= classes, classes
