"""`manage.py run_task`: what a Cloud Run Job execution runs.

    run_task --payload '<encoded payload>'        one task enqueued with the job target
    run_task --task app.tasks.name [--args '[...]'] [--kwargs '{...}']
                                                  a declared task, e.g. from a schedule

Exits 0 when the task succeeded and non-zero otherwise, so Cloud Run retries the
execution's task up to the job's max_retries. A payload that can never run exits
non-zero as well: unlike a push queue's, those retries are bounded, and the execution
shows as failed where its logs are.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.tasks import TaskResultStatus
from django.utils import timezone

from cloudtasks import env, runner
from cloudtasks.payload import PayloadError, TaskPayload, decode


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
            to_run = decode(payload) if payload is not None else _named(task, task_args, task_kwargs)
            result = runner.run(to_run, attempt=_attempt(), recorded=payload is not None)
        except PayloadError as error:
            raise CommandError(f"task can never run: {error}") from error
        if result.status != TaskResultStatus.SUCCESSFUL:
            # django.tasks has already logged the traceback when the task finished.
            raise CommandError(f"task {result.id} ({to_run.task_path}) failed")
        self.stdout.write(f"task {result.id} ({to_run.task_path}) succeeded")


def _named(task_path: str, args: list[Any], kwargs: dict[str, Any]) -> TaskPayload:
    return TaskPayload(task_path, uuid.uuid4().hex, args, kwargs, timezone.now())


def _attempt() -> int:
    # Cloud Run counts retries from 0; django.tasks counts attempts from 1.
    return int(os.environ.get(env.TASK_ATTEMPT, "0")) + 1


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
