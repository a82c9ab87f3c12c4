"""Each django.tasks queue name goes to its own Cloud Tasks queue, and every enqueue
option reaches the run.

The settings are config.settings loaded from CLOUD_TASKS_QUEUES as a deployment's
are, describing two queues in the emulator. The queues are paused, so what was
enqueued stays in them to be read; a job task then runs as its execution would:
`manage.py run_task` in a process of its own, with the worker job's own args (its
jobs:run call overrides nothing).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta, timezone as dt_timezone

import pytest
from django.tasks.exceptions import InvalidTask
from django.utils import timezone

from cloudtasks.wire.payload import decode
from tests.django import enqueued_tasks
from tests.django.backend_settings import HANDLER_URL, invoker, job_path
from tests.django.event_loop import run_async
from tests.django.job_execution import execution_args
from tests.django.taskapp import tasks

RUN_API = "https://run.googleapis.com/v2"


def queued(tasks_emulator, paused_queues, name):
    return tasks_emulator.list_tasks(paused_queues[name])


def test_long_job_task_is_created_in_the_long_queue_and_runs_as_it_was_enqueued(
    tasks_emulator, paused_queues, deployed, run_job, tmp_path
):
    """The issue's "done when": the run side's TaskResult is the enqueue side's."""
    written = tmp_path / "result.json"
    # In a zone other than UTC, to the microsecond: the instant must arrive unchanged. Soon:
    # Cloud Tasks starts the execution once it is due, and only then does it take the task.
    run_after = timezone.now().astimezone(dt_timezone(timedelta(hours=-5))) + timedelta(seconds=1)

    result = tasks.write_result.using(queue_name="long", backend="jobs", run_after=run_after).enqueue(str(written))

    assert queued(tasks_emulator, paused_queues, "default") == []
    [task] = queued(tasks_emulator, paused_queues, "long")
    assert task.name == f"{paused_queues['long']}/tasks/{result.id}"
    assert task.schedule_time == run_after
    assert task.http_request.url == f"{RUN_API}/{job_path('long')}:run"
    assert task.http_request.oauth_token.service_account_email == invoker("long")

    time.sleep(max(0.0, (run_after - timezone.now()).total_seconds()))  # Cloud Tasks' schedule_time
    completed = run_job(*execution_args(task.http_request, "long"), variables=deployed)

    assert completed.returncode == 0, completed.stderr
    run_side = json.loads(written.read_text())
    assert run_side == tasks.describe(result)
    assert run_side["task"] | {"module_path": None} == {
        "module_path": None, "backend": "jobs", "queue_name": "long", "priority": 0,
        "run_after": run_after.astimezone(dt_timezone.utc).isoformat(), "takes_context": True,
    }


def test_http_task_on_the_long_queue_is_pushed_with_the_long_queues_invoker(tasks_emulator, paused_queues, deployed):
    result = tasks.record.using(queue_name="long").enqueue("report")

    [task] = queued(tasks_emulator, paused_queues, "long")
    assert task.name.endswith(f"/tasks/{result.id}")
    assert task.http_request.url == HANDLER_URL
    assert task.http_request.oidc_token.service_account_email == invoker("long")
    assert decode(task.http_request.body).queue_name == "long"


def test_task_declared_on_a_queue_goes_to_that_queue(tasks_emulator, paused_queues, deployed):
    enqueued_tasks.build_report.enqueue(7)

    assert queued(tasks_emulator, paused_queues, "default") == []
    [task] = queued(tasks_emulator, paused_queues, "long")
    assert task.http_request.url == f"{RUN_API}/{job_path('long')}:run"


def test_default_queue_is_the_default_queues_cloud_tasks_queue(tasks_emulator, paused_queues, deployed):
    enqueued_tasks.greet.enqueue("Ada")
    enqueued_tasks.rebuild_index.enqueue(3)

    assert queued(tasks_emulator, paused_queues, "long") == []
    by_url = {task.http_request.url: task for task in queued(tasks_emulator, paused_queues, "default")}
    assert by_url.keys() == {HANDLER_URL, f"{RUN_API}/{job_path('default')}:run"}
    assert by_url[HANDLER_URL].http_request.oidc_token.service_account_email == invoker("default")


UNKNOWN_QUEUE = {
    "using()": lambda: enqueued_tasks.greet.using(queue_name="emails").enqueue("Ada"),
    "using() on the jobs backend": lambda: enqueued_tasks.greet.using(queue_name="emails", backend="jobs"),
    "aenqueue": lambda: run_async(enqueued_tasks.greet.using(queue_name="emails").aenqueue("Ada")),
}


@pytest.mark.parametrize("enqueue", UNKNOWN_QUEUE.values(), ids=UNKNOWN_QUEUE.keys())
def test_unknown_queue_is_refused_naming_the_queues_there_are_before_anything_is_sent(
    tasks_emulator, paused_queues, deployed, enqueue
):
    with pytest.raises(InvalidTask, match=r"Queue 'emails' is not valid for backend '\w+': it routes default, long"):
        enqueue()

    assert queued(tasks_emulator, paused_queues, "default") == queued(tasks_emulator, paused_queues, "long") == []
