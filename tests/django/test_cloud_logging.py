"""With DJANGO_LOG_FORMAT=json (what the stack sets on Cloud Run), every line a process
writes is one JSON object Cloud Logging reads: its severity, its message, the labels of the
task attempt it is about, and on the web service the trace of the request that ran it.

The web service is gunicorn with config/gunicorn.py in a process of its own
(tests/django/web_process.py); a task waits in a paused emulator queue and is pushed to it
as Cloud Tasks pushes it (its body, its headers and token), with the trace header Google's
front end adds. A job execution is `manage.py run_task` in a process of its own.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.tasks import TaskResultStatus

from cloudtasks.auth.local_signing import TASK_NAME_HEADER
from cloudtasks.config import env
from cloudtasks.models import TaskRecord
from tests.django.backend_settings import queues_variable
from tests.django.conftest import configure_local_run, local_run_variables
from tests.django.job_execution import DEPLOYED
from tests.django.live import wait_for
from tests.django.loopback import free_port
from tests.django.taskapp import tasks
from tests.django.web_process import WebProcess

PROJECT = "example-project"
JSON_LOGS = {env.LOG_FORMAT: "json", env.PROJECT: PROJECT}
TRACE_ID = "105445aa7843bc8bf206b12000100000"
W3C_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE = "logging.googleapis.com/trace"
LABELS = "logging.googleapis.com/labels"
# The log-based metric's filter (docs/deploy.md) matches lines with this field.
FAILED_FOR_GOOD = {"event": "task_failed_permanently"}


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` as the JSON object it must be (a line that is not one fails here)."""
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise AssertionError(f"not a JSON line: {line!r}") from error
    return lines


def about(task_id: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line[LABELS].get("task_id") == task_id]


@pytest.fixture
def queue(tasks_emulator) -> Iterator[str]:
    """A paused emulator queue: its tasks wait there to be pushed by the test."""
    path = tasks_emulator.create_queue(paused=True)
    yield path
    tasks_emulator.delete_queue(path)


@pytest.fixture
def web(settings, database, transactional_db, tasks_emulator, queue, local_signing_key, tmp_path) -> Iterator[WebProcess]:
    """gunicorn serving the project on the test database with JSON logs, its output in a file."""
    port = free_port()
    server = WebProcess(port, local_run_variables(
        tasks_emulator.address, local_signing_key,
        **{env.DATABASE_URL: database.url, env.QUEUES: queues_variable({"default": queue, "long": queue}),
           env.HANDLER_URL: f"http://127.0.0.1:{port}/tasks/run/", **JSON_LOGS},
    ), log=tmp_path / "web.log")
    configure_local_run(settings, server.url, tasks_emulator.address, local_signing_key, {"default": queue, "long": queue})
    server.start()
    yield server
    server.stop()


def push_as_cloud_tasks(emulator, queue: str, server: WebProcess, trace_header: dict[str, str]) -> None:
    """Push the queue's one task to `server` as Cloud Tasks would, behind Google's front end."""
    [task] = emulator.client.list_tasks(request={"parent": queue, "response_view": "FULL"})
    request = urllib.request.Request(
        f"{server.url}/tasks/run/", data=task.http_request.body, method="POST",
        headers={**task.http_request.headers, TASK_NAME_HEADER: task.name.rsplit("/", 1)[1],
                 "X-CloudTasks-TaskRetryCount": "0", **trace_header},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def server_lines(server: WebProcess, task_id: str) -> list[dict[str, Any]]:
    """The server's lines, once its lines about the task are written (the answer comes first)."""
    wait_for(lambda: task_id in server.log.read_text(), "the server's lines about the task")
    return json_lines(server.log.read_text())


# --- The web service --------------------------------------------------------------------


def test_a_pushed_tasks_lines_carry_its_id_queue_attempt_and_the_cloud_trace_of_its_request(
    web, tasks_emulator, queue
):
    result = tasks.log_line.enqueue("a line of the task's own")
    push_as_cloud_tasks(tasks_emulator, queue, web, {"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"})

    lines = server_lines(web, result.id)
    traced = [line for line in lines if line[TRACE]]
    own = [line for line in traced if line.get("message") == "a line of the task's own"]
    assert TaskRecord.objects.get(pk=result.id).status == TaskResultStatus.SUCCESSFUL
    assert [line["severity"] for line in own] == ["WARNING"]
    assert traced and {line[TRACE] for line in traced} == {f"projects/{PROJECT}/traces/{TRACE_ID}"}
    for line in traced:  # every line the request logged is about the task
        assert {key: line[LABELS].get(key) for key in ("task_id", "task_queue", "task_attempt")} == {
            "task_id": result.id, "task_queue": "default", "task_attempt": "1"
        }, line


def test_a_push_with_a_w3c_traceparent_puts_the_tasks_lines_under_that_trace(web, tasks_emulator, queue):
    result = tasks.log_line.enqueue("under a W3C trace")
    push_as_cloud_tasks(tasks_emulator, queue, web, {"traceparent": f"00-{W3C_TRACE_ID}-00f067aa0ba902b7-01"})

    [own] = [line for line in server_lines(web, result.id) if line.get("message") == "under a W3C trace"]
    assert own[TRACE] == f"projects/{PROJECT}/traces/{W3C_TRACE_ID}"
    assert own[LABELS]["task_id"] == result.id


def test_a_task_that_fails_for_good_logs_one_line_the_metric_counts_under_its_trace(web, tasks_emulator, queue):
    result = tasks.fail_for_good.enqueue("no use retrying")
    push_as_cloud_tasks(tasks_emulator, queue, web, {"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"})

    counted = [line for line in server_lines(web, result.id) if FAILED_FOR_GOOD.items() <= line.items()]
    assert len(counted) == 1
    [line] = counted
    assert (line["severity"], line["task_id"], line["task_path"], line["task_queue"]) == (
        "ERROR", result.id, "tests.django.taskapp.tasks.fail_for_good", "default"
    )
    assert (line[TRACE], line[LABELS]["task_attempt"]) == (f"projects/{PROJECT}/traces/{TRACE_ID}", "1")


def test_every_line_the_web_server_writes_is_json_with_a_severity_gunicorns_own_too(web, tasks_emulator, queue):
    result = tasks.log_line.enqueue("one more")
    push_as_cloud_tasks(tasks_emulator, queue, web, {})
    web.terminate()  # gunicorn says it stops its workers, and exits

    lines = server_lines(web, result.id)
    assert all(line["severity"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"} for line in lines)
    gunicorn = [line for line in lines if line[LABELS].get("python_logger") == "gunicorn.error"]
    assert any(line["message"].startswith("Booting worker") for line in gunicorn), gunicorn
    assert any(line["message"].startswith("Shutting down") for line in gunicorn), gunicorn
    assert not any("task_id" in line[LABELS] for line in gunicorn)  # outside a task, no task
    [own] = [line for line in lines if line.get("message") == "one more"]
    assert (own[TRACE], own[LABELS]["task_id"]) == ("", result.id)  # a request with no trace header, no trace


# --- A job execution --------------------------------------------------------------------


def execution(name: str) -> dict[str, str]:
    """What Cloud Run sets on the first attempt of task 0 of execution `name`, and the stack's JSON logs."""
    return {**DEPLOYED, env.EXECUTION: name, env.TASK_INDEX: "0", env.TASK_ATTEMPT: "0", **JSON_LOGS}


def test_a_job_executions_lines_are_json_labelled_with_the_task_and_the_execution(job_execution_args, run_job):
    args = job_execution_args(tasks.log_line, "a line of the job task")
    task_id = TaskRecord.objects.get().pk

    completed = run_job(*args, variables=execution("worker-x1y2z"))

    assert completed.returncode == 0, completed.stderr
    lines = json_lines(completed.stdout + completed.stderr)
    assert [line["message"] for line in lines if line["severity"] == "WARNING"] == ["a line of the job task"]
    # Its report too, a line of its own now.
    assert f"task {task_id} (tests.django.taskapp.tasks.log_line) succeeded" in [line["message"] for line in lines]
    for line in about(task_id, lines):
        assert line[LABELS] | {"python_logger": ""} == {
            "python_logger": "", "task_id": task_id, "task_queue": "default", "task_attempt": "1",
            "run_execution": "worker-x1y2z", "run_task_index": "0",
        }
        assert line[TRACE] == ""  # a job has no request: its execution and task index say which run it was
    assert len(about(task_id, lines)) >= 2


def test_a_job_task_that_fails_for_good_logs_one_counted_line_and_its_error_as_json(job_execution_args, run_job):
    args = job_execution_args(tasks.fail_for_good, "broken input")
    task_id = TaskRecord.objects.get().pk

    completed = run_job(*args, variables=execution("worker-f41l"))

    assert completed.returncode != 0
    lines = json_lines(completed.stdout + completed.stderr)
    [counted] = [line for line in lines if FAILED_FOR_GOOD.items() <= line.items()]
    assert (counted["severity"], counted["task_id"], counted[LABELS]["run_execution"]) == ("ERROR", task_id, "worker-f41l")
    # What Django prints of the command's error is a line about the task too.
    [error] = [line for line in lines if line["message"].startswith("CommandError:")]
    assert (error["severity"], error[LABELS]["task_id"]) == ("ERROR", task_id)
    assert "failed for good" in error["message"]


def test_without_json_logs_a_job_execution_writes_text_as_before(job_execution_args, run_job):
    args = job_execution_args(tasks.log_line, "plain text")
    task_id = TaskRecord.objects.get().pk

    completed = run_job(*args)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"task {task_id} (tests.django.taskapp.tasks.log_line) succeeded\n"
    assert "plain text\n" in completed.stderr.splitlines(keepends=True)
