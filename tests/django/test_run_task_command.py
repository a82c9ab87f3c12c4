"""`manage.py run_task`, what a Cloud Run Job execution runs.

The exit status is what Cloud Run acts on, so the tests that judge it run the command
in a process of its own, started as the job starts it.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.core.management import CommandError, call_command
from django.tasks import TaskResultStatus
from django.tasks.exceptions import InvalidTask
from django.utils import timezone

from cloudtasks.enqueue.limits import MAX_STORED_ARGUMENTS_BYTES
from cloudtasks.enqueue.task_request import payload
from cloudtasks.models import TaskRecord
from cloudtasks.run import records
from tests.django.backend_settings import tasks_setting
from tests.django.job_execution import DEPLOYED, run_task
from tests.django.taskapp import tasks

TASKS = "tests.django.taskapp.tasks"


def test_job_execution_runs_the_due_task_of_its_queue(job_execution_args, run_job, tmp_path):
    written = tmp_path / "written.txt"
    args = job_execution_args(tasks.write_file, str(written), "from a job")

    completed = run_job(*args)

    assert completed.returncode == 0, completed.stderr
    assert written.read_text() == "from a job"


def test_job_execution_of_a_failing_task_exits_non_zero(job_execution_args, run_job):
    args = job_execution_args(tasks.explode)

    completed = run_job(*args)

    assert completed.returncode != 0
    assert "task exploded" in completed.stderr  # the traceback, as Cloud Run's logs show it


def payload_size(text: str, path: str) -> int:
    """The bytes a write_file task's payload would have with its arguments (as an HTTP task carries them)."""
    record = TaskRecord(
        id="x" * 32, task_path=tasks.write_file.module_path, backend="jobs", queue_name="default",
        args=[path, text], kwargs={}, enqueued_at=timezone.now(),
    )
    return len(payload(record, with_arguments=True).encode())


def text_of_size(size: int, path: str) -> str:
    """Text that makes write_file's arguments exactly `size` bytes, as the limit counts them."""
    return "x" * (size - payload_size("", path))


@pytest.mark.parametrize(
    "size", [200_000, MAX_STORED_ARGUMENTS_BYTES], ids=["over what one command-line argument can hold", "at the limit"]
)
def test_job_task_of_any_size_up_to_the_limit_runs(job_execution_args, run_job, tmp_path, size):
    written = tmp_path / "written.txt"
    text = text_of_size(size, str(written))

    args = job_execution_args(tasks.write_file, str(written), text)
    completed = run_job(*args)

    assert completed.returncode == 0, completed.stderr
    assert written.read_text() == text
    assert sum(map(len, args)) < 1000  # the arguments came from the record


def test_job_task_over_the_limit_is_refused_at_enqueue(settings, fake_cloud_tasks, transactional_db, tmp_path):
    settings.TASKS = tasks_setting(
        "projects/example-project/locations/europe-west1/queues/worker", emulator_host=fake_cloud_tasks.address
    )
    path = str(tmp_path / "written.txt")
    text = text_of_size(MAX_STORED_ARGUMENTS_BYTES + 1, path)

    with pytest.raises(InvalidTask, match=(
        rf"would be {MAX_STORED_ARGUMENTS_BYTES + 1} bytes with its arguments; a job task's arguments are "
        rf"stored with its record, at most {MAX_STORED_ARGUMENTS_BYTES} bytes"
    )):
        tasks.write_file.using(backend="jobs").enqueue(path, text)

    assert fake_cloud_tasks.requests == []
    assert not TaskRecord.objects.exists()


def test_a_failed_attempt_is_retried_by_the_same_execution_task_whose_last_attempt_fails_it_for_good(
    job_execution_args, run_job
):
    args = job_execution_args(tasks.explode)
    task_id = TaskRecord.objects.get().pk
    execution = {**DEPLOYED, "CLOUD_RUN_EXECUTION": "worker-abc12", "CLOUD_RUN_TASK_INDEX": "0"}

    # Cloud Run retries the execution's task up to the job's max_retries (3): attempts 0-3.
    attempts = [run_job(*args, variables={**execution, "CLOUD_RUN_TASK_ATTEMPT": str(n)}) for n in range(4)]

    for retried in attempts[:3]:
        assert retried.returncode != 0 and "failed; the job retries it" in retried.stderr
    assert attempts[3].returncode != 0 and "failed for good" in attempts[3].stderr
    record = TaskRecord.objects.get(pk=task_id)
    assert record.status == TaskResultStatus.FAILED
    assert [a["worker_id"] for a in record.attempts] == [f"worker-abc12/0/{n}" for n in range(4)]
    assert [a["delivery_attempt"] for a in record.attempts] == [1, 2, 3, 4]


def test_a_retry_of_the_same_execution_takes_over_from_its_dead_attempt_at_once(job_execution_args, run_job):
    args = job_execution_args(tasks.insert_effect, "taken over")
    task_id = TaskRecord.objects.get().pk
    execution = {**DEPLOYED, "CLOUD_RUN_EXECUTION": "worker-abc12", "CLOUD_RUN_TASK_INDEX": "0"}
    # Attempt 0 of this execution claimed it, then its container died (no lease renewals).
    records.claim(task_id, worker_id="worker-abc12/0/0", delivery_attempt=1, lease=600,
                  takes_over=lambda holder: False, adopt=lambda: None)

    retry = run_job(*args, variables={**execution, "CLOUD_RUN_TASK_ATTEMPT": "1"})

    assert retry.returncode == 0, retry.stderr
    record = TaskRecord.objects.get(pk=task_id)
    assert [a["worker_id"] for a in record.attempts] == ["worker-abc12/0/0", "worker-abc12/0/1"]
    assert record.attempts[0]["error"]["exception_class_path"] == "cloudtasks.exceptions.WorkerLost"


def test_an_execution_started_before_queue_args_waits_for_the_worker_that_runs_its_task(job_execution_args, run_job):
    job_execution_args(tasks.insert_effect, "elsewhere")
    record = TaskRecord.objects.get()
    records.claim(record.pk, worker_id="another-execution/0/0", delivery_attempt=1, lease=600,
                  takes_over=lambda holder: False, adopt=lambda: None)
    # What a job task's jobs:run call used to pass: executions still in flight run it.
    old_args = ["--payload", payload(record, with_arguments=False).encode()]

    duplicate = run_job(*old_args, variables={**DEPLOYED, "TESTS_TASK_LEASE": "0.5"})  # waits two leases

    assert duplicate.returncode == 0, duplicate.stderr
    assert "is another worker's: task" in duplicate.stdout
    assert TaskRecord.objects.get(pk=record.pk).status == TaskResultStatus.RUNNING


def test_a_job_task_raising_keyboard_interrupt_exits_non_zero_with_its_attempt_recorded_and_lease_given_back(
    job_execution_args, run_job
):
    args = job_execution_args(tasks.interrupt)

    interrupted = run_job(*args)

    assert interrupted.returncode != 0
    assert "KeyboardInterrupt" in interrupted.stderr
    record = TaskRecord.objects.get()
    assert (record.status, record.lease_token, record.lease_expires_at) == (TaskResultStatus.READY, "", None)
    assert record.attempts[0]["error"]["exception_class_path"] == "builtins.KeyboardInterrupt"


def test_named_task_runs_with_json_arguments(tmp_path):
    written = tmp_path / "written.txt"

    completed = run_task("--task", f"{TASKS}.write_file", "--args", json.dumps([str(written), "scheduled"]))

    assert completed.returncode == 0, completed.stderr
    assert written.read_text() == "scheduled"


def test_the_schedule_runs_the_outbox_flush_which_logs_one_line(caplog, db):
    with caplog.at_level(logging.INFO, logger="cloudtasks.operations.flush"):
        call_command("run_task", "--task", "cloudtasks.tasks.flush_outbox")

    [line] = [r for r in caplog.records if r.name == "cloudtasks.operations.flush"]
    assert line.getMessage() == "Outbox flush sent=0 unsent=0 resent=0 waiting=0 given_up=0"


def test_attempt_number_comes_from_cloud_run_task_attempt(monkeypatch):
    tasks.forget()
    monkeypatch.setenv("CLOUD_RUN_TASK_ATTEMPT", "2")  # Cloud Run counts retries from 0

    call_command("run_task", "--task", f"{TASKS}.succeed_on_third_attempt", "--kwargs", '{"key": "job"}')

    assert tasks.calls == [("job", 3)]


def test_task_that_was_never_declared_is_refused():
    with pytest.raises(CommandError, match=r"can never run: .*no_such_task"):
        call_command("run_task", "--task", f"{TASKS}.no_such_task")


def test_payload_of_version_1_still_runs(tmp_path, db):
    written = tmp_path / "written.txt"
    version_1 = json.dumps({
        "version": 1, "id": "t-v1", "task": f"{TASKS}.write_file", "args": [str(written), "queued before"],
        "kwargs": {}, "enqueued_at": "2025-01-02T03:04:05+00:00",
    })

    call_command("run_task", "--payload", version_1)

    assert written.read_text() == "queued before"


def test_payload_for_a_backend_this_process_lacks_is_refused_naming_it(db):
    body = json.dumps({
        "version": 2, "id": "t-1", "task": f"{TASKS}.record", "args": ["x"], "kwargs": {}, "backend": "nowhere",
    })

    with pytest.raises(CommandError, match="can never run: .*enqueued on backend 'nowhere'"):
        call_command("run_task", "--payload", body)


def test_malformed_payload_is_refused():
    with pytest.raises(CommandError, match="can never run: payload is not JSON"):
        call_command("run_task", "--payload", "{not json")


def test_arguments_that_are_not_a_json_list_are_refused():
    with pytest.raises(CommandError, match="must be a JSON list"):
        call_command("run_task", "--task", f"{TASKS}.record", "--args", '{"label": "x"}')


def test_payload_and_arguments_together_are_refused():
    with pytest.raises(CommandError, match="a payload carries its own"):
        call_command("run_task", "--payload", "{}", "--args", '["x"]')
