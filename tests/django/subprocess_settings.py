"""Settings for the Django processes tests start: the project's, plus the tests' task app.

(The test process itself adds the app in conftest.py.)
"""

import os

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.django.taskapp"]  # noqa: F405

# A short lease, for tests that kill a worker and wait for the task to be taken over.
if os.environ.get("TESTS_TASK_LEASE"):
    for _backend in TASKS.values():  # noqa: F405
        _backend["OPTIONS"]["LEASE"] = float(os.environ["TESTS_TASK_LEASE"])

# A periodic task of the tests' own, that notes each run in a file (test_periodic.py).
if os.environ.get("TESTS_PERIODIC_NOTES"):
    from cloudtasks.periodic import Periodic

    CLOUD_TASKS_PERIODIC = (*CLOUD_TASKS_PERIODIC, Periodic(  # noqa: F405
        "yearly-notes", task="tests.django.taskapp.tasks.note_run_then_sleep", schedule="0 0 1 1 *",
        args=[os.environ["TESTS_PERIODIC_NOTES"], 2.0],
    ))
