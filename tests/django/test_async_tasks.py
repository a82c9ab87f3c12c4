"""`async def` tasks: the backend accepts them, and both run sides run them.

Through the handler: enqueued to the emulator, pushed over HTTP to a live server.
Through `run_task`: as the task's job execution runs it, in a process of its own.
"""

from __future__ import annotations

import json

from cloudtasks.models import TaskRecord
from tests.django.event_loop import run_async
from tests.django.live import wait_for
from tests.django.taskapp import tasks


def test_async_task_runs_through_the_handler(local_run):
    tasks.arecord.enqueue("pushed")

    wait_for(lambda: tasks.calls, "the async task")
    assert tasks.calls == [("arecord", "pushed")]


def test_async_task_taking_its_context_runs_through_the_handler_with_its_result(local_run):
    enqueued = tasks.akeep_result.using(queue_name="long").enqueue("pushed")

    wait_for(lambda: "pushed" in tasks.results, "the async task")
    assert tasks.describe(tasks.results["pushed"]) == tasks.describe(enqueued)


def test_async_task_enqueued_with_aenqueue_runs_through_the_handler(local_run):
    run_async(tasks.arecord.aenqueue("awaited"))

    wait_for(lambda: tasks.calls, "the async task")
    assert tasks.calls == [("arecord", "awaited")]


def test_async_task_runs_through_run_task(job_execution_args, run_job, tmp_path):
    written = tmp_path / "written.txt"

    completed = run_job(*job_execution_args(tasks.awrite_file, str(written), "from a job"))

    assert completed.returncode == 0, completed.stderr
    assert written.read_text() == "from a job"


def test_async_task_taking_its_context_runs_through_run_task_with_its_result(job_execution_args, run_job, tmp_path):
    written = tmp_path / "result.json"

    args = job_execution_args(tasks.awrite_result, str(written))

    completed = run_job(*args)

    assert completed.returncode == 0, completed.stderr
    run_side = json.loads(written.read_text())
    assert run_side["id"] == TaskRecord.objects.get().pk
    assert run_side["task"]["module_path"] == "tests.django.taskapp.tasks.awrite_result"
    assert run_side["backend"] == run_side["task"]["backend"] == "jobs"
