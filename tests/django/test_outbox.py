"""The transactional outbox: a task is recorded where it is enqueued, and sent only once
that commits, waiting on Cloud Tasks at most the send budget; whatever is not sent then
stays recorded for the flush.

Cloud Tasks is a real gRPC server on loopback that records CreateTask calls and fails or
stalls on cue (tests/django/fake_cloud_tasks.py).
"""

from __future__ import annotations

import time

import grpc
import pytest
from django.db import connections, transaction
from django.tasks.signals import task_enqueued
from django.test import Client
from django.utils import timezone

from cloudtasks.models import TaskRecord
from tests.django import enqueued_tasks
from tests.django.backend_settings import tasks_setting
from tests.django.fake_cloud_tasks import Stall

QUEUE = "projects/example-project/locations/europe-west1/queues/default"
BUDGET = 0.3


@pytest.fixture(autouse=True)
def backends_on_fake(settings, fake_cloud_tasks, transactional_db):
    settings.TASKS = tasks_setting(QUEUE, emulator_host=fake_cloud_tasks.address, SEND_BUDGET=BUDGET)


class RolledBack(Exception):
    pass


def committed_elsewhere(record_id: str) -> bool:
    """Whether another connection (another process, in production) sees the row."""
    with connections.create_connection("default").cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM cloudtasks_taskrecord WHERE id = %s", [record_id])
        return cursor.fetchone()[0] == 1


@pytest.mark.both_databases
def test_task_enqueued_in_a_transaction_is_recorded_in_it_and_sent_after_commit(fake_cloud_tasks):
    with transaction.atomic():
        result = enqueued_tasks.greet.enqueue("Ada")
        assert TaskRecord.objects.filter(pk=result.id).exists()
        assert fake_cloud_tasks.requests == []

    assert fake_cloud_tasks.names() == [f"{QUEUE}/tasks/{result.id}"]


@pytest.mark.both_databases
def test_rolled_back_transaction_records_and_sends_nothing(fake_cloud_tasks):
    with pytest.raises(RolledBack), transaction.atomic():
        enqueued_tasks.greet.enqueue("Ada")
        raise RolledBack

    assert not TaskRecord.objects.exists()
    assert fake_cloud_tasks.requests == []


def test_rolled_back_savepoint_sends_nothing_of_its_own(fake_cloud_tasks):
    with transaction.atomic():
        kept = enqueued_tasks.greet.enqueue("kept")
        with pytest.raises(RolledBack), transaction.atomic():
            enqueued_tasks.greet.enqueue("rolled back")
            raise RolledBack

    assert fake_cloud_tasks.names() == [f"{QUEUE}/tasks/{kept.id}"]
    assert list(TaskRecord.objects.values_list("pk", flat=True)) == [kept.id]


@pytest.mark.both_databases
def test_outside_a_transaction_the_record_is_committed_before_the_task_is_sent(fake_cloud_tasks):
    seen_committed = []
    fake_cloud_tasks.on_create = lambda request: seen_committed.append(
        committed_elsewhere(request.task.name.rsplit("/", 1)[1])
    )

    enqueued_tasks.greet.enqueue("Ada")

    assert seen_committed == [True]


@pytest.mark.parametrize(
    "failure",
    [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.RESOURCE_EXHAUSTED],
)
def test_enqueue_succeeds_when_sending_fails_and_the_record_waits_for_the_flush(fake_cloud_tasks, failure, caplog):
    fake_cloud_tasks.script[:] = [failure]

    result = enqueued_tasks.greet.enqueue("Ada")

    assert result.status == "READY"
    record = TaskRecord.objects.get(pk=result.id)
    assert (record.pending, record.send_failures) == (True, 1)
    assert record.send_error == f"{failure.name}: scripted {failure.name}"
    assert record.check_after <= timezone.now()  # due for the next flush
    assert f"Task {result.id} not sent after commit ({failure.name}" in caplog.text


def test_a_send_that_stalls_is_given_up_after_the_budget_and_the_record_waits(fake_cloud_tasks):
    fake_cloud_tasks.script[:] = [Stall(seconds=2)]

    started = time.monotonic()
    result = enqueued_tasks.greet.enqueue("Ada")
    waited = time.monotonic() - started

    assert waited < 2  # the budget (0.3 s), not the stall
    record = TaskRecord.objects.get(pk=result.id)
    assert record.pending
    assert record.send_error.startswith("DEADLINE_EXCEEDED")


def test_a_task_cloud_tasks_already_holds_counts_as_sent(fake_cloud_tasks):
    fake_cloud_tasks.script[:] = [grpc.StatusCode.ALREADY_EXISTS]

    result = enqueued_tasks.greet.enqueue("Ada")

    assert TaskRecord.objects.get(pk=result.id).send_failures == 0


def test_a_sent_task_costs_the_request_one_insert_and_nothing_more(fake_cloud_tasks, django_assert_num_queries):
    with django_assert_num_queries(1):
        enqueued_tasks.greet.enqueue("Ada")

    assert len(fake_cloud_tasks.requests) == 1


def test_task_enqueued_is_sent_once_the_task_is_recorded_even_if_sending_fails(fake_cloud_tasks):
    fake_cloud_tasks.script[:] = [grpc.StatusCode.UNAVAILABLE]
    seen = []

    def receive(sender, task_result, **kwargs):
        seen.append((task_result.id, TaskRecord.objects.filter(pk=task_result.id).exists()))

    task_enqueued.connect(receive)
    try:
        result = enqueued_tasks.greet.enqueue("Ada")
    finally:
        task_enqueued.disconnect(receive)

    assert seen == [(result.id, True)]


@pytest.mark.urls("tests.django.taskapp.urls")
def test_a_request_waits_on_cloud_tasks_for_one_budget_however_many_tasks_it_enqueues(fake_cloud_tasks):
    fake_cloud_tasks.script[:] = [Stall(seconds=1)] * 5

    started = time.monotonic()
    response = Client().get("/enqueue/5/")
    waited = time.monotonic() - started

    assert response.status_code == 200
    assert waited < 1  # 0.3 s in all, where five sends of 0.3 s would take 1.5 s
    assert len(fake_cloud_tasks.requests) == 1  # the others were left for the flush
    assert TaskRecord.objects.filter(sent_at=None, check_after__lte=timezone.now()).count() == 5  # due for it
    # Only the send that was tried has an error; the others were not touched one by one.
    assert sorted(TaskRecord.objects.values_list("send_error", flat=True)) == [""] * 4 + [
        "DEADLINE_EXCEEDED: Deadline Exceeded"
    ]


@pytest.mark.urls("tests.django.taskapp.urls")
def test_each_request_has_a_budget_of_its_own(fake_cloud_tasks):
    fake_cloud_tasks.script[:] = [Stall(seconds=1)]
    client = Client()

    client.get("/enqueue/1/")
    client.get("/enqueue/1/")

    assert len(fake_cloud_tasks.requests) == 2
