"""The send budget covers the whole send-after-commit path: a pushed task (or a job
execution) that enqueues thousands of tasks while Cloud Tasks hangs waits one budget for
them, does nothing for each task it could not send (no UPDATE, no log line), logs one
line for all of them, and leaves them due for the next flush, which sends every one.

Cloud Tasks hangs for real: the fake gRPC server stalls (tests/django/fake_cloud_tasks.py)
or the emulator is frozen (SIGSTOP). Pushes go through the real handler: in process (so
that its SQL statements can be counted), under gunicorn's ASGI worker over HTTP, and in
`manage.py run_task` as a job execution runs it. Statements, log lines and CreateTask
calls are counted; the time a push takes beyond its task's own body (which returns the
seconds its INSERTs took) is held to the budget plus a margin for the rest of the
request (the claim, the commit, the batched UPDATEs).
"""

from __future__ import annotations

import logging
import math
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from cloudtasks.auth.local_signing import configured_signer, vouch
from cloudtasks.config import env
from cloudtasks.config.options import DEFAULT_SEND_BUDGET
from cloudtasks.enqueue import send_budget
from cloudtasks.enqueue.task_request import build_request
from cloudtasks.models import TaskRecord
from cloudtasks.operations.flush import flush
from tests.django.backend_settings import queues_variable, tasks_setting
from tests.django.conftest import configure_local_run, local_run_variables
from tests.django.fake_cloud_tasks import Stall
from tests.django.job_execution import DEPLOYED
from tests.django.live import wait_for
from tests.django.loopback import free_port
from tests.django.pushes import AUDIENCE, INVOKER, SIGNER, google_like_auth, push
from tests.django.taskapp import tasks
from tests.django.web_process import WebProcess

QUEUE = "projects/example-project/locations/europe-west1/queues/default"
BUDGET = 0.3
CHILDREN = 2000
# What a push may take beyond its task's body and the budget: claiming and finishing the
# task, committing its rows, the batched UPDATEs; generous, for a machine under load.
# (Before the budget covered the whole path, 2,000 unsent children took seconds more.)
MARGIN = 1.0
# The failed send's line and the summary: no more, however many tasks were left.
MAX_WARNINGS = 2


def children() -> list[TaskRecord]:
    return list(TaskRecord.objects.filter(task_path=tasks.record.module_path))


def untouched_and_due(records: list[TaskRecord]) -> list[TaskRecord]:
    """The pending records that no UPDATE of their own wrote (no failure counted, no
    error) and that the next flush takes."""
    now = timezone.now()
    return [r for r in records if r.pending and r.send_failures == 0 and not r.send_error and r.check_after <= now]


def warnings_from_cloudtasks(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.name.startswith("cloudtasks") and r.levelno >= logging.WARNING]


def summary(sent: int, enqueued: int) -> str:
    return f"{sent} of {enqueued} tasks sent after commit, {enqueued - sent} left to the flush"


@dataclass
class Pushed:
    status: int
    seconds: float
    updates: int  # UPDATE statements on this thread's connection


def push_counting_updates(client: Client, body: bytes) -> Pushed:
    """Push `body` to the handler in process, counting the UPDATE statements it makes."""
    updates = []

    def count(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("UPDATE"):
            updates.append(sql)
        return execute(sql, params, many, context)

    token = SIGNER.mint(audience=AUDIENCE, email=INVOKER)
    with connection.execute_wrapper(count):
        started = time.monotonic()
        response = push(client, body, token=token)
        seconds = time.monotonic() - started
    return Pushed(response.status_code, seconds, len(updates))


def body_sent(fake_cloud_tasks, task_id: str) -> bytes:
    [request] = [r for r in fake_cloud_tasks.requests if r.task.name.endswith(f"/{task_id}")]
    return request.task.http_request.body


@pytest.fixture
def trusted_pushes(settings, google_like_keys, fake_cloud_tasks, transactional_db) -> None:
    """The handler trusts SIGNER's tokens as production trusts Google's; tasks go to the
    fake Cloud Tasks."""
    settings.CLOUD_TASKS_AUTH = google_like_auth(google_like_keys)
    settings.TASKS = tasks_setting(QUEUE, emulator_host=fake_cloud_tasks.address, SEND_BUDGET=BUDGET)


@pytest.mark.both_databases
def test_a_pushed_task_enqueueing_thousands_while_cloud_tasks_hangs_waits_one_budget_and_leaves_them_to_the_flush(
    trusted_pushes, fake_cloud_tasks, caplog
):
    client = Client()
    none = tasks.enqueue_children.enqueue(0)
    thousands = tasks.enqueue_children.enqueue(CHILDREN)
    baseline = push_counting_updates(client, body_sent(fake_cloud_tasks, none.id))  # the runner's own statements
    fake_cloud_tasks.script[:] = [Stall(seconds=2)]  # the first send hangs (so would the others)
    caplog.clear()

    pushed = push_counting_updates(client, body_sent(fake_cloud_tasks, thousands.id))

    assert pushed.status == 200
    body_seconds = TaskRecord.objects.get(pk=thousands.id).return_value
    assert pushed.seconds - body_seconds < BUDGET + MARGIN
    # One UPDATE for the send that failed, and one per batch of the tasks left unsent.
    assert pushed.updates - baseline.updates <= 1 + math.ceil(CHILDREN / send_budget.LEFT_BATCH)
    warnings = warnings_from_cloudtasks(caplog.records)
    assert len(warnings) <= MAX_WARNINGS, warnings[:5]
    assert summary(0, CHILDREN) in warnings[-1]
    assert len(untouched_and_due(children())) == CHILDREN - 1  # all but the one whose send failed

    report = flush()

    assert (report.sent, report.stopped_early) == (CHILDREN, False)
    assert {f"{QUEUE}/tasks/{child.pk}" for child in children()} <= set(fake_cloud_tasks.held)


@pytest.mark.urls("tests.django.taskapp.urls")
def test_after_a_send_fails_the_request_sends_no_more_and_leaves_the_rest_to_the_flush(
    trusted_pushes, fake_cloud_tasks, caplog
):
    fake_cloud_tasks.script[:] = [grpc.StatusCode.UNAVAILABLE]  # refused at once: Cloud Tasks is down

    response = Client().get("/enqueue/5/")

    assert response.status_code == 200
    assert len(fake_cloud_tasks.requests) == 1
    [failed] = [r for r in children() if r.send_failures]
    assert failed.send_error.startswith("UNAVAILABLE")
    assert len(untouched_and_due(children())) == 4
    assert summary(0, 5) in warnings_from_cloudtasks(caplog.records)[-1]


@pytest.mark.urls("tests.django.taskapp.urls")
def test_a_request_whose_sends_all_succeed_logs_nothing(trusted_pushes, fake_cloud_tasks, caplog):
    response = Client().get("/enqueue/5/")

    assert response.status_code == 200
    assert len(fake_cloud_tasks.requests) == 5
    assert warnings_from_cloudtasks(caplog.records) == []


def test_a_job_execution_enqueueing_many_while_cloud_tasks_hangs_waits_one_budget(
    job_execution_args, run_job, fake_cloud_tasks
):
    count = 20
    args = job_execution_args(tasks.enqueue_children, count)
    fake_cloud_tasks.script[:] = [Stall(seconds=1)] * count

    completed = run_job(*args, variables={**DEPLOYED, env.EMULATOR_HOST: fake_cloud_tasks.address})

    assert completed.returncode == 0, completed.stderr
    assert len(fake_cloud_tasks.requests) == 2  # the job task itself, then the one child that hung
    assert len(untouched_and_due(children())) == count - 1
    assert summary(0, count) in completed.stderr


@pytest.fixture
def asgi_server(settings, database, transactional_db, tasks_emulator, paused_tasks_queue, local_signing_key,
                tmp_path) -> Iterator[WebProcess]:
    """gunicorn's ASGI worker serving the project (config.asgi) on the test database, as a
    local run's process, sending to a paused queue of the session's emulator; this
    process's TASKS route to the same queue. The emulator is thawed afterwards, whatever
    the test did to it."""
    queues = {"default": paused_tasks_queue, "long": paused_tasks_queue}
    port = free_port()
    server = WebProcess(port, local_run_variables(
        tasks_emulator.address, local_signing_key,
        **{env.DATABASE_URL: database.url, env.QUEUES: queues_variable(queues),
           env.HANDLER_URL: f"http://127.0.0.1:{port}/tasks/run/"},
    ), gunicorn_args="--worker-class asgi --workers 1", app="config.asgi", log=tmp_path / "server.log")
    configure_local_run(settings, server.url, tasks_emulator.address, local_signing_key, queues)
    server.start()
    yield server
    tasks_emulator.thaw()
    server.stop()


def test_under_asgi_a_pushed_task_enqueueing_thousands_while_the_emulator_is_frozen_waits_one_budget(
    asgi_server, tasks_emulator, paused_tasks_queue
):
    parent = tasks.enqueue_children.enqueue(CHILDREN)  # held by the paused queue; pushed by hand below
    record = TaskRecord.objects.get(pk=parent.id)
    route = tasks.enqueue_children.get_backend().route(record.queue_name)
    # The request the emulator would push, with the token a local run binds to it.
    pushed = vouch(build_request(route, record), configured_signer()).task
    request = urllib.request.Request(
        f"{asgi_server.url}/tasks/run/", data=pushed.http_request.body, method="POST",
        headers={**pushed.http_request.headers, "X-CloudTasks-TaskName": record.cloud_tasks_id()},
    )
    tasks_emulator.freeze()

    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=60) as response:
        status = response.status
    seconds = time.monotonic() - started

    assert status == 200
    body_seconds = TaskRecord.objects.get(pk=parent.id).return_value
    assert seconds - body_seconds < DEFAULT_SEND_BUDGET + MARGIN
    # Handed to the flush when the request finishes, which is after its response is sent.
    wait_for(lambda: len(untouched_and_due(children())) == CHILDREN - 1, "the unsent children to be due")
    log = asgi_server.log.read_text()
    assert log.count("left to the flush") == 1 and summary(0, CHILDREN) in log
    assert log.count("not sent after commit") <= 1

    tasks_emulator.thaw()
    report = flush()

    assert (report.sent, report.stopped_early) == (CHILDREN, False)
    held = {task.name for task in tasks_emulator.list_tasks(paused_tasks_queue)}
    assert {f"{paused_tasks_queue}/tasks/{child.pk}" for child in children()} <= held
