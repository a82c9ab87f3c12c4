"""Many tasks enqueued in one transaction (`cloudtasks.enqueue_together()`): their rows
written together, their CreateTask calls sent at once after commit, within the send
budget; the outbox as ever, so that what is not sent is the flush's.

Cloud Tasks is a real gRPC server on loopback that records CreateTask calls and stalls or
fails on cue (tests/django/fake_cloud_tasks.py).
"""

from __future__ import annotations

import logging
import time

import grpc
import pytest
from django.db import connection
from django.utils import timezone

from cloudtasks import enqueue_together
from cloudtasks.models import TaskRecord
from tests.django import enqueued_tasks
from tests.django.backend_settings import tasks_setting
from tests.django.fake_cloud_tasks import Stall

QUEUE = "projects/example-project/locations/europe-west1/queues/default"
TASKS = 50


def use_fake(settings, fake_cloud_tasks, budget: float) -> None:
    settings.TASKS = tasks_setting(QUEUE, emulator_host=fake_cloud_tasks.address, SEND_BUDGET=budget)


class RolledBack(Exception):
    pass


def due_and_untouched(now) -> list[TaskRecord]:
    return [r for r in TaskRecord.objects.all() if r.pending and not r.send_error and r.check_after <= now]


@pytest.mark.both_databases
def test_tasks_enqueued_together_are_written_by_one_insert_and_each_sent_once(
    settings, fake_cloud_tasks, transactional_db,
):
    use_fake(settings, fake_cloud_tasks, budget=5)
    inserts = []

    def count(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT"):
            inserts.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count), enqueue_together():
        results = [enqueued_tasks.greet.enqueue(f"user {n}") for n in range(TASKS)]
        assert TaskRecord.objects.count() == 0  # written when the block ends
        assert fake_cloud_tasks.requests == []

    assert len(inserts) == 1
    assert TaskRecord.objects.count() == TASKS
    assert sorted(fake_cloud_tasks.names()) == sorted(f"{QUEUE}/tasks/{result.id}" for result in results)


def test_a_block_that_raises_writes_and_sends_nothing(settings, fake_cloud_tasks, transactional_db):
    use_fake(settings, fake_cloud_tasks, budget=5)

    with pytest.raises(RolledBack), enqueue_together():
        enqueued_tasks.greet.enqueue("Ada")
        raise RolledBack

    assert TaskRecord.objects.count() == 0
    assert fake_cloud_tasks.requests == []


def test_tasks_enqueued_together_are_sent_concurrently(settings, fake_cloud_tasks, transactional_db):
    # Each call answers after 0.2 s: one after the other, 24 calls would take 4.8 s.
    use_fake(settings, fake_cloud_tasks, budget=5)
    fake_cloud_tasks.script.extend([Stall(0.2)] * 24)

    started = time.monotonic()
    with enqueue_together():
        for n in range(24):
            enqueued_tasks.greet.enqueue(f"user {n}")
    seconds = time.monotonic() - started

    assert len(fake_cloud_tasks.requests) == 24
    # The fake serves 8 calls at a time: three rounds of 0.2 s, and room for a loaded machine.
    assert seconds < 2.0
    assert due_and_untouched(timezone.now()) == []  # none left to the flush


def test_cloud_tasks_hung_holds_the_block_one_budget_and_leaves_the_rest_to_the_flush(
    settings, fake_cloud_tasks, transactional_db, caplog,
):
    use_fake(settings, fake_cloud_tasks, budget=0.3)
    fake_cloud_tasks.script.extend([Stall(3)] * 200)

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="cloudtasks"), enqueue_together():
        for n in range(200):
            enqueued_tasks.greet.enqueue(f"user {n}")
    seconds = time.monotonic() - started

    assert seconds < 0.3 + 1.0
    records = list(TaskRecord.objects.all())
    assert len(records) == 200 and all(r.pending for r in records)
    # One row says why; every other is due for the next flush, untouched.
    assert len([r for r in records if r.send_error]) == 1
    assert len(due_and_untouched(timezone.now())) == 199
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("cloudtasks")]
    assert len(warnings) == 2, warnings  # the failed send's line and the summary
    assert "0 of 200 tasks sent after commit, 200 left to the flush" in warnings[-1]


def test_a_refused_send_stops_the_others_and_leaves_them_to_the_flush(
    settings, fake_cloud_tasks, transactional_db,
):
    use_fake(settings, fake_cloud_tasks, budget=5)
    fake_cloud_tasks.script.extend([grpc.StatusCode.UNAVAILABLE] * 300)

    with enqueue_together():
        for n in range(300):
            enqueued_tasks.greet.enqueue(f"user {n}")

    records = list(TaskRecord.objects.all())
    assert len(records) == 300 and all(r.pending for r in records)
    assert [r.send_error for r in records if r.send_error] == ["UNAVAILABLE: scripted UNAVAILABLE"]
    # Calls in flight when the first failed were made; none after it was seen.
    assert len(fake_cloud_tasks.requests) < 300
