"""A job task's worker that stalls past its lease, or whose clock is off: its finished
work is kept unless another worker truly took the task over, and then its execution
says so; a worker's clock never decides whose lease has expired.

Each job execution is `manage.py run_task` in a process of its own, on the tests'
PostgreSQL. A stall is a real one: the test holds the lock on the task's row that the
worker's lease renewal (an UPDATE of that row) waits on, as a renewal waits on a busy
database. A skewed clock is a real one: the worker runs under libfaketime.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now
from django.tasks import TaskResultStatus

from cloudtasks.config import env
from cloudtasks.enqueue import task_request
from cloudtasks.models import TaskRecord
from cloudtasks.operations.flush import flush
from cloudtasks.run import db_clock, records
from tests.django.backend_settings import with_options
from tests.django.job_execution import DEPLOYED, start_manage_py
from tests.django.live import wait_for
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect

LEASE = 2.0
JOB_TIMEOUT = 3600  # the job's task timeout: far beyond what these tests take
# When the flush next looks at a task that started: LOOK_AGAIN_AFTER past its lease.
FLUSH_LOOKS_AFTER = records.LOOK_AGAIN_AFTER + timedelta(seconds=LEASE)
SKEW_SECONDS = 45


@pytest.fixture
def stalling_job_task(settings, job_execution_args, database, fake_cloud_tasks):
    """Start a job execution of a task that writes a row labelled as asked and then runs
    for 4 leases; returns the task's id and the running execution. The flush here knows
    the job's task timeout, and Cloud Tasks no longer holds the task, as after jobs:run."""

    def start(label: str) -> tuple[str, subprocess.Popen[str]]:
        args = job_execution_args(tasks.insert_then_sleep, label, 4 * LEASE)
        settings.TASKS = with_options(settings.TASKS, "jobs", JOB_TIMEOUT=JOB_TIMEOUT)
        [created] = fake_cloud_tasks.names()
        fake_cloud_tasks.drop(created)
        task_id = TaskRecord.objects.get().pk
        execution = start_manage_py("run_task", *args, variables={
            **DEPLOYED, env.DATABASE_URL: database.url, "TESTS_TASK_LEASE": str(LEASE),
            env.EXECUTION: "execution-a", env.TASK_INDEX: "0",
        })
        wait_for(lambda: TaskRecord.objects.get(pk=task_id).status == TaskResultStatus.RUNNING,
                 "the job's task to start", seconds=30)
        return task_id, execution

    return start


@contextmanager
def renewals_stalled(task_id: str) -> Iterator[None]:
    """Hold the lock on the task's row until the block ends, once the worker's lease
    renewal waits on it and the lease has expired by the database's clock."""
    with transaction.atomic():
        TaskRecord.objects.select_for_update().get(pk=task_id)
        wait_for(lambda: renewals_waiting() == 1, "the worker's lease renewal to wait on the row lock")
        wait_for(lambda: TaskRecord.objects.filter(pk=task_id, lease_expires_at__lt=Now()).exists(),
                 "the lease to expire")
        yield


def renewals_waiting() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction, PostgreSQL keeps showing the activity it first read.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            ['UPDATE "cloudtasks_taskrecord" SET "lease_expires_at"%'],
        )
        return cursor.fetchone()[0]


def test_a_job_task_whose_renewals_stall_past_its_lease_while_the_flush_runs_succeeds_with_its_writes_kept(
    stalling_job_task,
):
    task_id, execution = stalling_job_task("kept")

    with renewals_stalled(task_id):
        report = flush(now=db_clock.now() + FLUSH_LOOKS_AFTER)
    _, stderr = execution.communicate(timeout=60)

    assert report.given_up == 0
    assert execution.returncode == 0, stderr
    record = TaskRecord.objects.get(pk=task_id)
    assert (record.status, [attempt["error"] for attempt in record.attempts]) == (TaskResultStatus.SUCCESSFUL, [None])
    assert Effect.objects.filter(label="kept").count() == 1


def test_a_job_execution_whose_task_was_taken_over_while_its_renewals_stalled_exits_non_zero(stalling_job_task):
    task_id, execution = stalling_job_task("lost")

    with renewals_stalled(task_id):
        other = records.claim(task_id, worker_id="execution-b/0/0", delivery_attempt=1, lease=600,
                              takes_over=lambda holder: False, adopt=lambda: None)
        records.succeeded(other, None)
    _, stderr = execution.communicate(timeout=60)

    assert execution.returncode != 0
    assert f"task {task_id} (tests.django.taskapp.tasks.insert_then_sleep) ran, but its work was rolled back: " \
           "another worker took the task over meanwhile" in stderr
    assert Effect.objects.filter(label="lost").count() == 0
    record = TaskRecord.objects.get(pk=task_id)
    assert [attempt["worker_id"] for attempt in record.attempts] == ["execution-a/0/0", "execution-b/0/0"]


# --- A worker's clock ----------------------------------------------------------------


def faketime(offset_seconds: int) -> list[str]:
    """The command that runs another with its clock `offset_seconds` ahead. Only its
    wall clock is meant; libfaketime shifts the monotonic clock alike, which changes no
    interval the runner measures (a timed wait on a lock does wait the offset longer)."""
    return ["faketime", "-f", f"+{offset_seconds}s"]


def test_faketime_skews_a_python_process_clock():
    shown = subprocess.run(
        [*faketime(SKEW_SECONDS), sys.executable, "-c", "import time; print(time.time())"],
        capture_output=True, text=True, timeout=30, check=True,
    )

    assert float(shown.stdout) - time.time() == pytest.approx(SKEW_SECONDS, abs=2)


def test_a_worker_whose_clock_is_ahead_does_not_take_over_a_task_under_lease(job_execution_args, database, tmp_path):
    runs = tmp_path / "runs.txt"
    args = job_execution_args(tasks.note_run_then_sleep, str(runs), 6)
    # A lease far shorter than the skew: by the skewed clock, the first worker's has expired.
    variables = {**DEPLOYED, env.DATABASE_URL: database.url, "TESTS_TASK_LEASE": "10", env.TASK_INDEX: "0"}
    first = start_manage_py("run_task", *args, variables={**variables, env.EXECUTION: "execution-a"})
    wait_for(runs.exists, "the first execution to start the task", seconds=30)

    # A delivery that names its task, and so may take over an expired lease: an execution
    # started with a payload (before job tasks were taken from the database) does.
    [record] = TaskRecord.objects.all()
    named = task_request.payload(record, with_arguments=False).encode().decode()
    skewed = start_manage_py(
        "run_task", "--payload", named, variables={**variables, env.EXECUTION: "execution-b"},
        under=faketime(SKEW_SECONDS),
    )
    outputs = [execution.communicate(timeout=90) for execution in (first, skewed)]

    assert [first.returncode, skewed.returncode] == [0, 0], outputs
    assert runs.read_text().splitlines() == ["start execution-a/0/0", "end execution-a/0/0"]
    assert "had already succeeded; not run again" in outputs[1][0]
