"""CloudTasksBackend: django.tasks' enqueue API, on Google Cloud Tasks.

    @task
    def send_welcome_email(user_id): ...

    send_welcome_email.enqueue(user.pk)                       # a row now, CreateTask after commit
    send_welcome_email.using(run_after=tomorrow).enqueue(user.pk)
    build_report.using(queue_name="long").enqueue(7)          # the "long" queue's Cloud Tasks queue

Each queue name the backend accepts is routed to a Cloud Tasks queue of its own (with
its own retry policy and rate limits) and a target: the push handler over HTTP, or an
execution of a Cloud Run job. Everything that can be wrong with a task is found before
the call, so a refused task sends nothing. What runs it (the push handler, or
`manage.py run_task` in a Cloud Run job) rebuilds the task exactly as it was enqueued.
Options are described in cloudtasks.config.options.

Priority is refused, not approximated: Cloud Tasks dispatches a queue's tasks by their
schedule time and has no priority, and queues are dispatched independently of each
other, so no mapping of priorities onto queues would make a task of priority 10 run
before one of priority 0. A task that must not wait behind others gets a queue of its
own (`queue_name`), whose rate limits no other work uses up.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.core.checks import CheckMessage
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.base import DEFAULT_TASK_PRIORITY
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils import timezone
from google.cloud import tasks_v2

from cloudtasks import checks
from cloudtasks.config import task_limits
from cloudtasks.config.options import BackendOptions, HttpTarget, InvalidOptions, QueueRoute, queue_names, read_options
from cloudtasks.config.task_modules import outside_tasks_modules
from cloudtasks.enqueue import limits
from cloudtasks.enqueue.client import cloud_tasks_client
from cloudtasks.enqueue.task_request import build_request, payload
from cloudtasks.exceptions import InvalidTaskArguments
from cloudtasks.wire import moments
from cloudtasks.wire.json_values import NotJson, json_arguments

if TYPE_CHECKING:
    from cloudtasks.models import TaskRecord


class CloudTasksBackend(BaseTaskBackend):
    supports_defer = True
    # The runner calls async tasks through Task.call, as Django's own backends do.
    supports_async_task = True
    # Every task has a record (cloudtasks.models), which the runner keeps up to date.
    supports_get_result = True
    supports_priority = False  # see the module's docstring

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        # Exactly the queues OPTIONS routes; Django's own QUEUES, if given, must agree.
        self.queues = set(queue_names(self.options))
        self._declared_queues = params.get("QUEUES")
        # Backends are built when a module declaring a @task is imported, so bad options
        # must not raise here: `check` reports them, `enqueue` refuses to send.
        self._options: BackendOptions | None = None
        self._invalid: InvalidOptions | None = None
        try:
            self._options = read_options(self.options)
        except InvalidOptions as error:
            self._invalid = error

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        return [
            *checks.app_missing_errors(self.alias),
            *checks.option_errors(self.alias, self._invalid),
            *checks.queues_setting_errors(self.alias, self._declared_queues, frozenset(self.queues)),
        ]

    def validate_task(self, task: Task) -> None:
        # Before Django's own checks, to say more than they would.
        if task.priority != DEFAULT_TASK_PRIORITY:
            raise InvalidTask(
                f"Backend does not support setting priority of tasks: Cloud Tasks dispatches "
                f"by schedule time, so priority={task.priority!r} would change nothing. Give "
                f"work that must not wait its own queue with using(queue_name=...)."
            )
        if task.queue_name not in self.queues:
            raise InvalidTask(
                f"Queue {task.queue_name!r} is not valid for backend {self.alias!r}: it routes "
                f"{', '.join(sorted(self.queues)) or 'no queue'} to Cloud Tasks queues "
                f"(OPTIONS['QUEUES'])."
            )
        super().validate_task(task)
        if self._options is not None:  # invalid options: `check` reports them, `enqueue` refuses
            task_limits.check_fits(task, self._options.queues[task.queue_name], self.alias)
        if task.run_after is not None:
            # Checked by Django only when USE_TZ is on; Cloud Tasks needs it either way.
            if timezone.is_naive(task.run_after):
                raise InvalidTask("run_after must be an aware datetime.")
            try:
                moments.in_utc(task.run_after)
            except moments.OutOfRange as error:
                raise InvalidTask(f"run_after {error}") from error
            limits.check_schedule(task.run_after, datetime.now(UTC), task.module_path)

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """Record the task (in the caller's transaction, if there is one) and send it
        to Cloud Tasks once that commits: see cloudtasks.enqueue.outbox."""
        # Models load with the apps, after backends may be built (in settings checks).
        from cloudtasks.enqueue import outbox
        from cloudtasks.models import TaskRecord

        self.validate_task(task)
        # Here rather than in validate_task, which runs as a task is declared, possibly
        # before the apps are loaded.
        if (outside := outside_tasks_modules(task.module_path)) is not None:
            raise InvalidTask(outside)
        options = self._valid_options()
        route = self.route(task.queue_name)
        json_args, json_kwargs = _json_arguments(task, args, kwargs)
        record = TaskRecord(
            # 128 random bits, as Cloud Tasks asks of task names (sequential ones slow
            # CreateTask down); from os.urandom at once, where get_random_string(32) draws
            # each character on its own (0.5 µs against 27 µs here).
            id=secrets.token_hex(16),
            task_path=task.module_path,
            backend=self.alias,
            queue_name=task.queue_name,
            priority=task.priority,
            # As the database holds times under the project's settings (naive with USE_TZ = False).
            run_after=moments.as_stored(task.run_after) if task.run_after else None,
            args=json_args,
            kwargs=json_kwargs,
            enqueued_at=timezone.now(),
        )
        request = build_request(route, record)
        _check_size(route, record, request)
        outbox.enqueue(record, request, client=self.client(), budget=options.send_budget)
        result = TaskResult(
            task=task,
            id=record.id,
            status=TaskResultStatus.READY,
            enqueued_at=record.enqueued_at,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=json_args,
            kwargs=json_kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        """What the task's record holds, from any process: status, each attempt's error
        and worker, the return value. TaskResultDoesNotExist for an id it has no task of."""
        from cloudtasks.models import TaskRecord
        from cloudtasks.run.results import result_of

        record = TaskRecord.objects.filter(pk=result_id, backend=self.alias).first()
        if record is None:
            raise TaskResultDoesNotExist(f"Backend {self.alias!r} has no task with id {result_id!r}")
        return result_of(record)

    def route(self, queue_name: str) -> QueueRoute:
        """Where tasks on `queue_name` go, and how their Cloud Tasks queue retries them
        (the run side needs that to know a task's last attempt)."""
        return self._valid_options().queues[queue_name]

    @property
    def backend_options(self) -> BackendOptions:
        """The options in effect; InvalidTaskBackend if they are not valid."""
        return self._valid_options()

    def client(self) -> tasks_v2.CloudTasksClient:
        """The Cloud Tasks client this backend sends with (one per process)."""
        return cloud_tasks_client(self._valid_options().emulator_host)

    def _valid_options(self) -> BackendOptions:
        if self._options is None:
            raise InvalidTaskBackend(
                f"Task backend {self.alias!r} is not configured: {self._invalid}. "
                f"`manage.py check` lists what to set."
            )
        return self._options


def _check_size(route: QueueRoute, record: TaskRecord, request: tasks_v2.CreateTaskRequest) -> None:
    if isinstance(route.target, HttpTarget):
        limits.check_task_size(tasks_v2.CreateTaskRequest.pb(request).task.ByteSize(), record.task_path)
    else:
        limits.check_stored_arguments_size(len(payload(record, with_arguments=True).encode()), record.task_path)


def _json_arguments(task: Task, args: Any, kwargs: Any) -> tuple[list[Any], dict[str, Any]]:
    """The arguments as the task will receive them, or InvalidTask if JSON would change them."""
    try:
        return json_arguments(args, kwargs)
    except NotJson as error:
        raise InvalidTaskArguments(f"Arguments of {task.module_path} must be JSON values: {error}") from error
