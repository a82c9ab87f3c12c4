"""The app's package shows its flow (the map: packaging/django/src/cloudtasks/__init__.py),
and this repository's project takes it from its installed distribution.

Every import of a `cloudtasks` module counts, wherever it is written: at module level,
inside a function (an import deferred to break a circle is still a circle), or under
TYPE_CHECKING. Read from the source, so that nothing has to be imported to be judged.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "packaging" / "django" / "src"
PACKAGE = SOURCE / "cloudtasks"
DISTRIBUTION = "cloud-background-work-django"

# What every group shares, at the top level: the errors and signals users catch and
# connect to, and the task record with its field. (The package's own __init__ is not one
# of them: it holds public names such as enqueue_together, which lead into the groups.)
FOUNDATION = {"cloudtasks.exceptions", "cloudtasks.signals", "cloudtasks.fields", "cloudtasks.models"}
# The groups each group may import besides its own: imports point from the Django glue
# (the top level, but FOUNDATION) down to configuration, never back.
MAY_IMPORT = {
    "foundation": set(),
    "config": set(),
    "wire": {"foundation", "config"},
    "auth": {"foundation", "config", "wire"},
    "enqueue": {"foundation", "config", "wire", "auth"},
    "run": {"foundation", "config", "wire", "auth"},
    "operations": {"foundation", "config", "wire", "auth", "enqueue", "run"},
    "local": {"config"},
    "django": {"foundation", "config", "wire", "auth", "enqueue", "run", "operations", "local"},
}
# Top-level folders that are Django's conventions, not groups of the flow.
DJANGO_FOLDERS = {"management", "migrations", "postgresql"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def group_of(module: str) -> str:
    """The group a module is in: the subpackage of the package it is in, FOUNDATION, or else
    the Django glue at the top level."""
    if module in FOUNDATION:
        return "foundation"
    if module == "cloudtasks":
        return "django"
    top = module.split(".")[1]
    return top if (PACKAGE / top).is_dir() and top not in DJANGO_FOLDERS else "django"


def imported(module: str, path: Path, known: Iterable[str]) -> set[str]:
    """The package's modules `module` imports, wherever in it the import is written."""
    known = set(known)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from package import module`
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {module: imported(module, path, found) for module, path in found.items()}


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The import circles of `graph`: its strongly connected components of more than one
    module (Tarjan's algorithm), each as the modules on it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_circles_are_found_where_there_are_some():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}

    assert circles(graph) == [["a", "b", "c"]]


def test_the_package_has_no_import_circle():
    found = circles(import_graph())

    assert found == [], "modules that import each other, directly or around a circle:\n" + "\n".join(map(str, found))


def test_every_module_belongs_to_a_known_group():
    unknown = {module: group_of(module) for module in modules() if group_of(module) not in MAY_IMPORT}

    assert unknown == {}, "a new group needs its place in MAY_IMPORT and in cloudtasks/__init__.py's map"


def test_each_group_imports_only_the_groups_below_it():
    crossing = sorted(
        f"{module} ({group_of(module)}) imports {other} ({group_of(other)})"
        for module, others in import_graph().items()
        for other in others
        if group_of(other) != group_of(module) and group_of(other) not in MAY_IMPORT[group_of(module)]
    )

    assert crossing == [], "\n".join(crossing)


def test_the_project_imports_the_app_from_its_installed_distribution():
    spec = importlib.util.find_spec("cloudtasks")
    installed = importlib.metadata.distribution(DISTRIBUTION)
    where = json.loads(installed.read_text("direct_url.json") or "{}")
    # Without site-packages, only what pytest adds to the path: the repository's root and
    # django_project (for the project's config and accounts).
    from_the_folders = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {[str(ROOT), str(ROOT / 'django_project')]!r}; "
                                     f"import cloudtasks"],
        capture_output=True, text=True, timeout=60,
    )

    assert Path(spec.origin).is_relative_to(PACKAGE) or Path(spec.origin).is_relative_to(installed.locate_file("")), spec
    assert where.get("url") == PACKAGE.parents[1].as_uri() and where.get("dir_info", {}).get("editable"), where
    assert "No module named 'cloudtasks'" in from_the_folders.stderr, from_the_folders.stderr
    assert not (ROOT / "django_project" / "cloudtasks").exists()
