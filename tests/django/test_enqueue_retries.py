"""What enqueue does when Cloud Tasks fails: retry what is transient, report the rest.

Against a real gRPC server on 127.0.0.1 that fails on cue.
"""

from __future__ import annotations

import grpc
import pytest
from django.tasks.signals import task_enqueued

from cloudtasks.exceptions import EnqueueFailed
from tests.django import enqueued_tasks
from tests.django.backend_settings import tasks_setting
from tests.django.fake_cloud_tasks import Stall

QUEUE = "projects/example-project/locations/europe-west1/queues/default"


@pytest.fixture(autouse=True)
def backends_on_fake(settings, fake_cloud_tasks):
    settings.TASKS = tasks_setting(
        QUEUE, emulator_host=fake_cloud_tasks.address, ENQUEUE_ATTEMPTS=3, ATTEMPT_TIMEOUT=0.3
    )


@pytest.fixture
def enqueued_results():
    results = []

    def receive(sender, task_result, **kwargs):
        results.append(task_result)

    task_enqueued.connect(receive)
    yield results
    task_enqueued.disconnect(receive)


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])
def test_transient_errors_are_retried_until_the_task_is_created(fake_cloud_tasks, code):
    fake_cloud_tasks.script[:] = [code, code]

    result = enqueued_tasks.greet.enqueue("Ada")

    names = [request.task.name for request in fake_cloud_tasks.requests]
    assert names == [f"{QUEUE}/tasks/{result.id}"] * 3


def test_attempt_that_timed_out_after_creating_the_task_counts_as_created(fake_cloud_tasks):
    # The first call creates the task but answers too late; the retry hears it exists.
    fake_cloud_tasks.script[:] = [Stall(seconds=1.0), grpc.StatusCode.ALREADY_EXISTS]

    result = enqueued_tasks.greet.enqueue("Ada")

    assert len(fake_cloud_tasks.requests) == 2
    assert result.status == "READY"


def test_enqueue_gives_up_after_the_configured_attempts_naming_queue_and_task(fake_cloud_tasks):
    fake_cloud_tasks.script[:] = [grpc.StatusCode.UNAVAILABLE] * 3

    with pytest.raises(EnqueueFailed) as failure:
        enqueued_tasks.greet.enqueue("Ada")

    assert len(fake_cloud_tasks.requests) == 3
    name = fake_cloud_tasks.requests[0].task.name
    assert str(failure.value) == (
        f"Cloud Tasks did not take task {name} (tests.django.enqueued_tasks.greet) on queue "
        f"{QUEUE} after 3 attempts: UNAVAILABLE: scripted UNAVAILABLE"
    )


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ],
)
def test_other_errors_reach_the_caller_at_once_naming_queue_and_task(fake_cloud_tasks, code):
    fake_cloud_tasks.script[:] = [code]

    with pytest.raises(EnqueueFailed) as failure:
        enqueued_tasks.greet.enqueue("Ada")

    assert len(fake_cloud_tasks.requests) == 1
    assert (failure.value.queue_path, failure.value.task_name) == (
        QUEUE, fake_cloud_tasks.requests[0].task.name
    )
    assert f"after 1 attempt: {code.name}" in str(failure.value)


def test_task_enqueued_signal_is_sent_with_the_result(fake_cloud_tasks, enqueued_results):
    result = enqueued_tasks.greet.enqueue("Ada")

    assert enqueued_results == [result]


def test_task_enqueued_signal_is_not_sent_when_enqueue_fails(fake_cloud_tasks, enqueued_results):
    fake_cloud_tasks.script[:] = [grpc.StatusCode.PERMISSION_DENIED]

    with pytest.raises(EnqueueFailed):
        enqueued_tasks.greet.enqueue("Ada")

    assert enqueued_results == []
