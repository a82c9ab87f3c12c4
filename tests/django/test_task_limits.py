"""A task's own limits (cloudtasks.limits): fewer attempts than its queue allows, and a
time limit after which its attempt is interrupted, rolled back and recorded as failed.

Checked where they are declared; enforced on both targets with real time: HTTP tasks
pushed by the emulator to gunicorn as the web service runs it (test_worker_faults' `web`),
job tasks by `manage.py run_task` in a process of its own, attempt by attempt as Cloud
Run retries an execution's task.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.tasks import TaskResultStatus, task
from django.tasks.exceptions import InvalidTask

from cloudtasks import limits
from cloudtasks.config import env
from cloudtasks.config.task_limits import JOB_MARGIN, PUSH_MARGIN
from cloudtasks.models import TaskRecord
from tests.django.backend_settings import tasks_setting, with_options
from tests.django.job_execution import DEPLOYED
from tests.django.live import wait_for
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect
from tests.django.test_worker_faults import patient_emulator, web  # noqa: F401 (fixtures)

TIME_LIMIT_EXCEEDED = "cloudtasks.exceptions.TimeLimitExceeded"
QUEUES = {name: f"projects/example-project/locations/europe-west1/queues/{name}" for name in ("default", "long")}


def errors(record: TaskRecord) -> list[str | None]:
    return [attempt["error"]["exception_class_path"] if attempt["error"] else None for attempt in record.attempts]


def durations(record: TaskRecord) -> list[float]:
    return [(datetime.fromisoformat(a["finished_at"]) - datetime.fromisoformat(a["started_at"])).total_seconds()
            for a in record.attempts]


def finished(task_id: str) -> bool:
    return TaskRecord.objects.get(pk=task_id).status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


# --- Declared, and checked against the queue ---------------------------------------------


@pytest.fixture
def queues(settings):
    """"default" retries 3 times, dispatch deadline 120 s; "long" as Cloud Tasks' defaults; jobs: a 600 s timeout."""
    setting = tasks_setting(QUEUES, emulator_host="127.0.0.1:1")
    setting = with_options(setting, "default", QUEUES={
        "default": {**setting["default"]["OPTIONS"]["QUEUES"]["default"], "RETRY": {"max_attempts": 3},
                    "DISPATCH_DEADLINE": 120},
        "long": setting["default"]["OPTIONS"]["QUEUES"]["long"],
    })
    settings.TASKS = with_options(setting, "jobs", JOB_TIMEOUT=600)


@pytest.mark.parametrize(("given", "message"), [
    ({"max_attempts": 0}, "max_attempts is 0; it must be a whole number, 1 or more"),
    ({"max_attempts": True}, "max_attempts is True; it must be a whole number, 1 or more"),
    ({"max_attempts": 2.5}, "max_attempts is 2.5; it must be a whole number, 1 or more"),
    ({"time_limit": 0}, "time_limit is 0; it must be a number of seconds over 0, or a timedelta"),
    ({"time_limit": "60"}, "time_limit is '60'; it must be a number of seconds over 0, or a timedelta"),
    ({"time_limit": timedelta(seconds=-1)}, "time_limit is -1.0; it must be a number of seconds over 0"),
    ({}, "give max_attempts, time_limit or both"),
])
def test_a_limit_that_is_no_limit_is_refused_where_it_is_written(given, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        limits(**given)


# Declared in the tests below: django.tasks takes module-level functions only.
def misplaced() -> None: ...
def greedy() -> None: ...
def patient() -> None: ...
def fits() -> None: ...
def too_long() -> None: ...
def too_long_for_the_job() -> None: ...


def test_limits_above_task_is_refused_with_where_it_goes(queues):
    with pytest.raises(TypeError, match="cloudtasks.limits goes below @task, not above it"):
        limits(max_attempts=2)(task(misplaced))


def test_more_attempts_than_the_queue_allows_are_refused_naming_both(queues):
    with pytest.raises(InvalidTask, match=r"declares max_attempts=4, more than queue 'default' of backend 'default' "
                                          r"allows: 3 \(its RETRY max_attempts\)"):
        task(limits(max_attempts=4)(greedy))


def test_a_limit_that_fits_one_queue_is_checked_again_when_using_moves_it(queues):
    declared = task(queue_name="long")(limits(max_attempts=50)(patient))

    with pytest.raises(InvalidTask, match="more than queue 'default' of backend 'default' allows: 3"):
        declared.using(queue_name="default")
    with pytest.raises(InvalidTask, match=r"allows: 4 \(its job's JOB_MAX_RETRIES 3, plus 1\)"):
        declared.using(backend="jobs", queue_name="long")


def test_a_time_limit_must_end_before_the_dispatch_deadline_or_the_job_timeout(queues):
    longest_push, longest_job = 120 - PUSH_MARGIN, 600 - JOB_MARGIN

    task(limits(time_limit=longest_push)(fits))
    with pytest.raises(InvalidTask, match=rf"time_limit={longest_push + 1:g} s, longer than queue 'default' of backend "
                                          rf"'default' allows: {longest_push:g} s \(its DISPATCH_DEADLINE 120 s, less"):
        task(limits(time_limit=longest_push + 1)(too_long))
    with pytest.raises(InvalidTask, match=rf"allows: {longest_job:g} s \(its JOB_TIMEOUT 600 s, less 30 s"):
        task(backend="jobs")(limits(time_limit=longest_job + 1)(too_long_for_the_job))


# --- HTTP tasks, pushed to gunicorn -----------------------------------------------------


def test_an_http_task_fails_for_good_after_its_own_max_attempts(web):
    result = tasks.insert_then_fail_twice_at_most.enqueue("twice")

    wait_for(lambda: finished(result.id), "the task to fail for good")

    record = TaskRecord.objects.get(pk=result.id)
    # The queue allows 100 attempts, and the emulator retries for a minute.
    assert (record.status, errors(record)) == (TaskResultStatus.FAILED, ["builtins.RuntimeError"] * 2)
    assert Effect.objects.filter(label="twice").count() == 0


def test_an_http_task_past_its_time_limit_is_interrupted_rolled_back_and_retried_until_its_attempts_run_out(web):
    result = tasks.insert_then_overrun.enqueue("overrun", 30)

    wait_for(lambda: finished(result.id), "both attempts to be interrupted")

    record = TaskRecord.objects.get(pk=result.id)
    assert (record.status, errors(record)) == (TaskResultStatus.FAILED, [TIME_LIMIT_EXCEEDED] * 2)
    assert "the attempt ran longer than the task's time limit, 1 s" in record.attempts[0]["error"]["traceback"]
    assert all(1 <= seconds < 3 for seconds in durations(record)), durations(record)
    assert Effect.objects.filter(label="overrun").count() == 0


# --- Job tasks, run by run_task ---------------------------------------------------------


def attempt(number: int) -> dict[str, str]:
    """The variables Cloud Run sets on attempt `number` (from 1) of an execution's task."""
    return {**DEPLOYED, env.EXECUTION: "worker-abc12", env.TASK_INDEX: "0", env.TASK_ATTEMPT: str(number - 1)}


def test_a_job_task_fails_for_good_after_its_own_max_attempts(job_execution_args, run_job):
    args = job_execution_args(tasks.insert_then_fail_twice_at_most, "job twice")

    first, second = run_job(*args, variables=attempt(1)), run_job(*args, variables=attempt(2))

    assert "failed; the job retries it" in first.stderr
    # The job would retry it 3 times.
    assert "failed for good" in second.stderr
    record = TaskRecord.objects.get()
    assert (record.status, errors(record)) == (TaskResultStatus.FAILED, ["builtins.RuntimeError"] * 2)


def test_a_job_task_past_its_time_limit_is_interrupted_rolled_back_and_fails_its_attempt(job_execution_args, run_job):
    args = job_execution_args(tasks.insert_then_overrun, "job overrun", 30)

    first = run_job(*args, variables=attempt(1))
    after_first = TaskRecord.objects.get()
    second = run_job(*args, variables=attempt(2))

    assert first.returncode != 0 and "failed; the job retries it" in first.stderr
    assert (after_first.status, errors(after_first)) == (TaskResultStatus.READY, [TIME_LIMIT_EXCEEDED])
    assert "failed for good" in second.stderr
    record = TaskRecord.objects.get()
    assert (record.status, errors(record)) == (TaskResultStatus.FAILED, [TIME_LIMIT_EXCEEDED] * 2)
    assert all(1 <= seconds < 3 for seconds in durations(record)), durations(record)
    assert Effect.objects.count() == 0
