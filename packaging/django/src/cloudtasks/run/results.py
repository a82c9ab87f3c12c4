"""A task's record as django.tasks' TaskResult: what `get_result` returns, and what the
run side's signals carry."""

from __future__ import annotations

import sys

from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.base import TaskError

from cloudtasks.exceptions import TaskCancelled
from cloudtasks.models import TaskRecord
from cloudtasks.run.declared_tasks import UnrunnableTask, as_enqueued, resolve_task
from cloudtasks.run.records import error_entry
from cloudtasks.wire.payload import PayloadError


def result_of(record: TaskRecord, task: Task | None = None) -> TaskResult:
    """The TaskResult `record` describes; `task`, if given, is its task as rebuilt."""
    progress = _progress(record)
    result = TaskResult(
        task=task or task_of(record),
        id=record.pk,
        enqueued_at=record.enqueued_at,
        started_at=record.started_at,
        last_attempted_at=record.last_attempted_at,
        args=record.args,
        kwargs=record.kwargs,
        backend=record.backend,
        **progress,
    )
    object.__setattr__(result, "_return_value", record.return_value)
    return result


def refresh(result: TaskResult, record: TaskRecord) -> None:
    """Bring `result`, a TaskResult of `record`'s task (the one the task's TaskContext
    holds), up to the record as an attempt leaves it."""
    # TaskResult is frozen; django.tasks' own backends update theirs the same way.
    for attribute, value in _progress(record).items():
        object.__setattr__(result, attribute, value)
    object.__setattr__(result, "_return_value", record.return_value)


def _progress(record: TaskRecord) -> dict[str, object]:
    """What an attempt (or a cancel) changes of a TaskResult."""
    errors = [TaskError(**attempt["error"]) for attempt in record.attempts if attempt.get("error")]
    if record.cancelled_at is not None:
        errors.append(_cancellation(record))
    return {
        "status": TaskResultStatus(record.status),
        "finished_at": record.finished_at,
        "errors": errors,
        "worker_ids": [attempt["worker_id"] for attempt in record.attempts],
    }


def _cancellation(record: TaskRecord) -> TaskError:
    """A cancelled task's last error: django.tasks has no CANCELLED status, so a cancelled
    task reads FAILED, and this says why (cloudtasks.operations.cancel)."""
    cancelled = TaskCancelled(
        f"cancelled at {record.cancelled_at.isoformat()}, before attempt {len(record.attempts) + 1} started"
    )
    return TaskError(**error_entry(cancelled))


def task_of(record: TaskRecord) -> Task:
    """The task as it was enqueued; a stand-in if this process cannot rebuild it (an
    unknown task, or a backend or queue its TASKS lacks), so that the record can still
    be reported: calling the stand-in raises the reason.

    A task declared outside an app's tasks module is found only if its module is already
    imported (as it is where the code asking for the result enqueued it): a path read
    from the database is never imported blindly."""
    try:
        declared = resolve_task(record.task_path)
    except UnrunnableTask as error:
        declared = _imported(record.task_path)
        if declared is None:
            return _stand_in(record, error)
    try:
        return as_enqueued(declared, record)
    except PayloadError as error:
        return _stand_in(record, error)


def _imported(task_path: str) -> Task | None:
    module_name, _, attribute = task_path.rpartition(".")
    task = getattr(sys.modules.get(module_name), attribute, None)
    return task if isinstance(task, Task) and task.module_path == task_path else None


def _stand_in(record: TaskRecord, reason: PayloadError) -> Task:
    module, _, name = record.task_path.rpartition(".")

    def cannot_run(*args: object, **kwargs: object) -> None:
        raise reason

    cannot_run.__module__, cannot_run.__qualname__, cannot_run.__name__ = module, name, name
    # Built without Task's validation, which needs the backend and queue to exist here.
    task = object.__new__(Task)
    for field, value in {
        "func": cannot_run, "priority": record.priority, "backend": record.backend,
        "queue_name": record.queue_name, "run_after": record.run_after, "takes_context": False,
    }.items():
        object.__setattr__(task, field, value)
    return task
