"""Running a job task as its Cloud Run job execution would: `manage.py run_task` in a
process of its own, with the worker job's own args (the task's jobs:run call overrides
nothing), as the app stack sets them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from google.cloud import tasks_v2

from cloudtasks.config import env
from tests.django.backend_settings import HANDLER_URL, queues_variable

REPO = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT_SECONDS = 60
LOCATION = "projects/example-project/locations/europe-west1"
# What the stack sets on a worker job, without which system checks stop the command.
DEPLOYED = {
    env.QUEUES: queues_variable({"default": f"{LOCATION}/queues/worker", "long": f"{LOCATION}/queues/worker-long"}),
    env.HANDLER_URL: HANDLER_URL,
}


def run_task(*args: str, variables: Mapping[str, str] = DEPLOYED) -> subprocess.CompletedProcess[str]:
    """`python manage.py run_task ARGS` from the project directory, as the job container runs it."""
    argv, options = _manage_py("run_task", *args, variables=variables)
    return subprocess.run(argv, **options, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS)


def start_manage_py(
    command: str, *args: str, variables: Mapping[str, str] = DEPLOYED, under: Sequence[str] = ()
) -> subprocess.Popen[str]:
    """`python manage.py COMMAND ARGS`, started in a process of its own (run by the
    command `under`, if given, such as `faketime`); its output piped."""
    argv, options = _manage_py(command, *args, variables=variables)
    return subprocess.Popen([*under, *argv], **options, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _manage_py(command: str, *args: str, variables: Mapping[str, str]) -> tuple[list[str], dict[str, Any]]:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.django.subprocess_settings",
        "PYTHONPATH": str(REPO),
        **variables,
    }
    return [sys.executable, "manage.py", command, *args], {"cwd": REPO / "django_project", "env": environment}


def worker_args(queue_name: str) -> list[str]:
    """The args the app stack gives the worker job of `queue_name` (stacks/app_stack.py)."""
    return ["--queue", queue_name]


def execution_args(request: tasks_v2.HttpRequest, queue_name: str) -> list[str]:
    """The container args of the execution a job task's jobs:run call (`request`) starts,
    on the job of `queue_name`: the job's own, since the call overrides nothing."""
    if json.loads(request.body) != {}:
        raise AssertionError(f"the jobs:run call asks for more than the job as defined: {request.body!r}")
    return worker_args(queue_name)
