"""`manage.py run_task`: what a Cloud Run Job execution runs.

    run_task --queue NAME [--backend ALIAS]       one due job task of that queue: what a
                                                  queue's worker job runs (its own args)
    run_task --task app.tasks.name [--args '[...]'] [--kwargs '{...}']
                                                  a declared task, e.g. from a schedule
    run_task --payload '<encoded payload>'        the task a payload names: how job tasks
                                                  sent before `--queue` start executions
    run_task --periodic NAME                      a run of the periodic task NAME
                                                  (settings.CLOUD_TASKS_PERIODIC): what a
                                                  schedule's execution runs

A periodic run is recorded like any task, once per time the schedule fires: a second
firing for the same time runs nothing (cloudtasks.run.scheduled).

A job task's `jobs:run` call overrides nothing, so whoever may enqueue cannot choose an
execution's args or env: the execution runs the job's own `--queue NAME` and takes a due
job task of that queue from the database (cloudtasks.run.job_tasks), or, finding none (a
duplicate execution), says so and exits 0. `--backend` names the backend whose job
tasks those are; needed only when several in TASKS start jobs for the queue.

The exit status is the task's: 0 when it succeeded (now, or before: a duplicate
execution does not run it again), non-zero when it failed, so Cloud Run retries the
execution's task up to the job's max_retries, the last of which fails the task for good.
Non-zero too whenever this execution's work was not kept: its commit was refused because
another worker took the task over while this one stalled past its lease (that worker's
outcome counts). Cloud Run then records the attempt as failed, which it was, and starts
the execution's task again if max_retries allows: that attempt finds the task finished
(and exits as its outcome says) or still running elsewhere (and waits, as below). With no
retries left, Cloud Run marks the execution failed.
A payload that can never run exits non-zero as well: unlike a push queue's, those
retries are bounded, and the execution shows as failed where its logs are.

Before it uses the database for its task, an execution takes one of its queue's
MAX_RUNNING slots (cloudtasks/run/slots.py), waiting up to the queue's SLOT_WAIT for one;
one that finds none exits non-zero without having started its task.

An execution whose task another worker runs now waits for that worker's lease to end: a
worker that died loses it within the lease, and this execution takes the task over; one
that lives on finishes it, and this execution leaves it to it. On SIGTERM (Cloud Run
stops the execution) a task still running 7 s later is interrupted and gives its lease
back (cloudtasks/run/shutdown.py).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME, TaskResultStatus
from django.utils import timezone

from cloudtasks import logs
from cloudtasks import periodic as periodic_tasks
from cloudtasks.enqueue import send_budget, task_request
from cloudtasks.run import job_tasks, runner, scheduled, shutdown, slots
from cloudtasks.run.runner import Outcome
from cloudtasks.wire.payload import PayloadError, TaskPayload, decode

POLL_SECONDS = 1.0


class Command(BaseCommand):
    help = "Run one task: a due job task of a queue, a declared task by its path, or a payload."

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--queue", metavar="NAME", help="a django.tasks queue name: run one due job task of that queue"
        )
        source.add_argument(
            "--payload", help="an encoded task payload, as the Cloud Tasks backend passed it before --queue"
        )
        source.add_argument(
            "--task", metavar="PATH", help="path of a task declared with @task in an app's tasks.py"
        )
        source.add_argument(
            "--periodic", metavar="NAME", help="name of a periodic task (CLOUD_TASKS_PERIODIC): run it for its last time due"
        )
        # dest is not "args": BaseCommand reserves that name for positional arguments.
        parser.add_argument(
            "--args", dest="task_args", type=_json_of(list), default=[],
            help="with --task: positional arguments, a JSON list",
        )
        parser.add_argument(
            "--kwargs", dest="task_kwargs", type=_json_of(dict), default={},
            help="with --task: keyword arguments, a JSON object",
        )
        parser.add_argument(
            "--backend", metavar="ALIAS",
            help="with --queue: the backend in TASKS whose job tasks to run; default the one that starts jobs for it",
        )

    @logs.labelled  # what it writes of a CommandError is about the task too
    def run_from_argv(self, argv: list[str]) -> None:
        super().run_from_argv(argv)

    def execute(self, *args: Any, **options: Any) -> str | None:
        # In a job execution with JSON logs, its report too: a line Cloud Logging reads, at its severity.
        logs.command_output_as_log_lines(self)
        # What the task enqueues shares one send budget, as a pushed task's request does.
        with send_budget.window():
            return super().execute(*args, **options)

    @logs.labelled
    def handle(
        self,
        *,
        queue: str | None,
        payload: str | None,
        task: str | None,
        periodic: str | None,
        task_args: list[Any],
        task_kwargs: dict[str, Any],
        backend: str | None,
        **options: Any,
    ) -> None:
        if task is None and (task_args or task_kwargs):
            raise CommandError("--args and --kwargs go with --task; a payload carries its own, and so does a queued task")
        if queue is None and backend is not None:
            raise CommandError("--backend goes with --queue: a payload names its own backend, and a --task runs on its declared one")
        try:
            if queue is not None:
                alias = _job_backend(queue, backend)
                with slots.held(alias, queue):
                    self._run_next(queue, alias)
                return
            delivered = None if payload is None else decode(payload)
            if periodic is not None:
                delivered = _periodic_run(periodic)
            with slots.held(*_queue_of(delivered, task)):
                if delivered is None:
                    self._run_declared(task, task_args, task_kwargs)
                else:
                    self._run_delivered(delivered)
        except PayloadError as error:
            raise CommandError(f"task can never run: {error}") from error
        except slots.NoSlot as error:
            raise CommandError(
                f"{error}. The task was not started: Cloud Run retries this execution's task; if no retry "
                "finds a slot, the outbox flush sends an enqueued task again (a schedule's runs at its next time)"
            ) from error

    def _run_declared(self, task_path: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        declared = TaskPayload(task_path, uuid.uuid4().hex, args, kwargs, timezone.now())
        attempt = runner.Delivery.job_attempt().attempt
        logs.attempt(declared.task_id, runner.resolve_task(task_path).queue_name, attempt)
        result = runner.run_declared(declared, attempt=attempt)
        if result.status != TaskResultStatus.SUCCESSFUL:
            # django.tasks has already logged the traceback when the task finished.
            raise CommandError(f"task {result.id} ({task_path}) failed")
        self.stdout.write(f"task {result.id} ({task_path}) succeeded")

    def _run_delivered(self, payload: TaskPayload) -> None:
        shutdown.on_sigterm()
        delivery = runner.Delivery.job_attempt()
        logs.attempt(payload.task_id, payload.queue_name, delivery.attempt)
        what = f"task {payload.task_id} ({payload.task_path})"
        waited_until = time.monotonic() + 2 * runner.lease_of(payload.backend) + POLL_SECONDS
        while (ran := runner.run(payload, delivery)).outcome == Outcome.BUSY and time.monotonic() < waited_until:
            time.sleep(POLL_SECONDS)  # until the other worker finishes, or its lease expires
        self._report(what, ran)

    def _run_next(self, queue_name: str, backend: str) -> None:
        shutdown.on_sigterm()
        delivery = runner.Delivery.job_attempt()
        # Chosen and claimed in one transaction: once it commits, the task is this execution's.
        with transaction.atomic():
            record = job_tasks.next_for_execution(backend, queue_name, delivery.earlier_worker_ids())
            if record is None:
                self.stdout.write(f"nothing due on queue {queue_name} (backend {backend}): no job task waits for an execution")
                return
            queued = task_request.payload(record, with_arguments=False)
            logs.attempt(queued.task_id, queue_name, delivery.attempt)
            claimed = runner.claim(queued, delivery)
        ran = claimed if isinstance(claimed, runner.Run) else runner.run_claimed(claimed, delivery)
        self._report(f"task {queued.task_id} ({queued.task_path})", ran)

    def _report(self, what: str, ran: runner.Run) -> None:
        """Say what became of the task; raise CommandError (exit non-zero) if it did not succeed."""
        match ran.outcome:
            case Outcome.SUCCEEDED:
                self.stdout.write(f"{what} succeeded")
            case Outcome.DUPLICATE if ran.result and ran.result.status == TaskResultStatus.SUCCESSFUL:
                self.stdout.write(f"{what} had already succeeded; not run again")
            case Outcome.DUPLICATE:
                raise CommandError(f"{what} had already failed for good; not run again")
            case Outcome.RETRY:
                raise CommandError(f"{what} failed; the job retries it")
            case Outcome.FAILED:
                raise CommandError(f"{what} failed for good")
            case Outcome.INTERRUPTED:
                raise CommandError(f"{what} interrupted: the execution is stopping; its lease is given back")
            case Outcome.LEASE_LOST:
                raise CommandError(f"{what} ran, but its work was rolled back: {ran.reason}")
            case Outcome.BUSY:
                self.stdout.write(f"{what} is another worker's: {ran.reason}")


def _periodic_run(name: str) -> TaskPayload:
    """The task this run of periodic task `name` runs (cloudtasks.run.scheduled)."""
    try:
        declared = periodic_tasks.named(name)
    except periodic_tasks.InvalidPeriodic as error:
        raise CommandError(f"--periodic {name}: {error}") from error
    return scheduled.payload(
        declared.name, declared.task, declared.args, declared.kwargs, declared.timetable,
        now=timezone.now(), earlier_worker_ids=runner.Delivery.job_attempt().earlier_worker_ids(),
    )


def _job_backend(queue_name: str, backend_alias: str | None) -> str:
    """The backend whose job tasks of `queue_name` this execution runs (--queue, --backend)."""
    try:
        return job_tasks.job_backend(queue_name, backend_alias)
    except job_tasks.NoJobBackend as error:
        raise CommandError(f"--queue {queue_name}: {error}") from error


def _queue_of(delivered: TaskPayload | None, task_path: str | None) -> tuple[str, str]:
    """The backend and queue whose database slot the execution takes (cloudtasks.run.slots)."""
    if delivered is None:
        # A task that was never declared can never run: said before any slot is taken.
        declared = runner.resolve_task(task_path)
        return declared.backend, declared.queue_name
    # A version 1 payload does not say: it was enqueued before there were several queues.
    return delivered.backend or DEFAULT_TASK_BACKEND_ALIAS, delivered.queue_name or DEFAULT_TASK_QUEUE_NAME


def _json_of(kind: type[list] | type[dict]) -> Callable[[str], Any]:
    """An argparse type: JSON text that must decode to a `kind`."""

    def parse(text: str) -> Any:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise argparse.ArgumentTypeError(f"not JSON: {error}") from error
        if not isinstance(value, kind):
            raise argparse.ArgumentTypeError(f"must be a JSON {'list' if kind is list else 'object'}")
        return value

    return parse
