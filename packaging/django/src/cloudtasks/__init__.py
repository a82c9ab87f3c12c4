"""django.tasks on Google Cloud Tasks: the app `cloudtasks`.

What a project writes (the public API; a name that moves keeps importing, with a
DeprecationWarning, for one minor version: cloudtasks.deprecated):

    settings   "cloudtasks" in INSTALLED_APPS; TASKS BACKEND cloudtasks.backend.CloudTasksBackend;
               path("tasks/", include("cloudtasks.urls")); DATABASES ENGINE cloudtasks.postgresql;
               cloudtasks.queue_env.read and cloudtasks.queue_env.backend_queues (CLOUD_TASKS_QUEUES);
               LOGGING = cloudtasks.logs.logging_config(...), cloudtasks.logs.REQUEST_MIDDLEWARE
    enqueue    task.enqueue(); many in one transaction: cloudtasks.enqueue_together
    cancel     cloudtasks.cancel (a task not started); cloudtasks.exceptions.CannotCancel
    tasks      cloudtasks.non_atomic; cloudtasks.limits; cloudtasks.exceptions.PermanentFailure;
               cloudtasks.signals.task_failed_permanently; periodic tasks
               (CLOUD_TASKS_PERIODIC) cloudtasks.periodic.Periodic, such as
               cloudtasks.tasks.flush_outbox and cloudtasks.tasks.prune_records
    tests      cloudtasks.testing.captured_tasks
    servers    cloudtasks.views.healthz; gunicorn's post_worker_init calls
               cloudtasks.run.shutdown.on_sigterm; pushes around the middleware:
               cloudtasks.wsgi.bypass_middleware_for_pushes; a shell repairs a row written by hand
               with cloudtasks.operations.repair.repair_times
    commands   run_task, flush_outbox, prune_tasks, list_tasks, cloudtasks_emulator

The package, laid out as work flows through it:

    (top level)  Django's conventions and the names above: apps, models (TaskRecord) and
                 fields, admin, urls and views (the push handler), wsgi, backend, checks, tasks,
                 periodic,
                 testing, exceptions, signals, queue_env, management/commands, migrations,
                 postgresql, templates; logs (JSON lines for Cloud Logging, the labels of
                 a task attempt) and cloud_logging (their handler); deprecated, and the
                 old names it keeps importing (shutdown, runner, repair)
    enqueue/     task.enqueue() to a task Cloud Tasks holds: outbox, send_budget,
                 task_request, limits, sending, client
    run/         a delivered task run effectively once: runner, declared_tasks, records,
                 lease, db_clock, results, job_tasks, scheduled, slots, refusals, shutdown
    auth/        who may have a task run: accepted, verify, signing_keys, local_signing
    operations/  keeping records and Cloud Tasks in step: flush, repair, redrive, cancel,
                 prune, counting
    wire/        what travels between processes: payload, moments, json_values
    config/      what the settings say: options, retry, backends, env, task_modules, schedules
    local/       local runs: emulator, emulator_launcher

Imports point one way, down this list, and never around a circle (tests/test_layout.py):

    the top level (Django glue)
      -> operations/
        -> enqueue/, run/      (never each other)
          -> auth/
            -> wire/
              -> config/ and the foundation: exceptions, signals, fields, models
    local/ -> config/          (config/ and the foundation import nothing else)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from django.tasks import TaskResult

F = TypeVar("F", bound=Callable[..., object])


def non_atomic(function: F) -> F:
    """Run the task outside a transaction (put it below @task):

        @task
        @non_atomic
        def import_catalogue(path): ...   # commits as it goes

    A task runs inside one transaction by default, committed together with the record
    of its success, so that its database writes happen once however often it is
    delivered, and not at all if its worker dies. A task that must commit as it goes
    (long batch work, or work that calls code managing its own transactions) opts out;
    a re-run after a crash then repeats what it had committed, so it must be idempotent.
    """
    function._cloudtasks_non_atomic = True  # type: ignore[attr-defined]
    return function


def limits(*, max_attempts: int | None = None, time_limit: float | timedelta | None = None) -> Callable[[F], F]:
    """Give a task fewer attempts than its queue allows, or a time limit (put it below @task):

        @task
        @limits(max_attempts=3, time_limit=60)
        def import_catalogue(path): ...

    `max_attempts`: a failed attempt is the task's last once it has had that many (its
    queue's retry policy still spaces them). `time_limit` (seconds, or a timedelta): an
    attempt still running then is interrupted with cloudtasks.exceptions.TimeLimitExceeded,
    its transaction rolled back, and recorded as a failed attempt, retried as any is.
    Both must fit the task's queue: checked as the task is declared, as `using()` moves
    it, and at enqueue (InvalidTask names both sides). Details: cloudtasks.config.task_limits.
    """
    from cloudtasks.config.task_limits import ATTRIBUTE, TaskLimits  # when used, as the other names here

    declared = TaskLimits.declared(max_attempts=max_attempts, time_limit=time_limit)

    def mark(function: F) -> F:
        from django.tasks import Task

        if isinstance(function, Task):
            raise TypeError(
                f"cloudtasks.limits goes below @task, not above it: it marks the function @task declares "
                f"({function.module_path})"
            )
        setattr(function, ATTRIBUTE, declared)
        return function

    return mark


@contextmanager
def enqueue_together() -> Iterator[None]:
    """Enqueue many tasks in one transaction, and send them to Cloud Tasks at once:

        with enqueue_together():
            for user in users:
                send_newsletter.enqueue(user.pk)

    The block is a transaction (`transaction.atomic()`). The tasks enqueued in it are
    written together when it ends (one INSERT per 1,000), and once it commits they are
    sent concurrently, within the send budget; what is not sent is sent by the flush, as
    for any task (the outbox, cloudtasks.enqueue.outbox). A block that raises enqueues
    nothing. Until the block ends, a task enqueued in it has no record: `get_result`
    finds it only afterwards.
    """
    from cloudtasks.enqueue.outbox import together  # models load with the apps, after this package

    with together():
        yield


def cancel(result_id: str) -> TaskResult:
    """Cancel a task that has not started, by its id (`TaskResult.id`):

        result = send_newsletter.using(run_after=tomorrow).enqueue(7)
        cloudtasks.cancel(result.id)    # FAILED now, with a TaskCancelled error; it never runs

    Its record becomes FAILED at once and its Cloud Tasks task is deleted (after the
    current transaction commits); a delivery Cloud Tasks makes anyway runs nothing. A
    task that is running, or finished, is not cancelled: CannotCancel says which.
    Details: cloudtasks.operations.cancel.
    """
    from cloudtasks.operations.cancel import cancel as cancel_task  # models load with the apps, after this package

    return cancel_task(result_id)
