"""TASKS settings for tests: both backends of config.settings, on given queues."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

HANDLER_URL = "https://web.example.test/tasks/run/"
INVOKER = "tasks-invoker@example-project.iam.gserviceaccount.com"
JOB_PATH = "projects/example-project/locations/europe-west1/jobs/worker"
BACKEND = "cloudtasks.backend.CloudTasksBackend"


def invoker(queue_name: str) -> str:
    """The identity the tests' queue `queue_name` pushes with: each queue has its own."""
    return INVOKER if queue_name == "default" else f"{queue_name}-invoker@example-project.iam.gserviceaccount.com"


def job_path(queue_name: str) -> str:
    """The job the tests' queue `queue_name` starts: each queue has its own."""
    return JOB_PATH if queue_name == "default" else f"{JOB_PATH}-{queue_name}"


def tasks_setting(
    queues: str | Mapping[str, str], *, emulator_host: str, url: str = HANDLER_URL, **options: Any
) -> dict[str, Any]:
    """TASKS with "default" (http target, pushing to `url`) and "jobs" (job target).

    `queues` maps queue names to Cloud Tasks queue paths (one path: the queue
    "default"); `options` are added to both, e.g. SEND_BUDGET=0.3.
    """
    paths = {"default": queues} if isinstance(queues, str) else queues

    def routes(target: str) -> dict[str, dict[str, str]]:
        return {
            name: {
                "QUEUE_PATH": path,
                "SERVICE_ACCOUNT_EMAIL": invoker(name),
                **({"JOB_PATH": job_path(name)} if target == "job" else {}),
            }
            for name, path in paths.items()
        }

    shared = {"EMULATOR_HOST": emulator_host, **options}
    return {
        "default": {"BACKEND": BACKEND, "OPTIONS": {**shared, "TARGET": "http", "URL": url, "QUEUES": routes("http")}},
        "jobs": {"BACKEND": BACKEND, "OPTIONS": {**shared, "TARGET": "job", "QUEUES": routes("job")}},
    }


def queues_variable(paths: Mapping[str, str], retry: Mapping[str, Any] | None = None, **slots: float) -> str:
    """CLOUD_TASKS_QUEUES as the stack sets it, for queues at `paths` (by queue name);
    `slots`: max_running and slot_wait, for every queue."""
    return json.dumps({
        name: {
            "queue_path": path, "invoker_email": invoker(name), "job_path": job_path(name), "retry": retry or {}, **slots,
        }
        for name, path in paths.items()
    })


def with_options(tasks: Mapping[str, Any], alias: str, **options: Any) -> dict[str, Any]:
    """TASKS with `options` added to the OPTIONS of backend `alias`, e.g. JOB_TIMEOUT=600."""
    backend = tasks[alias]
    return {**tasks, alias: {**backend, "OPTIONS": {**backend["OPTIONS"], **options}}}
