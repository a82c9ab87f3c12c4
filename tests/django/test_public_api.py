"""What a project writes of cloudtasks is there: every name the public API at the top of
cloudtasks/__init__.py lists, and every `cloudtasks.` name and `cloudtasks/` path the
README and the guides give, imports (or is a file of the package)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import cloudtasks

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "packaging" / "django" / "src"
DOCS = [ROOT / "README.md", ROOT / "packaging" / "django" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A dotted name, not the end of a longer one nor a role (roles/cloudtasks.enqueuer).
NAME = re.compile(r"(?<![\w/.])cloudtasks(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"(?<![\w/.])cloudtasks/[\w./]*\w")
# Dotted, but not Python: check ids (cloudtasks.E001) and the API's host name.
NOT_PYTHON = re.compile(r"cloudtasks\.[EW]\d{3}|cloudtasks\.googleapis\.com")


def public_api() -> set[str]:
    listed = cloudtasks.__doc__.split("The package, laid out")[0]
    return set(NAME.findall(listed))


def documented_names() -> set[str]:
    return {name for doc in DOCS for name in NAME.findall(doc.read_text()) if not NOT_PYTHON.fullmatch(name)}


def documented_paths() -> set[str]:
    return {path for doc in DOCS for path in PATH.findall(doc.read_text())}


def resolved(name: str) -> str | None:
    """`name` as what it names calls itself (a module's own name, then the attributes);
    None if nothing imports by that name. A deprecated name resolves to the new one."""
    module_name, attributes = name, []
    while module_name:
        try:
            found = importlib.import_module(module_name)
        except ModuleNotFoundError:
            module_name, _, attribute = module_name.rpartition(".")
            attributes.insert(0, attribute)
            continue
        real_name = found.__name__
        for attribute in attributes:
            if not hasattr(found, attribute):
                return None
            found = getattr(found, attribute)
        return ".".join([real_name, *attributes])
    return None


def test_the_public_api_is_listed_in_one_place():
    assert {"cloudtasks.backend.CloudTasksBackend", "cloudtasks.urls", "cloudtasks.testing.captured_tasks",
            "cloudtasks.exceptions.PermanentFailure", "cloudtasks.signals.task_failed_permanently",
            "cloudtasks.tasks.flush_outbox", "cloudtasks.non_atomic"} <= public_api()


@pytest.mark.parametrize("name", sorted(public_api() | documented_names()))
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # a deprecated name is refused below, by what it names
def test_a_name_the_public_api_or_the_docs_give_imports_under_that_name(name):
    assert resolved(name) == name, (
        f"{name} is {resolved(name) or 'not there'}: the docs or cloudtasks/__init__.py name an old or missing name"
    )


def test_every_package_path_the_docs_give_is_there():
    missing = sorted(path for path in documented_paths() if not (SOURCE / path).exists())

    assert missing == [], f"paths under packaging/django/src that the docs give, and that are not there: {missing}"
