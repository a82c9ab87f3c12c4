"""Testing code that enqueues tasks: run them in-process, through the real runner.

For a unit test of a task's body, Django's ImmediateBackend is enough (docs/testing.md).
To test what the Cloud Tasks backend adds (the task record, each attempt, retries, the
last attempt failing for good, `get_result`, the signals), keep the backend in the test
settings and capture what it would send:

    from cloudtasks.testing import captured_tasks

    def test_sign_up_sends_the_welcome_mail(client):
        with captured_tasks() as tasks:
            client.post("/signup/", {"email": "ada@example.com"})
            [result] = tasks.run_enqueued()
        assert result.status == TaskResultStatus.SUCCESSFUL

Within the block nothing reaches Cloud Tasks (nor an emulator): every Cloud Tasks client
of the process is a stand-in that keeps each CreateTask request (`tasks.sent`). The
backend's options must still be valid, as `manage.py check` wants them; their queue
paths and URL are never called.

`run_enqueued()` delivers each task enqueued on a Cloud Tasks backend in the block, in
the order they were enqueued, to `cloudtasks.run.runner` as the push handler (a queue with
the HTTP target) or a job execution (the job target) would deliver it: the payload the
request carries, the attempt number Cloud Tasks (or Cloud Run) would give. A failed
attempt is delivered again at once, as its queue would retry it, until the task
succeeds or fails for good; the backoff is not waited for, nor `run_after`. Tasks that
the delivered tasks enqueue are delivered too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.tasks import TaskResult, TaskResultStatus, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from google.api_core import exceptions
from google.cloud import tasks_v2

from cloudtasks.backend import CloudTasksBackend
from cloudtasks.config import env
from cloudtasks.config.options import HttpTarget
from cloudtasks.enqueue.client import substituted
from cloudtasks.enqueue.task_request import payload
from cloudtasks.run import runner
from cloudtasks.wire.payload import PayloadError, decode

# Cloud Tasks' own default for a queue's max_attempts: how many attempts a task gets here
# when its queue sets no limit.
DEFAULT_MAX_ATTEMPTS = 100
# Deliveries one run_enqueued() makes at most: more means tasks that keep enqueueing
# tasks, which would never end.
MAX_DELIVERIES = 10_000
FINISHED = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


class TooManyDeliveries(RuntimeError):
    """run_enqueued() stopped: the tasks keep enqueueing more tasks."""


class CapturingClient:
    """Stands in for the Cloud Tasks client: keeps each task it is given, sends nothing."""

    def __init__(self) -> None:
        self.sent: list[tasks_v2.CreateTaskRequest] = []
        self._lock = threading.Lock()

    def create_task(self, request: tasks_v2.CreateTaskRequest, **kwargs: Any) -> tasks_v2.Task:
        with self._lock:
            if any(sent.task.name == request.task.name for sent in self.sent):
                raise exceptions.AlreadyExists(f"task {request.task.name} exists")
            self.sent.append(request)
        return request.task

    def get_task(self, name: str, **kwargs: Any) -> tasks_v2.Task:
        with self._lock:
            for sent in self.sent:
                if sent.task.name == name:
                    return sent.task
        raise exceptions.NotFound(f"no task {name}")


class CapturedTasks:
    """What a `captured_tasks()` block enqueued and sent; `run_enqueued()` runs it."""

    def __init__(self, client: CapturingClient) -> None:
        self._client = client
        self._enqueued: list[TaskResult] = []
        self._attempts: dict[str, int] = {}  # deliveries made so far, by task id

    @property
    def enqueued(self) -> list[TaskResult]:
        """The results `enqueue` returned, in order (as enqueued: status READY)."""
        return list(self._enqueued)

    @property
    def sent(self) -> list[tasks_v2.CreateTaskRequest]:
        """The CreateTask requests that would have gone to Cloud Tasks, in order. In a
        test whose transaction never commits (Django's TestCase), a task is sent only
        where `captureOnCommitCallbacks(execute=True)` runs what waits for the commit."""
        return list(self._client.sent)

    def run_enqueued(self, *, attempts: int | None = None) -> list[TaskResult]:
        """Deliver every task enqueued so far that has not finished, until each has
        finished, or its queue would not try it again (its max_attempts; Cloud Tasks'
        default, 100, for a queue without a limit; a job's max_retries + 1), or this call
        has made `attempts` attempts of it (default: no limit of its own).

        Returns the result of every task enqueued so far, as `get_result` gives it, in
        the order they were enqueued (none for a task whose transaction rolled back)."""
        if attempts is not None and attempts < 1:
            raise ValueError(f"attempts is {attempts!r}; it must be 1 or more")
        results: dict[str, TaskResult] = {}
        deliveries = 0
        position = 0
        while position < len(self._enqueued):  # grows while tasks enqueue tasks
            enqueued = self._enqueued[position]
            position += 1
            made = 0
            while (result := self._current(enqueued)) is not None and result.status not in FINISHED:
                if self._attempts.get(result.id, 0) >= self._attempt_limit(result) or made == attempts:
                    break
                deliveries += 1
                if deliveries > MAX_DELIVERIES:
                    raise TooManyDeliveries(
                        f"more than {MAX_DELIVERIES} deliveries: the tasks keep enqueueing tasks "
                        f"(the last one enqueued: {self._enqueued[-1].task.module_path})"
                    )
                made += 1
                if not self._deliver(result):
                    break
            if result is not None:
                results[result.id] = result
        return list(results.values())

    def _current(self, enqueued: TaskResult) -> TaskResult | None:
        """The task's result now; None when it has no record (its transaction rolled
        back: nothing would have been sent)."""
        try:
            return task_backends[enqueued.backend].get_result(enqueued.id)
        except TaskResultDoesNotExist:
            return None

    def _attempt_limit(self, result: TaskResult) -> int:
        """How many attempts the task's queue (or job) makes in all."""
        route = task_backends[result.backend].route(result.task.queue_name)
        if not isinstance(route.target, HttpTarget):
            return route.target.max_retries + 1  # the execution's first attempt and its retries
        limit = route.retry.max_attempts
        return limit if limit > 0 else DEFAULT_MAX_ATTEMPTS

    def _deliver(self, result: TaskResult) -> bool:
        """One attempt, as Cloud Tasks or Cloud Run would make it; False when the runner
        leaves the task to another worker (it holds the task's lease)."""
        from cloudtasks.models import TaskRecord  # models load with the apps

        record = TaskRecord.objects.get(pk=result.id)
        over_http = isinstance(task_backends[record.backend].route(record.queue_name).target, HttpTarget)
        # The bytes the request carries: the HTTP body, or the job execution's argument.
        delivered = decode(payload(record, with_arguments=over_http).encode())
        retries = self._attempts.get(result.id, 0)
        self._attempts[result.id] = retries + 1
        try:
            ran = runner.run(delivered, _delivery(result.id, retries, over_http=over_http))
        except PayloadError:
            return True  # recorded FAILED: the push handler answers DISCARDED
        return ran.outcome not in (runner.Outcome.BUSY, runner.Outcome.LEASE_LOST)


def _delivery(task_id: str, retries: int, *, over_http: bool) -> runner.Delivery:
    if over_http:
        return runner.Delivery.push(retries)
    # One execution per task: its attempts are the retries Cloud Run makes of its one task.
    return runner.Delivery.job_attempt(
        {env.EXECUTION: f"in-process-{task_id}", env.TASK_INDEX: "0", env.TASK_ATTEMPT: str(retries)}
    )


@contextmanager
def captured_tasks() -> Iterator[CapturedTasks]:
    """Within the block, tasks enqueued on a Cloud Tasks backend are recorded as usual
    but sent nowhere; the CapturedTasks runs them in-process (see the module's docstring)."""
    client = CapturingClient()
    captured = CapturedTasks(client)

    def note(sender: type, task_result: TaskResult, **kwargs: Any) -> None:
        if issubclass(sender, CloudTasksBackend):
            captured._enqueued.append(task_result)

    task_enqueued.connect(note, weak=False)
    try:
        with substituted(client):  # type: ignore[arg-type]
            yield captured
    finally:
        task_enqueued.disconnect(note)
