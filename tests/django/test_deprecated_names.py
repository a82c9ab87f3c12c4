"""Module names from before the package was grouped by its flow (0.3.0) still import, with
a DeprecationWarning that names the new one, as that very module: what users wrote keeps
working, and a record's `exception_class_path` written before the move still names the
class the runner raises today (cloudtasks.deprecated)."""

from __future__ import annotations

import importlib
import sys

import pytest
from django.tasks.base import TaskError

from cloudtasks.run.runner import UnrunnableTask
from cloudtasks.run.shutdown import Interrupted

MOVED = {
    "cloudtasks.shutdown": "cloudtasks.run.shutdown",  # a server hook's import (config/gunicorn.py)
    "cloudtasks.runner": "cloudtasks.run.runner",
    "cloudtasks.repair": "cloudtasks.operations.repair",  # docs/reliability.md's repair_times
}


@pytest.mark.parametrize(("old", "new"), MOVED.items())
def test_an_old_module_name_imports_the_moved_module_with_a_deprecation_warning(old, new, monkeypatch):
    monkeypatch.delitem(sys.modules, old, raising=False)  # imported afresh, as a new process would

    with pytest.warns(DeprecationWarning, match=rf"^{old} is deprecated: it is now {new}$"):
        module = importlib.import_module(old)

    assert module is importlib.import_module(new)


@pytest.mark.parametrize(("recorded", "raised"), [
    ("cloudtasks.shutdown.Interrupted", Interrupted),
    ("cloudtasks.runner.UnrunnableTask", UnrunnableTask),
])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_error_recorded_before_the_move_names_the_class_raised_now(recorded, raised):
    error = TaskError(exception_class_path=recorded, traceback="")

    assert error.exception_class is raised
