"""Enqueueing through the public django.tasks API, against the Cloud Tasks emulator.

The queues are paused, so what was enqueued stays in them for the test to list.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.tasks.exceptions import InvalidTask
from django.utils import timezone

from cloudtasks.models import TaskRecord
from cloudtasks.wire.payload import decode
from tests.django import enqueued_tasks
from tests.django.backend_settings import tasks_setting
from tests.django.cloud_tasks_emulator import LOCATION
from tests.django.event_loop import run_async


@pytest.fixture(autouse=True)
def backends_on_emulator(settings, transactional_db, tasks_emulator, paused_tasks_queue):
    settings.TASKS = tasks_setting(paused_tasks_queue, emulator_host=tasks_emulator.address)


def test_enqueued_task_is_in_the_queue_under_its_id(tasks_emulator, paused_tasks_queue):
    result = enqueued_tasks.greet.enqueue("Ada", punctuation="?")

    [queued] = tasks_emulator.list_tasks(paused_tasks_queue)
    assert queued.name == f"{paused_tasks_queue}/tasks/{result.id}"
    payload = decode(queued.http_request.body)
    assert (payload.task_path, payload.args, payload.kwargs) == (
        "tests.django.enqueued_tasks.tasks.greet", ["Ada"], {"punctuation": "?"}
    )


def test_deferred_task_is_scheduled_for_its_run_after(tasks_emulator, paused_tasks_queue):
    # In a zone other than UTC, to the microsecond: the instant must arrive unchanged.
    run_after = timezone.now().astimezone(dt_timezone(timedelta(hours=-5))) + timedelta(hours=2)

    enqueued_tasks.greet.using(run_after=run_after).enqueue("Ada")

    [queued] = tasks_emulator.list_tasks(paused_tasks_queue)
    assert queued.schedule_time == run_after


def test_aenqueue_puts_the_task_in_the_queue(tasks_emulator, paused_tasks_queue):
    result = run_async(enqueued_tasks.greet.aenqueue("Ada"))

    [queued] = tasks_emulator.list_tasks(paused_tasks_queue)
    assert queued.name.endswith(f"/tasks/{result.id}")


def test_job_task_is_in_the_queue_as_a_jobs_run_call(tasks_emulator, paused_tasks_queue):
    enqueued_tasks.rebuild_index.enqueue(3)

    [queued] = tasks_emulator.list_tasks(paused_tasks_queue)
    assert queued.http_request.url.endswith("/jobs/worker:run")


def test_enqueue_returns_a_ready_result_with_the_arguments_sent():
    result = enqueued_tasks.greet.enqueue("Ada", punctuation=("?", "!"))

    assert result.status == "READY"
    assert (result.args, result.kwargs) == (["Ada"], {"punctuation": ["?", "!"]})
    assert result.backend == "default"
    assert result.enqueued_at is not None


class Unserialisable:
    pass


BAD_INPUT = {
    "argument that is not JSON": (
        lambda: enqueued_tasks.greet.enqueue(Unserialisable()),
        "must be JSON values: Unsupported type",
    ),
    "datetime argument": (
        lambda: enqueued_tasks.greet.enqueue(datetime.now()),
        "must be JSON values: Unsupported type",
    ),
    "not-a-number argument": (
        lambda: enqueued_tasks.greet.enqueue(float("nan")),
        "must be JSON values: Out of range float values",
    ),
    "lone surrogate in a string": (
        lambda: enqueued_tasks.greet.enqueue("Ada\udc80"),
        "strings must be Unicode text: '\\\\udc80' is a lone surrogate",
    ),
    "argument nested deeper than MAX_DEPTH": (
        lambda: enqueued_tasks.greet.enqueue(punctuation=json.loads("[" * 101 + "]" * 101)),
        "argument 'punctuation' nests lists and objects more than 100 deep",
    ),
    "run_after before year 1 in UTC": (
        lambda: enqueued_tasks.greet.using(
            run_after=datetime(1, 1, 1, tzinfo=dt_timezone(timedelta(hours=14)))
        ).enqueue("Ada"),
        "run_after is 0001-01-01T00:00:00\\+14:00, outside what a record holds",
    ),
    "dictionary key that is not a string": (
        lambda: enqueued_tasks.greet.enqueue({1: "one"}),
        "dictionary keys must be strings",
    ),
    "naive run_after": (
        lambda: enqueued_tasks.greet.using(run_after=datetime.now()).enqueue("Ada"),
        "run_after must be an aware datetime",
    ),
    "run_after more than 30 days ahead": (
        lambda: enqueued_tasks.greet.using(
            run_after=timezone.now() + timedelta(days=30, minutes=1)
        ).enqueue("Ada"),
        "more than 30 days ahead; Cloud Tasks schedules at most 30 days ahead",
    ),
    "payload over 1 MB": (
        lambda: enqueued_tasks.greet.enqueue("x" * 1_000_000),
        r"bytes on the wire; Cloud Tasks accepts at most 1000000",
    ),
    "queue name not in QUEUES": (
        lambda: enqueued_tasks.greet.using(queue_name="emails").enqueue("Ada"),
        "Queue 'emails' is not valid for backend",
    ),
}


@pytest.mark.parametrize(("enqueue", "message"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_refused_and_nothing_is_sent(
    tasks_emulator, paused_tasks_queue, enqueue, message
):
    with pytest.raises(InvalidTask, match=message):
        enqueue()

    assert tasks_emulator.list_tasks(paused_tasks_queue) == []


def test_naive_run_after_is_refused_even_where_django_allows_it(
    settings, tasks_emulator, paused_tasks_queue
):
    settings.USE_TZ = False  # Django checks run_after only with USE_TZ on

    with pytest.raises(InvalidTask, match="run_after must be an aware datetime"):
        enqueued_tasks.greet.using(run_after=datetime.now() + timedelta(hours=1)).enqueue("Ada")

    assert tasks_emulator.list_tasks(paused_tasks_queue) == []


# The limits are not set so tight that they refuse what Cloud Tasks takes.


def test_payload_just_under_the_size_limit_is_sent(tasks_emulator, paused_tasks_queue):
    enqueued_tasks.greet.enqueue("x" * 990_000)

    assert len(tasks_emulator.list_tasks(paused_tasks_queue)) == 1


def test_run_after_just_under_30_days_ahead_is_sent(tasks_emulator, paused_tasks_queue):
    run_after = timezone.now() + timedelta(days=29, hours=23)

    enqueued_tasks.greet.using(run_after=run_after).enqueue("Ada")

    assert len(tasks_emulator.list_tasks(paused_tasks_queue)) == 1


def test_queue_that_does_not_exist_leaves_the_task_recorded_with_the_error(settings, tasks_emulator, caplog):
    missing = f"{LOCATION}/queues/never-created"
    settings.TASKS = tasks_setting(missing, emulator_host=tasks_emulator.address)

    result = enqueued_tasks.greet.enqueue("Ada")

    record = TaskRecord.objects.get(pk=result.id)
    assert (record.pending, record.send_failures) == (True, 1)
    assert record.send_error.startswith("FAILED_PRECONDITION: Queue " + missing)
    assert f"Task {result.id} not sent after commit" in caplog.text
