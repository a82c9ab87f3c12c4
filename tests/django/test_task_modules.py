"""Tasks live in the tasks module of an installed app: one rule, kept by both sides.

The enqueue side refuses a task declared anywhere else before it writes or sends
anything; the run side refuses its payload without importing it; both say the same.
"""

from __future__ import annotations

import pytest
from django.tasks.exceptions import InvalidTask
from django.tasks.signals import task_enqueued

from cloudtasks.models import TaskRecord
from cloudtasks.run import runner
from tests.django import outside_tasks
from tests.django.backend_settings import tasks_setting
from tests.django.event_loop import run_async

QUEUE = "projects/example-project/locations/europe-west1/queues/default"


@pytest.fixture(autouse=True)
def backends_on_fake(settings, fake_cloud_tasks, transactional_db):
    settings.TASKS = tasks_setting(QUEUE, emulator_host=fake_cloud_tasks.address)


@pytest.fixture
def enqueued_signals():
    seen = []
    receiver = lambda sender, task_result, **kwargs: seen.append(task_result)  # noqa: E731
    task_enqueued.connect(receiver, weak=False)
    yield seen
    task_enqueued.disconnect(receiver)


def test_a_task_outside_a_tasks_module_is_refused_at_enqueue_naming_the_module_and_the_rule(
    fake_cloud_tasks, enqueued_signals
):
    with pytest.raises(InvalidTask) as refused:
        outside_tasks.misplaced.enqueue("never")

    message = str(refused.value)
    assert "module 'tests.django.outside_tasks'" in message
    assert "tasks.py of an app in INSTALLED_APPS" in message
    assert TaskRecord.objects.count() == 0
    assert fake_cloud_tasks.requests == []
    assert enqueued_signals == []


def test_aenqueue_refuses_it_too(fake_cloud_tasks):
    with pytest.raises(InvalidTask, match="not the 'tasks' module of an installed app"):
        run_async(outside_tasks.misplaced.aenqueue("never"))

    assert TaskRecord.objects.count() == 0
    assert fake_cloud_tasks.requests == []


def test_the_run_side_refuses_the_same_task_with_the_same_words():
    with pytest.raises(InvalidTask) as at_enqueue:
        outside_tasks.misplaced.enqueue("never")
    with pytest.raises(runner.UnrunnableTask) as at_run:
        runner.resolve_task(outside_tasks.misplaced.module_path)

    assert str(at_run.value) == str(at_enqueue.value)
