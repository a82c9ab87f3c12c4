"""CloudTasksBackend: django.tasks' enqueue API, on Google Cloud Tasks.

    @task
    def send_welcome_email(user_id): ...

    send_welcome_email.enqueue(user.pk)                       # one CreateTask call
    send_welcome_email.using(run_after=tomorrow).enqueue(user.pk)

Everything that can be wrong with a task is found before the call, so a refused task
sends nothing. What runs it (the push handler, or `manage.py run_task` in a Cloud Run
job) is configured by OPTIONS; see cloudtasks.options.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.core.checks import CheckMessage
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend
from django.tasks.signals import task_enqueued
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.json import normalize_json
from google.cloud import tasks_v2

from cloudtasks import checks, limits, sending
from cloudtasks.client import cloud_tasks_client
from cloudtasks.options import BackendOptions, InvalidOptions, read_options
from cloudtasks.task_request import build_request


class CloudTasksBackend(BaseTaskBackend):
    supports_defer = True
    # get_result needs the runner to record results (the effectively-once work in
    # DESIGN.md); until then nothing in this process knows how a task went.
    supports_get_result = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        # Backends are built when a module declaring a @task is imported, so bad options
        # must not raise here: `check` reports them, `enqueue` refuses to send.
        self._options: BackendOptions | None = None
        self._invalid: InvalidOptions | None = None
        try:
            self._options = read_options(self.options)
        except InvalidOptions as error:
            self._invalid = error

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        return checks.option_errors(self.alias, self._invalid)

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        if task.run_after is not None:
            # Checked by Django only when USE_TZ is on; Cloud Tasks needs it either way.
            if timezone.is_naive(task.run_after):
                raise InvalidTask("run_after must be an aware datetime.")
            limits.check_schedule(task.run_after, datetime.now(UTC), task.module_path)

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        options = self._valid_options()
        json_args, json_kwargs = _json_arguments(task, args, kwargs)
        result = TaskResult(
            task=task,
            id=get_random_string(32),
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=json_args,
            kwargs=json_kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        request = build_request(options, result)
        limits.check_task_size(tasks_v2.Task.pb(request.task).ByteSize(), task.module_path)
        sending.create_task(
            cloud_tasks_client(options.emulator_host),
            request,
            task_path=task.module_path,
            attempts=options.enqueue_attempts,
            attempt_timeout=options.attempt_timeout,
        )
        task_enqueued.send(type(self), task_result=result)
        return result

    def _valid_options(self) -> BackendOptions:
        if self._options is None:
            raise InvalidTaskBackend(
                f"Task backend {self.alias!r} is not configured: {self._invalid}. "
                f"`manage.py check` lists what to set."
            )
        return self._options


def _json_arguments(task: Task, args: Any, kwargs: Any) -> tuple[list[Any], dict[str, Any]]:
    """The arguments as the task will receive them, or InvalidTask if JSON would change them."""
    try:
        # Django's own rule for task arguments (tuples become lists, bytes text)...
        normalised = normalize_json([args, kwargs])
        # ...plus what JSON cannot carry: NaN and infinities, and non-string keys,
        # which would arrive as strings.
        arrived = json.loads(json.dumps(normalised, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise InvalidTask(
            f"Arguments of {task.module_path} must be JSON values: {error}"
        ) from error
    if arrived != normalised:
        raise InvalidTask(
            f"Arguments of {task.module_path} must be JSON values: dictionary keys must be "
            f"strings (JSON would turn them into strings)"
        )
    return arrived[0], arrived[1]
