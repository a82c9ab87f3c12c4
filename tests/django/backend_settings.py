"""TASKS settings for tests: both backends of config.settings, on a given queue."""

from __future__ import annotations

from typing import Any

HANDLER_URL = "https://web.example.test/tasks/run/"
INVOKER = "tasks-invoker@example-project.iam.gserviceaccount.com"
JOB_PATH = "projects/example-project/locations/europe-west1/jobs/worker"
BACKEND = "cloudtasks.backend.CloudTasksBackend"


def tasks_setting(
    queue_path: str, *, emulator_host: str, url: str = HANDLER_URL, **options: Any
) -> dict[str, Any]:
    """TASKS with "default" (http target, pushing to `url`) and "jobs" (job target).

    `options` are added to both, e.g. ENQUEUE_ATTEMPTS=2.
    """
    shared = {
        "QUEUE_PATH": queue_path,
        "SERVICE_ACCOUNT_EMAIL": INVOKER,
        "EMULATOR_HOST": emulator_host,
        **options,
    }
    return {
        "default": {"BACKEND": BACKEND, "OPTIONS": {**shared, "TARGET": "http", "URL": url}},
        "jobs": {"BACKEND": BACKEND, "OPTIONS": {**shared, "TARGET": "job", "JOB_PATH": JOB_PATH}},
    }
