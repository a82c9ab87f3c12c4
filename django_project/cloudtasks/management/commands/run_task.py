"""`manage.py run_task`: what a Cloud Run Job execution runs.

    run_task --payload '<encoded payload>'        one task enqueued with the job target
    run_task --task app.tasks.name [--args '[...]'] [--kwargs '{...}']
                                                  a declared task, e.g. from a schedule

The exit status is the task's: 0 when it succeeded (now, or before: a duplicate
execution does not run it again), non-zero when it failed, so Cloud Run retries the
execution's task up to the job's max_retries, the last of which fails the task for good.
A payload that can never run exits non-zero as well: unlike a push queue's, those
retries are bounded, and the execution shows as failed where its logs are.

An execution whose task another worker runs now waits for that worker's lease to end: a
worker that died loses it within the lease, and this execution takes the task over; one
that lives on finishes it, and this execution leaves it to it. On SIGTERM (Cloud Run
stops the execution) a task still running 7 s later is interrupted and gives its lease
back (cloudtasks/shutdown.py).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.tasks import TaskResultStatus
from django.utils import timezone

from cloudtasks import runner, send_budget, shutdown
from cloudtasks.payload import PayloadError, TaskPayload, decode
from cloudtasks.runner import Outcome

POLL_SECONDS = 1.0


class Command(BaseCommand):
    help = "Run one task: a payload from a job execution, or a declared task by its path."

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--payload", help="an encoded task payload, as the Cloud Tasks backend passes it"
        )
        source.add_argument(
            "--task", metavar="PATH", help="path of a task declared with @task in an app's tasks.py"
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

    def execute(self, *args: Any, **options: Any) -> str | None:
        # What the task enqueues shares one send budget, as a pushed task's request does.
        with send_budget.window():
            return super().execute(*args, **options)

    def handle(
        self,
        *,
        payload: str | None,
        task: str | None,
        task_args: list[Any],
        task_kwargs: dict[str, Any],
        **options: Any,
    ) -> None:
        if payload is not None and (task_args or task_kwargs):
            raise CommandError("--args and --kwargs go with --task; a payload carries its own")
        try:
            if payload is None:
                self._run_declared(task, task_args, task_kwargs)
            else:
                self._run_delivered(decode(payload))
        except PayloadError as error:
            raise CommandError(f"task can never run: {error}") from error

    def _run_declared(self, task_path: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        declared = TaskPayload(task_path, uuid.uuid4().hex, args, kwargs, timezone.now())
        result = runner.run_declared(declared, attempt=runner.Delivery.job_attempt().attempt)
        if result.status != TaskResultStatus.SUCCESSFUL:
            # django.tasks has already logged the traceback when the task finished.
            raise CommandError(f"task {result.id} ({task_path}) failed")
        self.stdout.write(f"task {result.id} ({task_path}) succeeded")

    def _run_delivered(self, payload: TaskPayload) -> None:
        shutdown.on_sigterm()
        delivery = runner.Delivery.job_attempt()
        what = f"task {payload.task_id} ({payload.task_path})"
        waited_until = time.monotonic() + 2 * runner.lease_of(payload.backend) + POLL_SECONDS
        while (ran := runner.run(payload, delivery)).outcome == Outcome.BUSY and time.monotonic() < waited_until:
            time.sleep(POLL_SECONDS)  # until the other worker finishes, or its lease expires
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
            case Outcome.BUSY | Outcome.LEASE_LOST:
                self.stdout.write(f"{what} is another worker's: {ran.reason}")


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
