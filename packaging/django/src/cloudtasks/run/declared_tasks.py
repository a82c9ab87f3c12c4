"""The task a payload or a record names, as it was declared and then enqueued.

A task path arrives from outside the process (a payload) or from the database (a
record), so it is never imported blindly: only a task declared with `@task` in the
`tasks` module of an installed app is found (cloudtasks.config.task_modules), and it is
rebuilt with the options it was enqueued with (backend, queue, priority, run_after).
The runner runs what it finds; a task's result (cloudtasks.run.results) names it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from django.tasks import Task
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend

from cloudtasks.config.task_modules import TASKS_MODULE, outside_tasks_modules
from cloudtasks.wire import moments
from cloudtasks.wire.payload import PayloadError, TaskPayload

if TYPE_CHECKING:
    from cloudtasks.models import TaskRecord


class UnrunnableTask(PayloadError):
    """A well-formed payload that names no declared task, or arguments it cannot take."""


def resolve_task(task_path: str) -> Task:
    """The Task declared under `task_path` ("app.tasks.name"), or UnrunnableTask."""
    module_name, _, attribute = task_path.rpartition(".")
    if (outside := outside_tasks_modules(task_path)) is not None:
        raise UnrunnableTask(outside)
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


def as_enqueued(declared: Task, enqueued: TaskPayload | TaskRecord) -> Task:
    """The declared task with the options it was enqueued with (`using()`); what a
    version 1 payload does not say stays as declared."""
    try:
        return declared.using(
            backend=enqueued.backend,
            queue_name=enqueued.queue_name,
            priority=enqueued.priority,
            # An instant, as the enqueuing side gave it (a record's, under USE_TZ = False, is naive).
            run_after=moments.in_utc(enqueued.run_after) if enqueued.run_after else None,
        )
    except (InvalidTask, InvalidTaskBackend) as error:
        # The enqueuing process had a backend or queue that this one's TASKS lacks.
        raise UnrunnableTask(
            f"{declared.module_path} was enqueued on backend {enqueued.backend!r}, queue "
            f"{enqueued.queue_name!r}, which TASKS here cannot run: {error}"
        ) from error
