"""cloudtasks.testing: what a user's tests get to run enqueued tasks in-process, through
the real runner, without Cloud Tasks.

Nothing listens where the backends would send: a task that went out would fail to send,
and its record would say so.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.tasks import TaskResultStatus
from django.tasks.signals import task_finished, task_started

from cloudtasks.models import TaskRecord
from cloudtasks.signals import task_failed_permanently
from cloudtasks.testing import captured_tasks
from tests.django.backend_settings import tasks_setting
from tests.django.loopback import free_port
from tests.django.signal_log import receiving
from tests.django.taskapp import tasks

QUEUES = {name: f"projects/example-project/locations/europe-west1/queues/{name}" for name in ("default", "long")}


@pytest.fixture(autouse=True)
def backends_nowhere(settings):
    settings.TASKS = tasks_setting(QUEUES, emulator_host=f"127.0.0.1:{free_port()}", RETRY={"max_attempts": 3})
    tasks.forget()


@pytest.fixture
def signals():
    """(signal, the result's status when it was sent), in order."""
    seen = []
    with receiving({"started": task_started, "finished": task_finished, "failed for good": task_failed_permanently},
                   lambda name, sender, result: seen.append((name, result.status))):
        yield seen


@pytest.mark.both_databases
def test_an_enqueued_task_runs_through_the_runner_and_its_result_is_kept(db, signals):
    with captured_tasks() as captured:
        enqueued = tasks.record.enqueue("hello")
        [result] = captured.run_enqueued()

    assert (result.id, result.status, result.return_value, result.attempts) == (
        enqueued.id, TaskResultStatus.SUCCESSFUL, "hello", 1)
    assert tasks.record.get_result(enqueued.id).status == TaskResultStatus.SUCCESSFUL
    assert tasks.calls == [("record", "hello")]
    assert signals == [("started", TaskResultStatus.RUNNING), ("finished", TaskResultStatus.SUCCESSFUL)]


def test_what_would_be_sent_is_kept_and_nothing_is_sent(transactional_db):
    with captured_tasks() as captured:
        enqueued = tasks.record.enqueue("sent nowhere")

    [request] = captured.sent
    assert request.task.name == f"{QUEUES['default']}/tasks/{enqueued.id}"
    record = TaskRecord.objects.get(pk=enqueued.id)
    assert (record.send_failures, record.send_error) == (0, "")


def test_a_failed_attempt_is_retried_as_its_queue_would_and_each_attempt_recorded(db, signals):
    with captured_tasks() as captured:
        tasks.succeed_on_third_attempt.enqueue("flaky")
        [result] = captured.run_enqueued()

    assert (result.status, result.attempts, len(result.errors)) == (TaskResultStatus.SUCCESSFUL, 3, 2)
    assert tasks.calls == [("flaky", 1), ("flaky", 2), ("flaky", 3)]
    assert [name for name, _ in signals].count("finished") == 3


def test_the_last_attempt_failing_fails_the_task_for_good_once(db, signals):
    with captured_tasks() as captured:
        tasks.explode.enqueue()
        [result] = captured.run_enqueued()

    assert (result.status, result.attempts) == (TaskResultStatus.FAILED, 3)  # the queue's max_attempts
    assert result.errors[-1].exception_class_path == "builtins.RuntimeError"
    assert signals.count(("failed for good", TaskResultStatus.FAILED)) == 1


def test_attempts_may_be_delivered_one_at_a_time(db):
    with captured_tasks() as captured:
        tasks.succeed_on_third_attempt.enqueue("one by one")
        [first] = captured.run_enqueued(attempts=1)
        [second] = captured.run_enqueued(attempts=1)
        [third] = captured.run_enqueued()

    assert [(r.status, r.attempts) for r in (first, second, third)] == [
        (TaskResultStatus.READY, 1), (TaskResultStatus.READY, 2), (TaskResultStatus.SUCCESSFUL, 3)]


def test_a_job_task_runs_as_its_execution_would_reading_its_arguments_from_the_record(db):
    with captured_tasks() as captured:
        tasks.insert_failing_first.using(backend="jobs").enqueue("job", fail_first=True)
        [result] = captured.run_enqueued()

    assert (result.status, result.backend, result.attempts) == (TaskResultStatus.SUCCESSFUL, "jobs", 2)
    assert tasks.calls == [("job", 1), ("job", 2)]


def test_tasks_that_tasks_enqueue_are_run_too(db):
    with captured_tasks() as captured:
        tasks.record_then_enqueue_record.enqueue("first")
        results = captured.run_enqueued()

    assert [r.status for r in results] == [TaskResultStatus.SUCCESSFUL] * 2
    assert tasks.calls == [("record_then_enqueue_record", "first"), ("record", "first, enqueued by a task")]


def test_a_task_enqueued_in_a_rolled_back_transaction_is_not_run(db):
    with captured_tasks() as captured:
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            tasks.record.enqueue("rolled back")
            1 / 0
        results = captured.run_enqueued()

    assert results == [] and tasks.calls == []


def test_finished_tasks_are_not_delivered_again(db):
    with captured_tasks() as captured:
        tasks.record.enqueue("once")
        captured.run_enqueued()
        [again] = captured.run_enqueued()

    assert again.attempts == 1 and tasks.calls == [("record", "once")]


def test_attempts_below_one_are_refused(db):
    with captured_tasks() as captured, pytest.raises(ValueError, match="it must be 1 or more"):
        captured.run_enqueued(attempts=0)
