"""Job tasks start their queue's worker job as it is defined, and each execution runs one
due job task of its queue (`run_task --queue`, cloudtasks/run/job_tasks.py).

A job task's jobs:run call overrides nothing, so whoever may enqueue cannot choose an
execution's args or env. Executions are `manage.py run_task` in processes of their own,
with the worker job's own args and Cloud Run's variables, on the test database.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connections, transaction
from django.tasks import TaskResultStatus
from django.utils import timezone

from cloudtasks.config import env
from cloudtasks.enqueue.task_request import RUN_API
from cloudtasks.models import TaskRecord
from cloudtasks.operations.redrive import redrive
from cloudtasks.run import job_tasks
from tests.django.backend_settings import job_path, tasks_setting
from tests.django.job_execution import DEPLOYED, start_manage_py, worker_args
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect

NOTHING_DUE = "nothing due on queue default (backend jobs): no job task waits for an execution\n"
LOCK_WAIT_SECONDS = 5
QUEUE = "projects/example-project/locations/europe-west1/queues/worker"


def execution(name: str, attempt: int = 0) -> dict[str, str]:
    """What Cloud Run sets on attempt `attempt` (retries so far) of task 0 of execution `name`."""
    return {**DEPLOYED, env.EXECUTION: name, env.TASK_INDEX: "0", env.TASK_ATTEMPT: str(attempt)}


def effects() -> list[str]:
    return list(Effect.objects.order_by("pk").values_list("label", flat=True))


def test_a_job_task_through_the_emulator_starts_the_job_as_defined_and_runs_once_via_its_queue(
    tasks_emulator, paused_queues, deployed, run_job
):
    result = tasks.insert_effect.using(backend="jobs").enqueue("from the emulator")

    [task] = tasks_emulator.list_tasks(paused_queues["default"])
    completed = run_job(*worker_args("default"), variables={**deployed, **execution("worker-a1b2c")})

    assert task.http_request.url == f"{RUN_API}/{job_path('default')}:run"
    assert json.loads(task.http_request.body) == {}  # no overrides: runs with roles/run.invoker
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"task {result.id} (tests.django.taskapp.tasks.insert_effect) succeeded\n"
    record = TaskRecord.objects.get(pk=result.id)
    assert (record.status, [a["worker_id"] for a in record.attempts]) == (TaskResultStatus.SUCCESSFUL, ["worker-a1b2c/0/0"])
    assert effects() == ["from the emulator"]


@pytest.mark.both_databases
def test_two_executions_started_for_one_task_run_it_once(job_execution_args, database):
    args = job_execution_args(tasks.insert_effect, "once")
    variables = {env.DATABASE_URL: database.url}

    started = [start_manage_py("run_task", *args, variables={**execution(name), **variables}) for name in ("w-1", "w-2")]
    outputs = sorted(process.communicate(timeout=60)[0] for process in started)

    assert [process.returncode for process in started] == [0, 0]
    [record] = TaskRecord.objects.all()
    assert outputs == [NOTHING_DUE, f"task {record.pk} (tests.django.taskapp.tasks.insert_effect) succeeded\n"]
    assert (record.status, len(record.attempts), effects()) == (TaskResultStatus.SUCCESSFUL, 1, ["once"])


@pytest.mark.both_databases
def test_an_execution_that_finds_nothing_due_exits_0_saying_so(job_execution_args, run_job):
    args = job_execution_args(tasks.insert_effect, "ran before")
    run_job(*args, variables=execution("w-1"))

    duplicate = run_job(*args, variables=execution("w-2"))  # a second jobs:run for the same task

    assert (duplicate.returncode, duplicate.stdout, duplicate.stderr) == (0, NOTHING_DUE, "")
    assert effects() == ["ran before"]


def test_executions_choosing_at_once_take_different_tasks_without_waiting(job_execution_args):
    # PostgreSQL: the row another execution is claiming is skipped (SKIP LOCKED), not waited for.
    job_execution_args(tasks.insert_effect, "first")
    tasks.insert_effect.using(backend="jobs").enqueue("second")
    first, second = TaskRecord.objects.order_by("enqueued_at")
    holding, release = threading.Event(), threading.Event()
    chosen: dict[str, str | None] = {}

    def choose(name: str, hold: bool) -> None:
        with transaction.atomic():
            record = job_tasks.next_for_execution("jobs", "default", [])
            chosen[name] = record and record.pk
            if hold:
                holding.set()
                release.wait(LOCK_WAIT_SECONDS * 2)
        connections.close_all()

    one = threading.Thread(target=choose, args=("one", True))
    one.start()
    holding.wait(LOCK_WAIT_SECONDS)
    two = threading.Thread(target=choose, args=("two", False))
    two.start()
    two.join(LOCK_WAIT_SECONDS)
    waited = two.is_alive()
    release.set()
    one.join(LOCK_WAIT_SECONDS)
    two.join(LOCK_WAIT_SECONDS)

    assert not waited
    assert chosen == {"one": first.pk, "two": second.pk}


@pytest.mark.both_databases
def test_the_oldest_due_task_runs_first_and_one_not_yet_due_waits(job_execution_args, run_job):
    args = job_execution_args(tasks.insert_effect, "oldest")
    later = tasks.insert_effect.using(backend="jobs", run_after=timezone.now() + timedelta(hours=1)).enqueue("later")
    tasks.insert_effect.using(backend="jobs").enqueue("newer")

    ran = [run_job(*args, variables=execution(f"w-{n}")) for n in range(3)]

    assert [r.returncode for r in ran] == [0, 0, 0]
    assert ran[2].stdout == NOTHING_DUE
    assert effects() == ["oldest", "newer"]
    assert TaskRecord.objects.get(pk=later.id).status == TaskResultStatus.READY


def test_a_retry_whose_task_failed_for_good_reports_it_and_takes_no_other(job_execution_args, run_job):
    args = job_execution_args(tasks.fail_for_good, "no point retrying")
    waiting = tasks.insert_effect.using(backend="jobs").enqueue("for its own execution")

    failed = run_job(*args, variables=execution("w-1", attempt=0))
    retried = run_job(*args, variables=execution("w-1", attempt=1))  # Cloud Run retries a non-zero exit

    assert failed.returncode != 0 and "failed for good" in failed.stderr
    assert retried.returncode != 0 and "had already failed for good; not run again" in retried.stderr
    assert TaskRecord.objects.get(pk=waiting.id).attempts == []


def test_a_redriven_job_task_is_taken_by_the_next_execution(job_execution_args, run_job):
    args = job_execution_args(tasks.insert_failing_first, "redriven", True)
    # The last attempt of its execution's task (the earlier ones died before taking it).
    failed = run_job(*args, variables=execution("w-1", attempt=3))
    record = TaskRecord.objects.get()
    assert record.status == TaskResultStatus.FAILED, failed.stderr

    redrive([record.pk])
    again = run_job(*args, variables=execution("w-2"))

    record.refresh_from_db()
    assert again.returncode == 0, again.stderr
    assert (record.status, record.generation) == (TaskResultStatus.SUCCESSFUL, 1)
    assert [a["worker_id"] for a in record.attempts] == ["w-1/0/3", "w-2/0/0"]
    assert effects() == ["redriven"]


@pytest.mark.parametrize("arguments, error", [
    (["--queue", "nowhere"],
     r"--queue nowhere: no backend in TASKS starts jobs for queue 'nowhere'; backends start jobs: 'jobs' for 'default'"),
    (["--queue", "default", "--backend", "default"],
     r"--queue default: backend 'default' does not start jobs for queue 'default'; backends start jobs: 'jobs' for"),
    (["--task", "tests.django.taskapp.tasks.record", "--backend", "jobs"], r"--backend goes with --queue"),
    (["--queue", "default", "--args", '["x"]'], r"--args and --kwargs go with --task"),
])
def test_a_queue_no_backend_starts_jobs_for_is_refused_naming_the_choices(settings, arguments, error):
    settings.TASKS = tasks_setting(QUEUE, emulator_host="127.0.0.1:1")  # never called

    with pytest.raises(CommandError, match=error):
        call_command("run_task", *arguments)
