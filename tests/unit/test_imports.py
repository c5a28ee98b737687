"""The package's architecture as a test: no import circles, and imports only in allowed directions.

Reads every module of ``goodjob/`` with ``ast`` (nothing is imported) and builds the graph of our
own imports, module-level and function-local alike (a local import that dodges a circle is still a
circle); imports under ``if TYPE_CHECKING:`` are left out, since they never run. DESIGN.md ("Layout")
states the same rules in prose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "goodjob"

#: (importer prefix, forbidden prefixes): a module under the first may not import any of the second.
FORBIDDEN: list[tuple[str, tuple[str, ...]]] = [
    # core is the engine: it never reaches up to the public face, the dashboard or the demo.
    ("goodjob.core", ("goodjob.dashboard", "goodjob.demo", "goodjob.job", "goodjob.functions", "goodjob.batch",
                      "goodjob.pending", "goodjob.control", "goodjob.cli", "goodjob.asgi", "goodjob.starter",
                      "goodjob.probe",
                      "goodjob.jobs", "goodjob.current", "goodjob.testing", "goodjob.cli_jobs", "goodjob.cli_support",
                      "goodjob.metrics")),
    # storage is the database door: it knows nothing of who uses it.
    ("goodjob.core.storage", ("goodjob.core.worker", "goodjob.core.features", "goodjob.core.runtime",
                              "goodjob.core.enqueue", "goodjob.core.admin")),
    # features plug into enqueue and the worker; they never drive the worker or the runtime.
    ("goodjob.core.features", ("goodjob.core.worker", "goodjob.core.runtime", "goodjob.core.admin")),
    # the worker is composed by the runtime, never the other way around.
    ("goodjob.core.worker", ("goodjob.core.runtime", "goodjob.core.admin")),
    # the job API (goodjob.jobs over core/operations) serves the dashboard with its own pool: it gets
    # the runtime's default pool through a seam (operations.register), never by importing it.
    ("goodjob.core.operations", ("goodjob.core.worker", "goodjob.core.runtime", "goodjob.core.features")),
    ("goodjob.jobs", ("goodjob.core.worker", "goodjob.core.runtime", "goodjob.dashboard")),
    # the dashboard reads and acts through the operator API and storage, never the worker side.
    ("goodjob.dashboard", ("goodjob.core.worker", "goodjob.core.runtime", "goodjob.demo", "goodjob.cli")),
]

#: Third-party packages that belong to one room only.
CONFINED = {
    "asyncpg": ("goodjob.core.storage.db",),
    "starlette": ("goodjob.dashboard", "goodjob.demo.web"),
    "jinja2": ("goodjob.dashboard",),
    "prometheus_client": ("goodjob.metrics",),  # an optional extra: imported only where metrics are asked for
    # Django is optional (the `django` extra): only the Tasks backend package imports it.
    "django": ("goodjob.django",),
    "django_tasks": ("goodjob.django",),
    "asgiref": ("goodjob.django",),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> list[str]:
    """Every module this one imports (absolute names), outside TYPE_CHECKING blocks."""
    tree = ast.parse(path.read_text("utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append(sub if sub in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


GRAPH = {name: sorted({i for i in _imports(name, path) if i in MODULES and i != name})
         for name, path in MODULES.items()}
EXTERNAL = {name: {i.split(".")[0] for i in _imports(name, path)} for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def strong(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            strong(v)
    return found


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_graph_sees_the_package() -> None:
    # Guards the test itself: a broken walker would find no edges and pass everything.
    assert "goodjob.core.worker.launcher" in MODULES
    assert "goodjob.jobs" in GRAPH["goodjob.dashboard.pages.jobs"]  # the dashboard acts through the job API
    assert "goodjob.core.storage.store" in GRAPH["goodjob.core.worker.scheduler"]
    assert "asyncpg" in EXTERNAL["goodjob.core.storage.db"]


def test_no_import_circles() -> None:
    assert _cycles() == [], "import circles (break them; see DESIGN.md 'Layout')"


@pytest.mark.parametrize(("importer", "forbidden"), FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_import_directions(importer: str, forbidden: tuple[str, ...]) -> None:
    bad = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if _under(module, importer)
        for target in targets
        if any(_under(target, f) for f in forbidden)
    ]
    assert bad == []


@pytest.mark.parametrize("library", sorted(CONFINED))
def test_third_party_packages_stay_in_their_room(library: str) -> None:
    rooms = CONFINED[library]
    outside = sorted(m for m, libs in EXTERNAL.items() if library in libs and not any(_under(m, r) for r in rooms))
    assert outside == []


#: Modules over the limit whose split waits for work in flight on them (to be emptied, not grown).
PENDING_SPLIT: set[str] = set()


def test_modules_stay_small() -> None:
    limit = 450  # DESIGN.md says ~400; this is the hard stop
    big = sorted(
        f"{name}: {n}" for name, p in MODULES.items()
        if (n := len(p.read_text().splitlines())) > limit and name not in PENDING_SPLIT
    )
    assert big == []
