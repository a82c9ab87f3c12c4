"""The flush sends what the outbox still holds, again what Cloud Tasks gave up on before
it started, and never the same task twice, however many flushes run at once.

Cloud Tasks is a real gRPC server on loopback that records CreateTask calls, holds the
tasks it created until a test drops them (as a queue gives up on a task), and fails on
cue (tests/django/fake_cloud_tasks.py); the concurrency test also uses the emulator.
`flush(now=...)` runs the flush as it would run at a later time.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import timedelta

import grpc
import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.utils import timezone

from cloudtasks.config import env
from cloudtasks.enqueue.outbox import SEND_CLAIM
from cloudtasks.models import TaskRecord
from cloudtasks.operations.flush import FAILURES_TO_STOP, FIRST_BACKOFF, JOB_MARGIN, QUIET, flush
from cloudtasks.run import records
from cloudtasks.signals import task_failed_permanently
from tests.django import enqueued_tasks
from tests.django.backend_settings import HANDLER_URL, queues_variable, tasks_setting, with_options
from tests.django.job_execution import start_manage_py

QUEUE = "projects/example-project/locations/europe-west1/queues/default"
LATER = SEND_CLAIM + timedelta(seconds=1)  # when the flush may send what enqueue sent


@pytest.fixture(autouse=True)
def backends_on_fake(settings, fake_cloud_tasks, transactional_db):
    settings.TASKS = tasks_setting(QUEUE, emulator_host=fake_cloud_tasks.address)


def name(task_id: str) -> str:
    return f"{QUEUE}/tasks/{task_id}"


def not_sent(fake_cloud_tasks, count: int = 1) -> list[str]:
    """Enqueue `count` tasks while Cloud Tasks refuses them; their ids."""
    fake_cloud_tasks.script[:] = [grpc.StatusCode.UNAVAILABLE] * count
    ids = [enqueued_tasks.greet.enqueue(f"user {n}").id for n in range(count)]
    fake_cloud_tasks.requests.clear()
    return ids


def sent(fake_cloud_tasks) -> TaskRecord:
    """A task the flush has marked sent (Cloud Tasks holds it), that has not started."""
    result = enqueued_tasks.greet.enqueue("Ada")
    flush(now=timezone.now() + LATER)
    fake_cloud_tasks.requests.clear()
    return TaskRecord.objects.get(pk=result.id)


@pytest.mark.both_databases
def test_a_task_that_was_not_sent_is_sent_by_the_next_flush(fake_cloud_tasks):
    [task_id] = not_sent(fake_cloud_tasks)

    report = flush()

    assert fake_cloud_tasks.names() == [name(task_id)]
    assert (report.sent, report.unsent) == (1, 0)
    record = TaskRecord.objects.get(pk=task_id)
    assert (record.pending, record.send_failures, record.send_error) == (False, 0, "")


def test_a_send_that_fails_again_backs_off_and_keeps_the_error(fake_cloud_tasks):
    [task_id] = not_sent(fake_cloud_tasks)
    fake_cloud_tasks.script[:] = [grpc.StatusCode.PERMISSION_DENIED]
    now = timezone.now()

    report = flush(now=now)

    record = TaskRecord.objects.get(pk=task_id)
    assert report.unsent == 1
    assert (record.pending, record.send_failures) == (True, 2)
    assert record.send_error == "PERMISSION_DENIED: scripted PERMISSION_DENIED"
    assert record.check_after == now + FIRST_BACKOFF * 2  # the second failure
    assert flush(now=now + FIRST_BACKOFF).sent == 0  # not due yet
    assert flush(now=now + FIRST_BACKOFF * 2).sent == 1


def test_a_flush_stops_when_cloud_tasks_does_not_answer_and_leaves_the_rest_due(fake_cloud_tasks):
    ids = not_sent(fake_cloud_tasks, count=FAILURES_TO_STOP + 2)
    fake_cloud_tasks.script[:] = [grpc.StatusCode.UNAVAILABLE] * FAILURES_TO_STOP
    now = timezone.now()

    report = flush(now=now)

    assert (report.unsent, report.stopped_early) == (FAILURES_TO_STOP, True)
    assert len(fake_cloud_tasks.requests) == FAILURES_TO_STOP
    untried = TaskRecord.objects.filter(pk__in=ids, send_failures=1)
    assert untried.count() == 2 and all(r.check_after == now for r in untried)


def test_a_task_just_sent_after_commit_is_left_alone_for_a_while(fake_cloud_tasks):
    enqueued_tasks.greet.enqueue("Ada")

    assert flush(now=timezone.now() + SEND_CLAIM - timedelta(seconds=5)).sent == 0
    assert len(fake_cloud_tasks.requests) == 1  # the send after commit only


def test_a_task_sent_after_commit_is_marked_sent_by_the_flush_without_a_second_task(fake_cloud_tasks):
    result = enqueued_tasks.greet.enqueue("Ada")

    report = flush(now=timezone.now() + LATER)

    assert report.sent == 1
    assert fake_cloud_tasks.names() == [name(result.id)] * 2  # the second answered ALREADY_EXISTS
    assert list(fake_cloud_tasks.held) == [name(result.id)]
    assert not TaskRecord.objects.get(pk=result.id).pending


def test_a_task_cloud_tasks_still_holds_is_not_sent_again(fake_cloud_tasks):
    sent(fake_cloud_tasks)

    report = flush(now=timezone.now() + LATER + QUIET)

    assert (report.waiting, report.resent) == (1, 0)
    assert fake_cloud_tasks.requests == []


def test_a_task_cloud_tasks_gave_up_on_before_it_started_is_sent_again_under_a_new_name(fake_cloud_tasks, caplog):
    record = sent(fake_cloud_tasks)
    fake_cloud_tasks.drop(name(record.pk))

    with caplog.at_level(logging.WARNING, logger="cloudtasks.operations.flush"):
        report = flush(now=timezone.now() + LATER + QUIET)

    assert (report.resent, report.sent) == (1, 1)
    assert fake_cloud_tasks.names() == [name(f"{record.pk}-1")]
    renewed = TaskRecord.objects.get(pk=record.pk)
    assert (renewed.generation, renewed.pending) == (1, False)
    [line] = [r.getMessage() for r in caplog.records if r.name == "cloudtasks.operations.flush" and r.levelno == logging.WARNING]
    assert line == (
        f"Task {record.pk} (tests.django.enqueued_tasks.tasks.greet) never started and Cloud Tasks no longer "
        f"holds it (its queue's retries ran out): sending it again as {record.pk}-1"
    )


def failed_an_attempt(record: TaskRecord) -> None:
    """As the runner leaves a task whose attempt failed and that its queue retries."""
    claim = records.claim(record.pk, worker_id="w1", delivery_attempt=1, lease=30, takes_over=lambda holder: False,
                          adopt=lambda: None)
    records.failed(claim, RuntimeError("attempt 1 fails"), for_good=False)


def test_a_task_that_started_and_that_cloud_tasks_still_holds_is_left_to_its_queue(fake_cloud_tasks):
    record = sent(fake_cloud_tasks)
    failed_an_attempt(record)

    report = flush(now=timezone.now() + LATER + QUIET)

    assert (report.waiting, report.resent, report.given_up) == (1, 0, 0)
    assert fake_cloud_tasks.requests == []
    assert TaskRecord.objects.get(pk=record.pk).status == TaskResultStatus.READY


def test_a_task_that_started_and_that_cloud_tasks_gave_up_on_fails_for_good_with_the_signal(
    fake_cloud_tasks, caplog
):
    record = sent(fake_cloud_tasks)
    failed_an_attempt(record)
    fake_cloud_tasks.drop(name(record.pk))
    failures = []
    task_failed_permanently.connect(receiver := lambda sender, task_result, **kwargs: failures.append(task_result))

    try:
        report = flush(now=timezone.now() + LATER + QUIET)
    finally:
        task_failed_permanently.disconnect(receiver)

    assert (report.given_up, report.resent, fake_cloud_tasks.requests) == (1, 0, [])
    [failure] = failures
    assert (failure.id, failure.status) == (record.pk, TaskResultStatus.FAILED)
    assert [error.exception_class for error in failure.errors] == [RuntimeError]
    assert f"Task {record.pk} (tests.django.enqueued_tasks.tasks.greet) failed for good: its queue stopped " \
           "retrying it after attempt 1 failed" in caplog.text


def test_a_task_whose_worker_died_and_that_cloud_tasks_gave_up_on_fails_for_good(fake_cloud_tasks):
    record = sent(fake_cloud_tasks)
    records.claim(record.pk, worker_id="w1", delivery_attempt=1, lease=1, takes_over=lambda holder: False,
                  adopt=lambda: None)  # and then nothing: the worker died
    fake_cloud_tasks.drop(name(record.pk))

    report = flush(now=timezone.now() + LATER + QUIET + QUIET)

    failed = TaskRecord.objects.get(pk=record.pk)
    assert (report.given_up, failed.status, failed.lease_token) == (1, TaskResultStatus.FAILED, "")
    assert failed.attempts[-1]["error"]["exception_class_path"] == "cloudtasks.exceptions.WorkerLost"


def test_a_task_running_under_its_lease_is_left_alone(fake_cloud_tasks):
    record = sent(fake_cloud_tasks)
    records.claim(record.pk, worker_id="w1", delivery_attempt=1, lease=3600, takes_over=lambda holder: False,
                  adopt=lambda: None)
    fake_cloud_tasks.drop(name(record.pk))

    report = flush(now=timezone.now() + LATER + QUIET)

    assert (report.given_up, report.resent) == (0, 0)
    assert TaskRecord.objects.get(pk=record.pk).status == TaskResultStatus.RUNNING


def test_a_running_job_task_is_failed_only_once_its_jobs_task_timeout_has_surely_ended_its_attempt(
    settings, fake_cloud_tasks
):
    settings.TASKS = with_options(settings.TASKS, "jobs", JOB_TIMEOUT=600)
    result = enqueued_tasks.greet.using(backend="jobs").enqueue("Ada")
    fake_cloud_tasks.drop(name(result.id))  # Cloud Tasks forgets a job task once jobs:run answers
    # Its worker claimed it, then could not renew its lease: it may run on all the same.
    records.claim(result.id, worker_id="execution/0/0", delivery_attempt=1, lease=1,
                  takes_over=lambda holder: False, adopt=lambda: None)
    started = TaskRecord.objects.get(pk=result.id).last_attempted_at
    stopped_by = started + timedelta(seconds=600) + JOB_MARGIN  # Cloud Run stops the attempt at 600 s

    before = flush(now=stopped_by - timedelta(seconds=1))
    assert (before.given_up, TaskRecord.objects.get(pk=result.id).status) == (0, TaskResultStatus.RUNNING)
    after = flush(now=stopped_by + QUIET)  # when the flush looks again

    failed = TaskRecord.objects.get(pk=result.id)
    assert (after.given_up, failed.status) == (1, TaskResultStatus.FAILED)
    assert failed.attempts[-1]["error"]["exception_class_path"] == "cloudtasks.exceptions.WorkerLost"


@pytest.mark.both_databases
def test_the_flush_never_fails_a_task_whose_lease_was_renewed_after_it_read_it(fake_cloud_tasks):
    record = sent(fake_cloud_tasks)
    claim = records.claim(record.pk, worker_id="w1", delivery_attempt=1, lease=0.01, takes_over=lambda holder: False,
                          adopt=lambda: None)
    as_read = TaskRecord.objects.get(pk=record.pk)  # the flush read it with its lease expired
    assert records.renew(record.pk, claim.token, 30)  # a late renewal: nobody took the task over

    assert not records.failed_unattended(as_read, "its worker stopped", now=timezone.now())
    assert TaskRecord.objects.get(pk=record.pk).status == TaskResultStatus.RUNNING


def test_a_deferred_task_is_not_looked_at_before_it_could_have_run(fake_cloud_tasks):
    run_after = timezone.now() + timedelta(hours=1)
    result = enqueued_tasks.greet.using(run_after=run_after).enqueue("Ada")
    flush(now=timezone.now() + LATER)
    fake_cloud_tasks.drop(name(result.id))

    assert flush(now=run_after + QUIET - timedelta(seconds=1)).resent == 0
    assert flush(now=run_after + QUIET).resent == 1


def test_finished_tasks_are_not_the_flushs_business(fake_cloud_tasks):
    [task_id] = not_sent(fake_cloud_tasks)
    TaskRecord.objects.filter(pk=task_id).update(status=TaskResultStatus.SUCCESSFUL)

    assert flush().sent == 0


def test_the_command_flushes_and_prints_what_it_did(fake_cloud_tasks, capsys):
    not_sent(fake_cloud_tasks, count=2)

    call_command("flush_outbox")

    assert capsys.readouterr().out == "flushed: sent=2 unsent=0 resent=0 waiting=0 given_up=0\n"


# --- Several flushes at once -------------------------------------------------------

PENDING = 200
FLUSHES = 4


def flush_concurrently(database, emulator_host: str, queue: str) -> None:
    """FLUSHES `manage.py flush_outbox` processes, started together, on the test
    database, that send the queue "default" to `queue` at `emulator_host`."""
    variables = {
        env.DATABASE_URL: database.url,
        env.EMULATOR_HOST: emulator_host,
        env.QUEUES: queues_variable({"default": queue, "long": queue}),
        env.HANDLER_URL: HANDLER_URL,
    }
    processes = [start_manage_py("flush_outbox", variables=variables) for _ in range(FLUSHES)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0] * FLUSHES, outputs
    reports = [out.strip().removeprefix("flushed: ") for out, _ in outputs]
    assert sum(int(r.split()[0].removeprefix("sent=")) for r in reports) == PENDING, reports


@pytest.mark.both_databases
def test_concurrent_flushes_send_each_task_once(database, fake_cloud_tasks):
    ids = not_sent(fake_cloud_tasks, count=PENDING)
    # Each call takes a while, so the flushes overlap for seconds.
    fake_cloud_tasks.on_create = lambda request: time.sleep(0.005)

    flush_concurrently(database, fake_cloud_tasks.address, QUEUE)

    assert Counter(fake_cloud_tasks.names()) == {name(task_id): 1 for task_id in ids}
    assert not TaskRecord.objects.filter(sent_at=None).exists()


def test_concurrent_flushes_put_each_task_in_the_emulators_queue_once(
    database, fake_cloud_tasks, tasks_emulator, paused_tasks_queue
):
    ids = not_sent(fake_cloud_tasks, count=PENDING)

    flush_concurrently(database, tasks_emulator.address, paused_tasks_queue)

    queued = Counter(task.name for task in tasks_emulator.list_tasks(paused_tasks_queue))
    assert queued == {f"{paused_tasks_queue}/tasks/{task_id}": 1 for task_id in ids}
