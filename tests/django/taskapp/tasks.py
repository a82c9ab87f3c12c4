import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.tasks import TaskContext, TaskResult, task
from django.utils import timezone

from cloudtasks import limits, non_atomic
from cloudtasks.exceptions import PermanentFailure
from tests.django.taskapp.models import Effect

# Declared in another app: here under a second name the runner must not accept.
from cloudtasks.tasks import flush_outbox as alias_of_flush_outbox  # noqa: F401

# What the tasks did, for tests that run them in this process (handler, live server).
calls: list[tuple[str, object]] = []
ran_at: dict[str, datetime] = {}
results: dict[str, TaskResult] = {}  # the run side's TaskResult, by label


def forget() -> None:
    calls.clear()
    ran_at.clear()
    results.clear()


def describe(result: TaskResult) -> dict[str, Any]:
    """What a TaskResult says about the task that was enqueued, as JSON (times in UTC)."""
    task = result.task
    return {
        "id": result.id,
        "backend": result.backend,
        "args": result.args,
        "kwargs": result.kwargs,
        "enqueued_at": _utc(result.enqueued_at),
        "task": {
            "module_path": task.module_path,
            "backend": task.backend,
            "queue_name": task.queue_name,
            "priority": task.priority,
            "run_after": _utc(task.run_after),
            "takes_context": task.takes_context,
        },
    }


def _utc(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


@task
def record(label: str) -> str:
    calls.append(("record", label))
    ran_at[label] = timezone.now()
    return label


@task
def record_then_enqueue_record(label: str) -> None:
    calls.append(("record_then_enqueue_record", label))
    record.enqueue(f"{label}, enqueued by a task")


@task
def explode() -> None:
    calls.append(("explode", None))
    raise RuntimeError("task exploded")


@task(takes_context=True)
def succeed_on_third_attempt(context: TaskContext, key: str) -> None:
    calls.append((key, context.attempt))
    if context.attempt < 3:
        raise RuntimeError(f"attempt {context.attempt} fails")


@task
def write_file(path: str, text: str) -> None:
    """For runs in another process: the effect outlives it."""
    Path(path).write_text(text)


@task
def enqueue_children(count: int) -> float:
    """A task that fans out: enqueues `count` tasks, in the transaction it runs in. Returns
    the seconds that took (the INSERTs and all), for tests that tell its own time from
    what sending after commit adds."""
    started = time.monotonic()
    for index in range(count):
        record.enqueue(f"child {index}")
    return time.monotonic() - started


@task(takes_context=True)
def keep_result(context: TaskContext, label: str) -> None:
    results[label] = context.task_result


@task(takes_context=True)
def write_result(context: TaskContext, path: str) -> None:
    """For runs in another process: the run side's TaskResult, described in a file."""
    Path(path).write_text(json.dumps(describe(context.task_result)))


@task
def return_what_json_cannot_carry() -> object:
    calls.append(("return_what_json_cannot_carry", None))
    return {1, 2}


@task
def exit_the_process() -> None:
    raise SystemExit("task asked to exit")


@task
def interrupt() -> None:
    raise KeyboardInterrupt


# Coroutines: the runner runs them as Django's own backends do (Task.call).


@task
async def arecord(label: str) -> str:
    calls.append(("arecord", label))
    return label


@task(takes_context=True)
async def akeep_result(context: TaskContext, label: str) -> None:
    results[label] = context.task_result


@task
async def awrite_file(path: str, text: str) -> None:
    Path(path).write_text(text)


@task(takes_context=True)
async def awrite_result(context: TaskContext, path: str) -> None:
    Path(path).write_text(json.dumps(describe(context.task_result)))


def not_a_task() -> None:
    """A plain function in a tasks module: not declared with @task, so never run."""
    calls.append(("not_a_task", None))


# Effects in the database, counted by the tests (see models.Effect).


@task
def insert_effect(label: str) -> str:
    Effect.objects.create(label=label)
    return label


def _insert_then_fail(label: str) -> None:
    Effect.objects.create(label=label)
    raise RuntimeError(f"{label}: failed after writing")


@task
def insert_then_fail(label: str) -> None:
    _insert_then_fail(label)


@task(takes_context=True)
def insert_failing_first(context: TaskContext, label: str, fail_first: bool) -> str:
    Effect.objects.create(label=label)
    calls.append((label, context.attempt))
    if fail_first and context.attempt == 1:
        raise RuntimeError(f"{label}: the first attempt fails")
    return label


@task
def insert_then_sleep(label: str, seconds: float) -> None:
    """For a worker to be killed or stopped while it runs."""
    Effect.objects.create(label=label)
    time.sleep(seconds)


@task
def log_line(text: str) -> None:
    """A line of the task's own, as a task's code logs one (tests/django/test_cloud_logging.py)."""
    logging.getLogger(__name__).warning(text)


@task
def fail_for_good(reason: str) -> None:
    calls.append(("fail_for_good", reason))
    raise PermanentFailure(reason)


@task
def insert_and_return_what_json_cannot_carry(label: str) -> object:
    Effect.objects.create(label=label)
    return {label}


@task
@non_atomic
def insert_then_fail_outside_a_transaction(label: str) -> None:
    _insert_then_fail(label)


@task(takes_context=True)
def insert_then_sleep_on_first_attempt(context: TaskContext, label: str, seconds: float) -> None:
    """For a worker to be killed or stopped during its first attempt; later ones are quick."""
    Effect.objects.create(label=label)
    if context.attempt == 1:
        time.sleep(seconds)


@task(takes_context=True)
def note_run_then_sleep(context: TaskContext, path: str, seconds: float) -> None:
    """For runs in other processes: appends to `path` when each run starts and ends, with
    its worker, so that two runs at once show."""
    worker = context.task_result.worker_ids[-1]
    with open(path, "a") as notes:
        notes.write(f"start {worker}\n")
    time.sleep(seconds)
    with open(path, "a") as notes:
        notes.write(f"end {worker}\n")


# Values as they come back.


@task
def echo(*args: object, **kwargs: object) -> list[object]:
    """Returns its arguments: to see them come back, from the record, as JSON carries them."""
    return [list(args), kwargs]


@task
def return_nested(depth: int) -> list[object]:
    """Returns lists nested `depth` deep."""
    calls.append(("return_nested", depth))
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


# The soak's task (benchmarks/soak.py): a steady mix of these, counted at the end.

SOAK_FAILURES = ("never", "first", "always", "permanent")


@task(takes_context=True)
def soak_write(
    context: TaskContext, label: str, fail: str = "never", child: bool = False, first_attempt_seconds: float = 0
) -> str:
    """One write with a unique key (`label`) in the task's transaction, so that a write
    kept twice or a successful task's missing write can be counted; with `child`, one more
    such task enqueued in that transaction (`label`-child, on the same backend and queue);
    on the first attempt, `first_attempt_seconds` of work after the write (for a worker to
    be killed in). Then it fails as `fail` says: "first" on its first attempt, "always" on
    every attempt (until its queue's or job's retries run out), "permanent" at once
    (PermanentFailure), or "never"."""
    if fail not in SOAK_FAILURES:
        raise PermanentFailure(f"fail is {fail!r}; it must be one of {', '.join(SOAK_FAILURES)}")
    Effect.objects.create(label=label)
    if child:
        context.task_result.task.enqueue(f"{label}-child")
    if context.attempt == 1:
        time.sleep(first_attempt_seconds)
    if fail == "permanent":
        raise PermanentFailure(f"{label}: designed to fail for good")
    if fail == "always" or (fail == "first" and context.attempt == 1):
        raise RuntimeError(f"{label}: designed to fail attempt {context.attempt}")
    return label


# Per-task limits (cloudtasks.limits): fewer attempts than any test queue allows, and a
# time limit far below their deadlines.


@task
@limits(max_attempts=2)
def insert_then_fail_twice_at_most(label: str) -> None:
    _insert_then_fail(label)


@task
@limits(max_attempts=2, time_limit=1)
def insert_then_overrun(label: str, seconds: float) -> None:
    """Runs `seconds`, longer than its time limit of 1 s."""
    Effect.objects.create(label=label)
    time.sleep(seconds)
