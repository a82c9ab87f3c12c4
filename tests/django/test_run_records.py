"""Run records and effectively-once execution, through the push handler: what each
delivery runs, what it answers Cloud Tasks, what the task's record says afterwards,
and the signals sent. Pushed as Cloud Tasks pushes (tests/django/pushes.py); the
database effects of the tests' tasks are rows of taskapp's Effect.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.tasks import TaskResultStatus, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_finished

from cloudtasks.config import env
from cloudtasks.exceptions import PermanentFailure, ReturnValueNotJson
from cloudtasks.models import TaskRecord
from cloudtasks.run import records
from cloudtasks.run.runner import Delivery, Outcome, run
from cloudtasks.signals import task_failed_permanently
from cloudtasks.wire.payload import TaskPayload
from tests.django.backend_settings import JOB_PATH, tasks_setting
from tests.django.loopback import free_port
from tests.django.pushes import AUDIENCE, INVOKER, SIGNER, TASKS, google_like_auth, payload, push
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect

QUEUES = {name: f"projects/example-project/locations/europe-west1/queues/{name}" for name in ("default", "long")}
# Three attempts, as a queue declares them; the last is known by the retry count.
RETRY = {"max_attempts": 3, "min_backoff": "1s", "max_backoff": "1s"}


@pytest.fixture(autouse=True)
def handler(settings, google_like_keys, db):
    settings.CLOUD_TASKS_AUTH = google_like_auth(google_like_keys)
    settings.TASKS = tasks_setting(QUEUES, emulator_host=f"127.0.0.1:{free_port()}", RETRY=RETRY)
    tasks.forget()


@pytest.fixture
def failed_for_good():
    """The results task_failed_permanently was sent with, in order."""
    sent = []

    def receive(sender, task_result, **kwargs):
        sent.append(task_result)

    task_failed_permanently.connect(receive)
    yield sent
    task_failed_permanently.disconnect(receive)


def deliver(client, task: str, *args, task_id: str = "t-1", retry_count: int = 0, **kwargs):
    token = SIGNER.mint(audience=AUDIENCE, email=INVOKER)
    return push(client, payload(task, *args, task_id=task_id, **kwargs), token=token, retry_count=retry_count)


def effects(label: str) -> int:
    return Effect.objects.filter(label=label).count()


def record(task_id: str = "t-1") -> TaskRecord:
    return TaskRecord.objects.get(pk=task_id)


def errors(task_id: str = "t-1") -> list[str]:
    return [attempt["error"]["exception_class_path"] if attempt["error"] else None for attempt in record(task_id).attempts]


# --- Effectively once --------------------------------------------------------------------


@pytest.mark.both_databases
def test_a_second_delivery_of_a_task_that_succeeded_runs_nothing_and_is_acknowledged(client):
    first = deliver(client, "insert_effect", "once")
    second = deliver(client, "insert_effect", "once", retry_count=1)

    assert (first.status_code, first.json()["outcome"]) == (200, "succeeded")
    assert (second.status_code, second.json()) == (200, {"id": "t-1", "status": "SUCCESSFUL", "outcome": "duplicate"})
    assert effects("once") == 1
    assert len(record().attempts) == 1


def test_a_delivery_while_the_task_runs_elsewhere_is_answered_409_to_be_retried(client):
    records.claim("t-1", worker_id="elsewhere", delivery_attempt=1, lease=60, takes_over=lambda holder: False,
                  adopt=lambda: run_records_adopt("insert_effect", "busy"))

    response = deliver(client, "insert_effect", "busy", retry_count=1)

    assert (response.status_code, response.json()["outcome"]) == (409, "busy")
    assert effects("busy") == 0


def run_records_adopt(task: str, *args) -> TaskRecord:
    from cloudtasks.run.runner import _adopted  # the record a delivery without one is given

    return _adopted(TaskPayload(f"{TASKS}.{task}", "t-1", list(args), {}))


def test_a_task_whose_worker_died_is_taken_over_once_its_lease_expired(client):
    records.claim("t-1", worker_id="died", delivery_attempt=1, lease=0.01, takes_over=lambda holder: False,
                  adopt=lambda: run_records_adopt("insert_effect", "taken over"))
    time.sleep(0.05)

    response = deliver(client, "insert_effect", "taken over", retry_count=1)

    assert response.json()["outcome"] == "succeeded"
    assert effects("taken over") == 1
    assert errors() == ["cloudtasks.exceptions.WorkerLost", None]
    assert [attempt["worker_id"] for attempt in record().attempts][0] == "died"


@pytest.mark.both_databases
def test_a_failed_attempt_rolls_back_the_tasks_writes_and_leaves_it_ready_for_the_next(client):
    response = deliver(client, "insert_then_fail", "rolled back")

    assert response.status_code == 500
    assert effects("rolled back") == 0
    assert (record().status, errors()) == (TaskResultStatus.READY, ["builtins.RuntimeError"])


def test_a_task_that_fails_its_first_attempt_has_its_effect_once(client):
    first = deliver(client, "insert_failing_first", "flaky", fail_first=True)
    second = deliver(client, "insert_failing_first", "flaky", fail_first=True, retry_count=1)

    assert (first.status_code, second.status_code) == (500, 200)
    assert effects("flaky") == 1
    assert tasks.calls == [("flaky", 1), ("flaky", 2)]
    assert errors() == ["builtins.RuntimeError", None]


def test_a_non_atomic_task_commits_as_it_goes(client):
    deliver(client, "insert_then_fail_outside_a_transaction", "committed")

    assert effects("committed") == 1


def test_a_worker_that_lost_its_lease_while_it_ran_commits_nothing(transactional_db):
    # A worker froze past its lease (no renewal), another took the task over and ran it.
    enqueue_record = run_records_adopt("insert_then_sleep", "frozen", 1.0)
    enqueue_record.save()
    payload_ = TaskPayload(f"{TASKS}.insert_then_sleep", "t-1", None, None)
    outcomes = {}

    def frozen() -> None:
        outcomes["frozen"] = run(payload_, Delivery(worker_id="frozen", attempt=1))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("cloudtasks.run.runner.lease_of", lambda alias: 0.2)
        patch.setattr("cloudtasks.run.lease.kept", lambda *args: _no_renewal())
        worker = threading.Thread(target=frozen)
        worker.start()
        time.sleep(0.5)  # its lease has expired
        TaskRecord.objects.filter(pk="t-1").update(args=["other", 0])
        outcomes["other"] = run(payload_, Delivery(worker_id="other", attempt=2))
        worker.join()

    assert (outcomes["frozen"].outcome, outcomes["other"].outcome) == (Outcome.LEASE_LOST, Outcome.SUCCEEDED)
    assert list(Effect.objects.values_list("label", flat=True)) == ["other"]
    assert record().status == TaskResultStatus.SUCCESSFUL


def _no_renewal():
    from contextlib import nullcontext

    return nullcontext()


@pytest.mark.both_databases
def test_a_task_raising_keyboard_interrupt_is_recorded_and_gives_its_lease_back_at_once(client):
    with pytest.raises(KeyboardInterrupt):  # for whoever runs the handler
        deliver(client, "interrupt")

    assert (record().status, record().lease_token, errors()) == (TaskResultStatus.READY, "", ["builtins.KeyboardInterrupt"])
    with pytest.raises(KeyboardInterrupt):  # the next delivery runs it at once: no lease to wait out
        deliver(client, "interrupt", retry_count=1)
    assert len(record().attempts) == 2


def test_a_job_task_pushed_over_http_is_not_run_and_its_record_is_left_to_its_execution(
    job_execution_args, run_job, client, caplog
):
    args = job_execution_args(tasks.insert_effect, "in its job")  # enqueued on the job backend
    enqueued = TaskRecord.objects.values().get()
    # Someone with enqueue rights made an HTTP task of its payload, saying nothing of its backend.
    body = TaskPayload(enqueued["task_path"], enqueued["id"], ["in its job"], {}).encode()

    with caplog.at_level(logging.INFO, logger="cloudtasks"):
        response = push(client, body, token=SIGNER.mint(audience=AUDIENCE, email=INVOKER))

    assert (response.status_code, response.json()["status"]) == (200, "REFUSED")  # Cloud Tasks stops delivering it
    assert [r.getMessage() for r in caplog.records if r.name.startswith("cloudtasks")] == [
        f"Refused task push, not run here: task {enqueued['id']} was enqueued on backend 'jobs', queue 'default', "
        f"which runs its tasks in Cloud Run job {JOB_PATH}, not over HTTP"
    ]
    assert (TaskRecord.objects.values().get(), effects("in its job")) == (enqueued, 0)
    in_its_job = run_job(*args)
    assert in_its_job.returncode == 0, in_its_job.stderr
    assert (record(enqueued["id"]).status, effects("in its job")) == (TaskResultStatus.SUCCESSFUL, 1)


# --- Failing for good ----------------------------------------------------------------------


@pytest.mark.both_databases
def test_the_queues_last_attempt_fails_the_task_for_good_with_the_signal_once(client, failed_for_good):
    answers = [deliver(client, "explode", retry_count=retry).status_code for retry in range(3)]

    assert answers == [500, 500, 200]
    assert record().status == TaskResultStatus.FAILED
    [failure] = failed_for_good
    assert (failure.id, failure.status, len(failure.errors)) == ("t-1", TaskResultStatus.FAILED, 3)
    assert deliver(client, "explode", retry_count=3).json()["outcome"] == "duplicate"
    assert len(failed_for_good) == 1


def test_permanent_failure_fails_the_task_at_once(client, failed_for_good):
    response = deliver(client, "fail_for_good", "the card has expired")

    assert (response.status_code, response.json()["status"]) == (200, "FAILED")
    assert errors() == ["cloudtasks.exceptions.PermanentFailure"]
    [failure] = failed_for_good
    assert failure.errors[0].exception_class is PermanentFailure
    assert "the card has expired" in failure.errors[0].traceback


def test_a_return_value_that_is_not_json_fails_the_task_and_keeps_its_effects(client, failed_for_good):
    response = deliver(client, "insert_and_return_what_json_cannot_carry", "kept")

    assert (response.status_code, response.json()["status"]) == (200, "FAILED")
    assert effects("kept") == 1
    assert errors() == ["cloudtasks.exceptions.ReturnValueNotJson"]
    assert failed_for_good[0].errors[0].exception_class is ReturnValueNotJson
    assert deliver(client, "insert_and_return_what_json_cannot_carry", "kept").json()["outcome"] == "duplicate"
    assert effects("kept") == 1


def test_a_payload_that_can_never_run_is_recorded_failed_with_task_finished_sent(client, failed_for_good):
    finished = []
    task_finished.connect(receiver := lambda sender, task_result, **kwargs: finished.append(task_result))
    try:
        response = deliver(client, "record", "a", "b")  # record takes one argument
    finally:
        task_finished.disconnect(receiver)

    assert response.json()["status"] == "DISCARDED"
    assert (record().status, errors()) == (TaskResultStatus.FAILED, ["cloudtasks.run.declared_tasks.UnrunnableTask"])
    assert [(r.id, r.status) for r in finished] == [("t-1", TaskResultStatus.FAILED)]
    assert len(failed_for_good) == 1
    assert tasks.calls == []


def test_an_unknown_task_is_recorded_failed_and_reported_through_a_stand_in(client, failed_for_good):
    deliver(client, "no_such_task")

    [failure] = failed_for_good
    assert failure.task.module_path == f"{TASKS}.no_such_task"
    with pytest.raises(Exception, match="is not a task declared with @task"):
        failure.task.call()


# --- Results -----------------------------------------------------------------------------


def test_get_result_of_a_successful_task_has_its_return_value_and_worker(client):
    deliver(client, "record", "returned")

    result = task_backends["default"].get_result("t-1")

    assert (result.status, result.return_value, result.attempts) == (TaskResultStatus.SUCCESSFUL, "returned", 1)
    assert result.started_at <= result.finished_at
    assert result.worker_ids[0].endswith(f":{os.getpid()}")


def test_get_result_of_a_task_being_retried_is_ready_with_each_attempts_error(client):
    deliver(client, "explode")

    result = tasks.explode.get_result("t-1")

    assert (result.status, result.attempts) == (TaskResultStatus.READY, 1)
    assert result.errors[0].traceback.endswith("RuntimeError: task exploded\n")
    with pytest.raises(ValueError, match="Task has not finished yet"):
        result.return_value  # noqa: B018


def test_get_result_of_a_running_task_is_running(client):
    records.claim("t-1", worker_id="elsewhere", delivery_attempt=1, lease=60, takes_over=lambda holder: False,
                  adopt=lambda: run_records_adopt("record", "running"))

    assert tasks.record.get_result("t-1").status == TaskResultStatus.RUNNING


def test_get_result_of_a_failed_task_raises_on_its_return_value(client):
    deliver(client, "fail_for_good", "no")

    result = tasks.fail_for_good.get_result("t-1")

    assert result.status == TaskResultStatus.FAILED and result.is_finished
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018


def test_get_result_of_an_unknown_id_raises(client):
    with pytest.raises(TaskResultDoesNotExist):
        tasks.record.get_result("never-enqueued")


def test_get_result_from_another_process_sees_what_the_record_holds(database, transactional_db, client):
    deliver(client, "record", "seen elsewhere")
    script = (
        "import json; from tests.django.taskapp.tasks import record; r = record.get_result('t-1'); "
        "print(json.dumps([r.status, r.return_value, r.attempts, r.worker_ids]))"
    )

    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=Path(__file__).resolve().parents[2] / "django_project", capture_output=True, text=True, timeout=60,
        env={**os.environ, env.DATABASE_URL: database.url, "DJANGO_SETTINGS_MODULE": "tests.django.subprocess_settings",
             "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )

    assert shown.returncode == 0, shown.stderr
    status, value, attempts, workers = json.loads(shown.stdout)
    assert (status, value, attempts) == ("SUCCESSFUL", "seen elsewhere", 1)
    assert workers == [record().attempts[0]["worker_id"]]
