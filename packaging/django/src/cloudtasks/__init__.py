"""django.tasks on Google Cloud Tasks: the app `cloudtasks`.

What a project writes (the public API; a name that moves keeps importing, with a
DeprecationWarning, for one minor version: cloudtasks.deprecated):

    settings   "cloudtasks" in INSTALLED_APPS; TASKS BACKEND cloudtasks.backend.CloudTasksBackend;
               path("tasks/", include("cloudtasks.urls")); DATABASES ENGINE cloudtasks.postgresql;
               cloudtasks.queue_env.read and cloudtasks.queue_env.backend_queues (CLOUD_TASKS_QUEUES)
    enqueue    task.enqueue(); many in one transaction: cloudtasks.enqueue_together
    tasks      cloudtasks.non_atomic; cloudtasks.exceptions.PermanentFailure;
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
                 postgresql, templates; deprecated, and the old names it keeps importing
                 (shutdown, runner, repair)
    enqueue/     task.enqueue() to a task Cloud Tasks holds: outbox, send_budget,
                 task_request, limits, sending, client
    run/         a delivered task run effectively once: runner, declared_tasks, records,
                 lease, db_clock, results, job_tasks, scheduled, slots, refusals, shutdown
    auth/        who may have a task run: accepted, verify, signing_keys, local_signing
    operations/  keeping records and Cloud Tasks in step: flush, repair, redrive, prune,
                 counting
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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

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
