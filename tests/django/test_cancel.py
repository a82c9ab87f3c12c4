"""Cancelling a task before it starts (cloudtasks.cancel): its record FAILED with an error
that says so, its Cloud Tasks task deleted, and whatever Cloud Tasks delivers anyway runs
nothing; a running or finished task is not cancelled; a claim at the same moment and the
cancel end one way.

Cloud Tasks is the fake gRPC server (it records DeleteTask), or the emulator, which has
no DeleteTask and so delivers a cancelled task anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import grpc
import pytest
from django.db import connections, transaction
from django.tasks import TaskResultStatus, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils import timezone

import cloudtasks
from cloudtasks.enqueue.task_request import payload
from cloudtasks.exceptions import CannotCancel
from cloudtasks.models import TaskRecord
from cloudtasks.operations.flush import flush
from cloudtasks.operations.prune import prune
from cloudtasks.operations.redrive import redrive
from cloudtasks.run import records
from cloudtasks.run.runner import Delivery, Outcome, run
from tests.django import enqueued_tasks
from tests.django.backend_settings import tasks_setting
from tests.django.conftest import configure_local_run
from tests.django.live import wait_for
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect

QUEUE = "projects/example-project/locations/europe-west1/queues/default"
CANCELLED = "cloudtasks.exceptions.TaskCancelled"


@pytest.fixture
def on_fake(settings, fake_cloud_tasks, transactional_db):
    settings.TASKS = tasks_setting(QUEUE, emulator_host=fake_cloud_tasks.address)
    return fake_cloud_tasks


def claimed(task_id: str) -> records.Claim:
    return records.claim(task_id, worker_id="worker-1", delivery_attempt=1, lease=60,
                         takes_over=lambda holder: False, adopt=lambda: None)


@pytest.mark.both_databases
def test_a_cancelled_task_reads_failed_with_an_error_naming_the_cancel_and_leaves_its_queue(on_fake):
    enqueued = enqueued_tasks.greet.enqueue("Ada")

    cancelled = cloudtasks.cancel(enqueued.id)

    read = enqueued_tasks.greet.get_result(enqueued.id)
    for result in (cancelled, read):
        assert result.status == TaskResultStatus.FAILED
        assert result.finished_at is not None and result.worker_ids == []
        assert [error.exception_class_path for error in result.errors] == [CANCELLED]
        assert "cancelled at" in result.errors[0].traceback and "before attempt 1 started" in result.errors[0].traceback
    assert on_fake.deleted == [f"{QUEUE}/tasks/{enqueued.id}"]
    assert on_fake.held == {}


def test_a_deferred_task_is_deleted_from_its_queue(on_fake):
    enqueued = enqueued_tasks.greet.using(run_after=timezone.now() + timedelta(days=2)).enqueue("Ada")
    assert list(on_fake.held) == [f"{QUEUE}/tasks/{enqueued.id}"]

    cloudtasks.cancel(enqueued.id)

    assert on_fake.deleted == [f"{QUEUE}/tasks/{enqueued.id}"] and on_fake.held == {}


def test_a_task_whose_send_failed_is_cancelled_with_no_call_and_the_flush_never_sends_it(on_fake):
    on_fake.script.append(grpc.StatusCode.UNAVAILABLE)  # the send after commit fails: it waits for the flush
    enqueued = enqueued_tasks.greet.enqueue("Ada")
    assert len(on_fake.requests) == 1 and TaskRecord.objects.get(pk=enqueued.id).pending

    cloudtasks.cancel(enqueued.id)
    report = flush(now=timezone.now() + timedelta(hours=1))

    assert len(on_fake.requests) == 1 and on_fake.deleted == []
    assert report.sent == report.unsent == 0
    assert TaskRecord.objects.get(pk=enqueued.id).status == TaskResultStatus.FAILED


def test_a_cancel_in_a_transaction_that_rolls_back_cancels_nothing(on_fake):
    enqueued = enqueued_tasks.greet.enqueue("Ada")

    with pytest.raises(RuntimeError), transaction.atomic():
        cloudtasks.cancel(enqueued.id)
        raise RuntimeError("the view failed after the cancel")

    assert TaskRecord.objects.get(pk=enqueued.id).status == TaskResultStatus.READY
    assert on_fake.deleted == []


def test_a_running_task_is_not_cancelled_and_the_error_says_it_runs(on_fake):
    enqueued = enqueued_tasks.greet.enqueue("Ada")
    claimed(enqueued.id)

    with pytest.raises(CannotCancel, match=rf"Task {enqueued.id} .* is running \(attempt 1, on worker worker-1"):
        cloudtasks.cancel(enqueued.id)

    assert TaskRecord.objects.get(pk=enqueued.id).status == TaskResultStatus.RUNNING
    assert on_fake.deleted == []


def test_a_finished_or_already_cancelled_task_is_not_cancelled_and_the_error_says_so(on_fake):
    succeeded = enqueued_tasks.greet.enqueue("Ada")
    records.succeeded(claimed(succeeded.id), "Hello Ada!")
    cancelled = enqueued_tasks.greet.enqueue("Grace")
    cloudtasks.cancel(cancelled.id)

    with pytest.raises(CannotCancel, match="finished SUCCESSFUL at .*: there is nothing left to cancel"):
        cloudtasks.cancel(succeeded.id)
    with pytest.raises(CannotCancel, match="was cancelled at"):
        cloudtasks.cancel(cancelled.id)
    assert TaskRecord.objects.get(pk=succeeded.id).status == TaskResultStatus.SUCCESSFUL


def test_a_task_waiting_for_a_retry_is_cancelled_and_keeps_its_attempts_errors(on_fake):
    enqueued = enqueued_tasks.greet.enqueue("Ada")
    records.failed(claimed(enqueued.id), RuntimeError("the mail server said no"), for_good=False)

    result = cloudtasks.cancel(enqueued.id)

    assert [error.exception_class_path for error in result.errors] == ["builtins.RuntimeError", CANCELLED]
    assert "before attempt 2 started" in result.errors[-1].traceback


def test_cancel_names_what_it_takes(on_fake):
    enqueued = enqueued_tasks.greet.enqueue("Ada")

    with pytest.raises(TypeError, match=r"takes a task's id, a str \(TaskResult.id\), not TaskResult"):
        cloudtasks.cancel(enqueued)
    with pytest.raises(TaskResultDoesNotExist, match="No task has id 'nothing-of-the-kind'"):
        cloudtasks.cancel("nothing-of-the-kind")


def test_a_job_task_cancelled_is_deleted_and_the_execution_it_started_runs_nothing(job_execution_args, run_job,
                                                                                  fake_cloud_tasks):
    args = job_execution_args(tasks.insert_effect, "cancelled job")
    record = TaskRecord.objects.get()

    cloudtasks.cancel(record.pk)
    # Cloud Tasks had called jobs:run already: the execution starts all the same.
    execution = run_job(*args)

    assert execution.returncode == 0, execution.stderr
    assert "nothing due on queue" in execution.stdout
    assert fake_cloud_tasks.deleted == [fake_cloud_tasks.names()[0]]
    assert Effect.objects.count() == 0
    assert TaskRecord.objects.get().status == TaskResultStatus.FAILED


def test_a_cancelled_record_is_pruned_after_its_retention_and_a_re_drive_takes_the_cancel_back(on_fake):
    pruned, redriven = enqueued_tasks.greet.enqueue("Ada"), enqueued_tasks.greet.enqueue("Grace")
    for enqueued in (pruned, redriven):
        cloudtasks.cancel(enqueued.id)

    [again], refused = redrive([redriven.id])
    report = prune(now=timezone.now() + timedelta(days=32))

    assert refused == {} and report.deleted["default"] == 1
    assert not TaskRecord.objects.filter(pk=pruned.id).exists()
    assert (again.status, again.cancelled_at) == (TaskResultStatus.READY, None)
    assert enqueued_tasks.greet.get_result(redriven.id).errors == []


def test_cloud_tasks_delivering_a_cancelled_task_anyway_runs_nothing_and_is_acknowledged(
    settings, web_server, tasks_emulator, paused_tasks_queue, local_signing_key, transactional_db, caplog,
):
    # The emulator has no DeleteTask: the task stays in its (paused) queue, as a push
    # already in flight would, and is delivered once the queue resumes.
    configure_local_run(settings, web_server.url, tasks_emulator.address, local_signing_key,
                        {"default": paused_tasks_queue, "long": paused_tasks_queue})
    enqueued = tasks.insert_effect.enqueue("cancelled")
    caplog.set_level(logging.INFO)

    cloudtasks.cancel(enqueued.id)
    tasks_emulator.client.resume_queue(name=paused_tasks_queue)

    acknowledged = f"Task {enqueued.id} had already finished (FAILED): not run again"
    wait_for(lambda: acknowledged in caplog.text, "the emulator to deliver the task")
    assert "was not deleted" in caplog.text  # UNIMPLEMENTED: nothing else changed
    # The emulator retries a push answered otherwise than 2xx: one delivery, acknowledged.
    time.sleep(0.5)
    assert caplog.text.count(acknowledged) == 1
    assert Effect.objects.filter(label="cancelled").count() == 0
    assert TaskRecord.objects.get(pk=enqueued.id).status == TaskResultStatus.FAILED


RACES = 30


def test_a_cancel_and_a_claim_at_the_same_moment_end_one_way(on_fake):
    """On PostgreSQL, a cancel and a delivery of the same task in two threads, started together:
    either the task is cancelled and the delivery runs nothing, or it runs once and the
    cancel is refused. Never both, never neither."""
    assert connections["default"].vendor == "postgresql"
    enqueued = [tasks.insert_effect.using(backend="default").enqueue(f"race {n}") for n in range(RACES)]
    outcomes: list[tuple[str, Outcome]] = []

    def race(task_id: str) -> None:
        start = threading.Barrier(2)
        cancel_said: list[str] = []
        ran: list[Outcome] = []

        def cancel() -> None:
            start.wait()
            try:
                cloudtasks.cancel(task_id)
                cancel_said.append("cancelled")
            except CannotCancel as refusal:
                cancel_said.append("running" if "is running" in str(refusal) else "finished")
            finally:
                connections.close_all()

        def deliver() -> None:
            start.wait()
            try:
                record = TaskRecord.objects.get(pk=task_id)
                ran.append(run(payload(record, with_arguments=True), Delivery.push(0)).outcome)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=cancel), threading.Thread(target=deliver)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        outcomes.append((cancel_said[0], ran[0]))

    for result in enqueued:
        race(result.id)

    effects = {label: Effect.objects.filter(label=label).count() for label in (f"race {n}" for n in range(RACES))}
    for result, (cancel_said, outcome), label in zip(enqueued, outcomes, effects):
        status = TaskRecord.objects.get(pk=result.id).status
        if cancel_said == "cancelled":
            assert (outcome, effects[label], status) == (Outcome.DUPLICATE, 0, TaskResultStatus.FAILED)
        else:
            assert (outcome, effects[label], status) == (Outcome.SUCCEEDED, 1, TaskResultStatus.SUCCESSFUL)
    print(f"{RACES} races: {sorted(set(outcomes))}", {said: [o[0] for o in outcomes].count(said)
                                                       for said in ("cancelled", "running", "finished")})
