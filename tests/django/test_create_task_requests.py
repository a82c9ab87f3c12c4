"""The exact CreateTask requests the backend sends: any change in what reaches Google
shows up in review as a snapshot diff.

Requests are captured by a real gRPC server, so they are what went over the wire. The
task id and the enqueue time are random or current, so they are replaced by
placeholders after the tests check them.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.tasks import TaskResult
from django.utils import timezone
from google.cloud import tasks_v2
from google.protobuf import json_format
from syrupy.extensions.json import JSONSnapshotExtension

from cloudtasks.models import TaskRecord
from cloudtasks.wire.payload import decode
from tests.django import enqueued_tasks
from tests.django.backend_settings import tasks_setting

QUEUE = "projects/example-project/locations/europe-west1/queues/default"
LONG_QUEUE = "projects/example-project/locations/europe-west1/queues/long"


@pytest.fixture(autouse=True)
def backends_on_fake(settings, transactional_db, fake_cloud_tasks):
    settings.TASKS = tasks_setting({"default": QUEUE, "long": LONG_QUEUE}, emulator_host=fake_cloud_tasks.address)


@pytest.fixture
def snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def sent(fake_cloud_tasks) -> tasks_v2.CreateTaskRequest:
    [request] = fake_cloud_tasks.requests
    return request


def readable(request: tasks_v2.CreateTaskRequest, result: TaskResult) -> dict:
    """The request as JSON, its body decoded, its id and times replaced by placeholders."""
    document = json_format.MessageToDict(
        tasks_v2.CreateTaskRequest.pb(request), preserving_proto_field_name=True
    )
    http_request = document["task"]["http_request"]
    http_request["body"] = json.loads(base64.b64decode(http_request["body"]))
    if "schedule_time" in document["task"]:
        document["task"]["schedule_time"] = "<run_after>"
    text = json.dumps(document)
    text = text.replace(result.id, "<task id>")
    text = text.replace(result.enqueued_at.isoformat(), "<enqueued_at>")
    if result.task.run_after:
        text = text.replace(result.task.run_after.isoformat(), "<run_after>")
    return json.loads(text)


def test_http_target_request(fake_cloud_tasks, snapshot):
    result = enqueued_tasks.greet.enqueue("Ada", punctuation="?")

    assert readable(sent(fake_cloud_tasks), result) == snapshot


def test_job_target_request(fake_cloud_tasks, snapshot):
    result = enqueued_tasks.rebuild_index.enqueue(7)

    assert readable(sent(fake_cloud_tasks), result) == snapshot


def test_long_queue_job_target_request(fake_cloud_tasks, snapshot):
    result = enqueued_tasks.rebuild_index.using(queue_name="long").enqueue(7)

    assert readable(sent(fake_cloud_tasks), result) == snapshot


def test_deferred_request(fake_cloud_tasks, snapshot):
    run_after = timezone.now() + timedelta(hours=1)

    result = enqueued_tasks.greet.using(run_after=run_after).enqueue("Ada")

    request = sent(fake_cloud_tasks)
    assert request.task.schedule_time == run_after
    assert readable(request, result) == snapshot


def test_named_request_is_named_after_the_task_id(fake_cloud_tasks):
    result = enqueued_tasks.greet.enqueue("Ada")

    request = sent(fake_cloud_tasks)
    assert request.task.name == f"{QUEUE}/tasks/{result.id}"
    assert decode(request.task.http_request.body).task_id == result.id


def test_job_target_starts_the_job_as_defined_without_overrides(fake_cloud_tasks):
    # Overrides would need run.jobs.runWithOverrides, and let whoever may enqueue choose
    # the execution's args and env; the job's own args take a due task from the database.
    enqueued_tasks.rebuild_index.enqueue(7)

    http_request = sent(fake_cloud_tasks).task.http_request
    assert json.loads(http_request.body) == {}
    assert http_request.headers["Content-Type"] == "application/json"


def test_job_target_leaves_the_arguments_with_the_record(fake_cloud_tasks):
    # Nothing of the task travels: run_task reads it from the record, whatever its size.
    result = enqueued_tasks.rebuild_index.enqueue("x" * 200_000)

    assert sent(fake_cloud_tasks).task.http_request.body == b"{}"
    assert TaskRecord.objects.get(pk=result.id).args == ["x" * 200_000]


def test_each_http_task_carries_the_backends_dispatch_deadline(settings, fake_cloud_tasks):
    settings.TASKS = tasks_setting(QUEUE, emulator_host=fake_cloud_tasks.address, DISPATCH_DEADLINE=90)
    settings.TASKS["jobs"]["OPTIONS"].pop("DISPATCH_DEADLINE")

    enqueued_tasks.greet.enqueue("Ada")
    enqueued_tasks.greet.using(backend="jobs").enqueue("Ada")

    http_task, job_task = (request.task for request in fake_cloud_tasks.requests)
    assert http_task.dispatch_deadline == timedelta(seconds=90)
    # Unset: the run API answers jobs:run in seconds, and Cloud Tasks' default covers that.
    assert not tasks_v2.Task.pb(job_task).HasField("dispatch_deadline")
