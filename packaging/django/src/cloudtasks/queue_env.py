"""CLOUD_TASKS_QUEUES: how the stack describes its Cloud Tasks queues to Django.

One JSON object, by django.tasks queue name:

    {"default": {"queue_path": "projects/P/locations/L/queues/app-default",
                 "invoker_email": "app-default-invoker@P.iam.gserviceaccount.com",
                 "job_path": "projects/P/locations/L/jobs/app-default",
                 "job_max_retries": 3, "job_timeout": 600,
                 "retry": {"max_attempts": 5, "min_backoff": "10s", "max_backoff": "600s",
                           "max_retry_duration": "600s"},
                 "max_running": 4, "slot_wait": 60},
     "long": {...}}

`queue_path`, `invoker_email` and `job_path` are what a QueueWorker exposes for its
queue; `job_max_retries` is its job's max_retries (the run side knows a job task's last
attempt by it); `job_timeout` its job's task timeout in seconds (Cloud Run stops an
attempt then: the flush knows until when a job task may still be running); `retry` is
the queue's RetryConfig as the stack declares it, a field it leaves to Cloud Tasks left
out (cloudtasks.config.retry fills in Cloud Tasks' default); `max_running` is how many of its
job's executions may use the database at once, and `slot_wait` how long one more waits
for a slot (cloudtasks.run.slots), as the stack's connection budget allows
(stacks/connection_budget.py). The settings
turn it into each backend's OPTIONS["QUEUES"], whose values `manage.py check` checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from cloudtasks.config import env

QUEUE_PATH = "queue_path"
INVOKER_EMAIL = "invoker_email"
JOB_PATH = "job_path"
JOB_MAX_RETRIES = "job_max_retries"
JOB_TIMEOUT = "job_timeout"
RETRY = "retry"
MAX_RUNNING = "max_running"
SLOT_WAIT = "slot_wait"
# The backend option each key of a queue's entry fills.
OPTION_OF = {
    QUEUE_PATH: "QUEUE_PATH", INVOKER_EMAIL: "SERVICE_ACCOUNT_EMAIL", JOB_PATH: "JOB_PATH",
    JOB_MAX_RETRIES: "JOB_MAX_RETRIES", JOB_TIMEOUT: "JOB_TIMEOUT", RETRY: "RETRY",
    MAX_RUNNING: "MAX_RUNNING", SLOT_WAIT: "SLOT_WAIT",
}
JOB_ONLY = (JOB_PATH, JOB_MAX_RETRIES, JOB_TIMEOUT)
KEY_OF = {option: key for key, option in OPTION_OF.items()}

Queues = Mapping[str, Mapping[str, Any]]


def read(text: str) -> Queues:
    """The queues `text` (the variable's value) describes; none when it is empty.

    ImproperlyConfigured, naming the variable, when it is not an object of objects with
    the keys above; the values themselves are checked with the backend's options.
    """
    if not text.strip():
        return {}
    try:
        queues = json.loads(text)
    except json.JSONDecodeError as error:
        raise _malformed(f"is not JSON ({error})") from error
    if not isinstance(queues, dict):
        raise _malformed("must be a JSON object with an entry for each queue")
    for name, entry in queues.items():
        if not isinstance(entry, dict):
            raise _malformed(f"has {entry!r} for queue {name!r}; each queue's entry must be an object")
        unknown = sorted(set(entry) - set(OPTION_OF))
        if unknown:
            raise _malformed(
                f"has {', '.join(map(repr, unknown))} for queue {name!r}; an entry's keys are "
                f"{', '.join(OPTION_OF)}"
            )
    return queues


def backend_queues(queues: Queues, names: Iterable[str], *, target: str) -> dict[str, dict[str, Any]]:
    """OPTIONS["QUEUES"] for a backend with TARGET `target` that accepts the queue `names`.

    A name the variable does not describe gets empty options, which `check` reports.
    """
    keys = [key for key in OPTION_OF if target == "job" or key not in JOB_ONLY]
    return {name: {OPTION_OF[key]: queues.get(name, {}).get(key, "") for key in keys} for name in names}


def invoker_emails(queues: Queues) -> list[str]:
    """Every identity a queue pushes with: the push handler accepts tokens of these."""
    return sorted({entry[INVOKER_EMAIL] for entry in queues.values() if entry.get(INVOKER_EMAIL)})


def _malformed(problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"{env.QUEUES} {problem}. It must look like "
        f'{{"default": {{"{QUEUE_PATH}": "projects/P/locations/L/queues/Q", "{INVOKER_EMAIL}": "...", '
        f'"{JOB_PATH}": "projects/P/locations/L/jobs/J", "{JOB_MAX_RETRIES}": 3, "{JOB_TIMEOUT}": 600, '
        f'"{RETRY}": {{"max_attempts": 5}}, "{MAX_RUNNING}": 4, "{SLOT_WAIT}": 60}}}}.'
    )
