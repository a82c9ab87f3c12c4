"""The one task runner: used by the push handler and by the `run_task` command alike.

It runs only what was declared with `@task` in the `tasks` module of an installed
app. A payload arrives from outside the process, so its task path is never imported
blindly: a path outside those modules, or one naming anything but a Task, is refused.
The task is rebuilt as it was enqueued (backend, queue, priority, run_after), so that
`TaskContext.task_result` describes the task the enqueuing side sent.
"""

from __future__ import annotations

import importlib
import inspect
import os
import socket
from dataclasses import dataclass
from traceback import format_exception
from typing import Any

from django.apps import apps
from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django.utils.json import normalize_json

from cloudtasks import records
from cloudtasks.models import TaskRecord
from cloudtasks.payload import PayloadError, TaskPayload
from cloudtasks.task_request import payload

TASKS_MODULE = "tasks"  # where an app declares its tasks, as Django apps do for models


class UnrunnableTask(PayloadError):
    """A well-formed payload that names no declared task, or arguments it cannot take."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveredTaskResult(TaskResult):
    """A TaskResult whose attempt number is the one the queue reported.

    django.tasks counts attempts as the number of workers recorded in `worker_ids`.
    Cloud Tasks and Cloud Run do not say which workers ran the earlier attempts, only
    how many there were, so this result carries that number instead.
    """

    attempt: int

    @property
    def attempts(self) -> int:
        return self.attempt


def resolve_task(task_path: str) -> Task:
    """The Task declared under `task_path` ("app.tasks.name"), or UnrunnableTask."""
    module_name, _, attribute = task_path.rpartition(".")
    if module_name not in task_modules():
        raise UnrunnableTask(f"{task_path!r} is not in the tasks module of an installed app")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise  # the tasks module exists but is broken: a bug to fix, not a bad payload
        raise UnrunnableTask(f"{task_path!r}: app has no {TASKS_MODULE} module") from error
    task = getattr(module, attribute, None)
    # A Task imported into this module from elsewhere has another path: refuse the alias
    # so that every task has exactly one name on the wire.
    if not isinstance(task, Task) or task.module_path != task_path:
        raise UnrunnableTask(f"{task_path!r} is not a task declared with @task")
    return task


def run(payload: TaskPayload, *, attempt: int, recorded: bool = True) -> TaskResult:
    """Run the task a payload names, as attempt number `attempt` (counted from 1).

    The task's record, if it has one, says what to run and with which arguments, and
    is marked with how the attempt went; `recorded=False` for a task that was never
    enqueued (a schedule's). A task that raises is reported in the returned result
    (status FAILED), as the built-in backends do; a payload that can never run raises
    PayloadError.
    """
    record = TaskRecord.objects.filter(pk=payload.task_id).first() if recorded else None
    if record is not None:
        payload = recorded_payload(record)
    task = _as_enqueued(resolve_task(payload.task_path), payload)
    args, kwargs = _arguments(payload)
    _check_arguments(task, args, kwargs)
    backend = task.get_backend()
    started_at = timezone.now()
    result = DeliveredTaskResult(
        task=task,
        id=payload.task_id,
        status=TaskResultStatus.RUNNING,
        enqueued_at=payload.enqueued_at,
        started_at=started_at,
        last_attempted_at=started_at,
        finished_at=None,
        args=args,
        kwargs=kwargs,
        backend=backend.alias,
        errors=[],
        worker_ids=[_worker_id()],
        attempt=attempt,
    )
    if record is not None:
        records.started(record, started_at)
    # Signals are sent exactly as django.tasks' ImmediateBackend sends them.
    task_started.send(sender=type(backend), task_result=result)
    try:
        context = (TaskContext(task_result=result),) if task.takes_context else ()
        return_value = normalize_json(task.call(*context, *result.args, **result.kwargs))
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        result.errors.append(
            TaskError(
                exception_class_path=f"{type(error).__module__}.{type(error).__qualname__}",
                traceback="".join(format_exception(error)),
            )
        )
        _finish(result, TaskResultStatus.FAILED)
        if record is not None:
            records.attempt_failed(record)
        # Still inside the except block: Django's receiver logs the traceback from here.
        task_finished.send(sender=type(backend), task_result=result)
    else:
        object.__setattr__(result, "_return_value", return_value)
        _finish(result, TaskResultStatus.SUCCESSFUL)
        if record is not None:
            records.succeeded(record, result.finished_at)
        task_finished.send(sender=type(backend), task_result=result)
    return result


def recorded_payload(record: TaskRecord) -> TaskPayload:
    """The task as its record describes it."""
    return payload(record, with_arguments=True)


def task_modules() -> set[str]:
    """The modules tasks are declared in: each installed app's `tasks`."""
    return {f"{config.name}.{TASKS_MODULE}" for config in apps.get_app_configs()}


def _as_enqueued(declared: Task, payload: TaskPayload) -> Task:
    """The declared task with the options it was enqueued with (`using()`); what the
    payload does not say (version 1) stays as declared."""
    try:
        return declared.using(
            backend=payload.backend,
            queue_name=payload.queue_name,
            priority=payload.priority,
            run_after=payload.run_after,
        )
    except (InvalidTask, InvalidTaskBackend) as error:
        # The enqueuing process had a backend or queue that this one's TASKS lacks.
        raise UnrunnableTask(
            f"{payload.task_path} was enqueued on backend {payload.backend!r}, queue "
            f"{payload.queue_name!r}, which TASKS here cannot run: {error}"
        ) from error


def _arguments(payload: TaskPayload) -> tuple[list[Any], dict[str, Any]]:
    if payload.args is None or payload.kwargs is None:
        # A payload may leave the arguments with the task's record; running without
        # them would be wrong.
        raise UnrunnableTask(f"payload {payload.task_id} carries no arguments, and the task has no record")
    return payload.args, payload.kwargs


def _check_arguments(task: Task, args: list[Any], kwargs: dict[str, Any]) -> None:
    # Arguments that do not fit the signature fail the same way on every retry.
    context = (None,) if task.takes_context else ()
    try:
        inspect.signature(task.func).bind(*context, *args, **kwargs)
    except TypeError as error:
        raise UnrunnableTask(f"arguments do not fit {task.module_path}: {error}") from error


def _finish(result: TaskResult, status: TaskResultStatus) -> None:
    # TaskResult is frozen; django.tasks' own backends update it the same way.
    object.__setattr__(result, "finished_at", timezone.now())
    object.__setattr__(result, "status", status)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
