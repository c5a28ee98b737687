"""README.md's Python code blocks, extracted and run as a reader would paste them, top to bottom.

Rules the README follows (and ``test_readme.py`` enforces):

* A block whose first line is a file comment (``# app/jobs.py``, ``# enqueue.py (...)``) is written to
  that path in the scratch project; a path with a directory is then imported as a module
  (``app.jobs``), a top-level one run as a script (``python enqueue.py``).
* Every other block runs in one shared namespace, in order, so a block may use what an earlier one
  defined; top-level ``await`` works (the blocks run inside one event loop, as in a request handler).
* A block that cannot run on its own (it stands for the reader's code: their connection, their
  exceptions, a library we do not install) is preceded by ``<!-- readme-test: skip: why -->``.

Run as ``python readme_snippets.py README.md`` in a scratch directory with ``GOOD_JOB_DATABASE_URL``
set; it prints a JSON summary on its last line.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
import re
import runpy
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)\s*$")
SKIP = re.compile(r"^\s*<!--\s*readme-test:\s*skip:\s*(?P<reason>\S.*?)\s*-->\s*$")
ANY_MARKER = re.compile(r"readme-test")
FILE_COMMENT = re.compile(r"^#\s*(?P<path>[\w./-]+\.py)\b")


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None

    @property
    def path(self) -> str | None:
        first = self.code.lstrip().splitlines()[0] if self.code.strip() else ""
        match = FILE_COMMENT.match(first)
        return match["path"] if match else None


def blocks(text: str) -> list[Block]:
    """Every fenced block, with the skip reason of a marker on the line before it."""
    lines = text.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent = opening["indent"]
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != f"{indent}```":
            end += 1
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = SKIP.match(previous)
        if marker is None and ANY_MARKER.search(previous):
            raise ValueError(f"README.md:{i}: malformed marker {previous.strip()!r}; "
                             "write <!-- readme-test: skip: the reason -->")
        code = textwrap.dedent("\n".join(lines[i + 1:end]))
        found.append(Block(i + 1, opening["lang"], code + "\n", marker["reason"] if marker else None))
        i = end + 1
    return found


def python_blocks(text: str) -> list[Block]:
    return [b for b in blocks(text) if b.lang == "python"]


async def run(readme_text: str) -> dict[str, object]:
    import goodjob

    here = Path.cwd()
    sys.path.insert(0, str(here))
    namespace: dict[str, object] = {"__name__": "readme"}
    ran: list[int] = []
    skipped: list[int] = []
    for block in python_blocks(readme_text):
        if block.skip is not None:
            skipped.append(block.line)
            continue
        where = f"README.md:{block.line}"
        try:
            if block.path is not None:
                target = here / block.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code)
                if "/" in block.path:
                    importlib.import_module(block.path.removesuffix(".py").replace("/", "."))
                else:
                    await asyncio.to_thread(runpy.run_path, str(target), run_name="__main__")
            else:
                code = compile(block.code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                result = eval(code, namespace)
                if asyncio.iscoroutine(result):
                    await result
        except BaseException as exc:
            raise SystemExit(f"{where}: the block failed: {type(exc).__name__}: {exc}") from exc
        ran.append(block.line)
    await goodjob.shutdown()
    return {"ran": ran, "skipped": skipped}


if __name__ == "__main__":
    summary = asyncio.run(run(Path(sys.argv[1]).read_text()))
    print(json.dumps(summary))
