"""`manage.py run_task`, what a Cloud Run Job execution runs.

The exit status is what Cloud Run acts on, so the tests that judge it run the command
in a process of its own, started as the job starts it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cloudtasks import env
from tests.django.backend_settings import HANDLER_URL, queues_variable, tasks_setting
from tests.django.taskapp import tasks

REPO = Path(__file__).resolve().parents[2]
TASKS = "tests.django.taskapp.tasks"
QUEUE_PATH = "projects/example-project/locations/europe-west1/queues/worker"
LONG_QUEUE_PATH = "projects/example-project/locations/europe-west1/queues/worker-long"
COMMAND_TIMEOUT_SECONDS = 60


def run_task(*args: str) -> subprocess.CompletedProcess[str]:
    """`python manage.py run_task ARGS` from the project directory, as the job container runs it."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.django.subprocess_settings",
        "PYTHONPATH": str(REPO),
        # What the stack sets on the worker job, without which system checks stop the command.
        env.QUEUES: queues_variable({"default": QUEUE_PATH, "long": LONG_QUEUE_PATH}),
        env.HANDLER_URL: HANDLER_URL,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "run_task", *args],
        cwd=REPO / "django_project", env=environment, capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
    )


@pytest.fixture
def job_execution_args(settings, fake_cloud_tasks):
    """The args Cloud Run gives the container of the execution a job-target task starts.

    The task is enqueued through the backend, to a fake Cloud Tasks that records the
    CreateTask request; its body is the jobs:run request Cloud Tasks would make.
    """
    settings.TASKS = tasks_setting(QUEUE_PATH, emulator_host=fake_cloud_tasks.address)

    def enqueue(task, *args) -> list[str]:
        task.using(backend="jobs").enqueue(*args)
        [request] = fake_cloud_tasks.requests
        [container] = json.loads(request.task.http_request.body)["overrides"]["containerOverrides"]
        return container["args"]

    return enqueue


def test_job_execution_runs_the_task_its_args_carry(job_execution_args, tmp_path):
    written = tmp_path / "written.txt"
    args = job_execution_args(tasks.write_file, str(written), "from a job")

    completed = run_task(*args)

    assert completed.returncode == 0, completed.stderr
    assert written.read_text() == "from a job"


def test_job_execution_of_a_failing_task_exits_non_zero(job_execution_args):
    args = job_execution_args(tasks.explode)

    completed = run_task(*args)

    assert completed.returncode != 0
    assert "task exploded" in completed.stderr  # the traceback, as Cloud Run's logs show it


def test_named_task_runs_with_json_arguments(tmp_path):
    written = tmp_path / "written.txt"

    completed = run_task("--task", f"{TASKS}.write_file", "--args", json.dumps([str(written), "scheduled"]))

    assert completed.returncode == 0, completed.stderr
    assert written.read_text() == "scheduled"


def test_heartbeat_the_schedule_runs_logs_one_line(caplog):
    with caplog.at_level(logging.INFO, logger="cloudtasks.tasks"):
        call_command("run_task", "--task", "cloudtasks.tasks.heartbeat")

    [line] = [r for r in caplog.records if r.name == "cloudtasks.tasks"]
    assert line.getMessage().startswith("Heartbeat at=")


def test_attempt_number_comes_from_cloud_run_task_attempt(monkeypatch):
    tasks.forget()
    monkeypatch.setenv("CLOUD_RUN_TASK_ATTEMPT", "2")  # Cloud Run counts retries from 0

    call_command("run_task", "--task", f"{TASKS}.succeed_on_third_attempt", "--kwargs", '{"key": "job"}')

    assert tasks.calls == [("job", 3)]


def test_task_that_was_never_declared_is_refused():
    with pytest.raises(CommandError, match=r"can never run: .*no_such_task"):
        call_command("run_task", "--task", f"{TASKS}.no_such_task")


def test_malformed_payload_is_refused():
    with pytest.raises(CommandError, match="can never run: payload is not JSON"):
        call_command("run_task", "--payload", "{not json")


def test_arguments_that_are_not_a_json_list_are_refused():
    with pytest.raises(CommandError, match="must be a JSON list"):
        call_command("run_task", "--task", f"{TASKS}.record", "--args", '{"label": "x"}')


def test_payload_and_arguments_together_are_refused():
    with pytest.raises(CommandError, match="a payload carries its own"):
        call_command("run_task", "--payload", "{}", "--args", '["x"]')
