"""Log lines Cloud Logging understands, and readable text on a laptop.

In settings (the project's own: django_project/config/settings.py):

    LOGGING = logs.logging_config(cloud_logging_project=None)        # text, as Django prints it
    LOGGING = logs.logging_config(cloud_logging_project="my-project")  # one JSON object a line
    MIDDLEWARE = [logs.REQUEST_MIDDLEWARE, *MIDDLEWARE]                 # with JSON: the request's trace

With a project, every line is one JSON object on stderr, written by google-cloud-logging's
StructuredLogHandler (cloudtasks.cloud_logging): `severity`, `message`, the request's
trace as `logging.googleapis.com/trace` ("projects/PROJECT/traces/TRACE_ID", from its
`traceparent` or `X-Cloud-Trace-Context` header, which the middleware keeps for the
handler), and as `logging.googleapis.com/labels` the task a line is about: its id,
queue and attempt (set by `attempt`, below, around each attempt the push handler or
`run_task` runs) and, in a Cloud Run job execution, the execution and task index.

A task that fails for good logs one line that a log-based metric counts (docs/deploy.md):
logger "cloudtasks.logs", severity ERROR, `jsonPayload.event` "task_failed_permanently".
Its shape is kept stable from this version on.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:  # settings import this module: nothing of Django's beyond logging at import
    from django.core.management.base import BaseCommand
    from django.tasks import TaskResult

P = ParamSpec("P")
R = TypeVar("R")

# Where the trace comes from: the request, which this middleware keeps (in a thread
# local) for the handler to read its headers. Only with JSON logs: it imports the
# google-cloud-logging package, which text logs do without.
REQUEST_MIDDLEWARE = "google.cloud.logging_v2.handlers.middleware.RequestMiddleware"

FAILED_PERMANENTLY = "task_failed_permanently"  # the failed line's `event`: what the metric counts

# https://cloud.google.com/resource-manager/docs/creating-managing-projects: 6 to 30
# characters; an older project's id may be scoped by a domain ("example.com:my-project").
PROJECT_ID = re.compile(r"([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")

logger = logging.getLogger(__name__)

# The labels of the attempt this thread runs now (task_id, task_queue, task_attempt);
# None outside a `labelled` function.
_attempt: ContextVar[Mapping[str, str] | None] = ContextVar("cloudtasks_attempt", default=None)


def attempt_labels() -> Mapping[str, str]:
    """The labels of the task attempt running now, or none outside one."""
    return _attempt.get() or {}


def labelled(function: Callable[P, R]) -> Callable[P, R]:
    """Lines logged while `function` runs carry the task that `attempt` names in it, and
    none once it returns (the next request in the same thread is another task's). Within
    another labelled function, the outer one's end is the end."""

    @functools.wraps(function)
    def run_labelled(*args: P.args, **kwargs: P.kwargs) -> R:
        if _attempt.get() is not None:
            return function(*args, **kwargs)
        token = _attempt.set({})
        try:
            return function(*args, **kwargs)
        finally:
            _attempt.reset(token)

    return run_labelled


def attempt(task_id: str, queue_name: str | None, attempt_number: int) -> None:
    """Label every line logged from here to the end of the `labelled` function with this
    task attempt (a payload from before version 2 names no queue: then none)."""
    labels = {"task_id": task_id, "task_attempt": str(attempt_number)}
    if queue_name:
        labels["task_queue"] = queue_name
    _attempt.set(labels)


def writes_json() -> bool:
    """Whether this process logs JSON lines (LOGGING gave the root logger the Cloud Logging handler)."""
    cloud_logging = sys.modules.get("cloudtasks.cloud_logging")  # imported by LOGGING if it names it
    return cloud_logging is not None and any(
        isinstance(handler, cloud_logging.CloudLoggingHandler) for handler in logging.getLogger().handlers
    )


def command_output_as_log_lines(command: BaseCommand) -> None:
    """With JSON logs, what a management command writes becomes log lines of its module's
    logger: its report (stdout) at INFO, its error (stderr: a CommandError) at ERROR,
    each under the labels of the task it runs. Without, it writes as any command does."""
    if writes_json():
        from django.core.management.base import OutputWrapper

        command_logger = logging.getLogger(type(command).__module__)
        command.stdout = OutputWrapper(_LoggedLines(command_logger, logging.INFO))
        command.stderr = OutputWrapper(_LoggedLines(command_logger, logging.ERROR))


class _LoggedLines(io.TextIOBase):
    """A text stream each write to which is one log line."""

    def __init__(self, to: logging.Logger, level: int) -> None:
        self._logger = to
        self._level = level

    def write(self, text: str) -> int:
        if text.strip():
            # The source location is the command's line that wrote, past OutputWrapper.write.
            self._logger.log(self._level, text.rstrip("\n"), stacklevel=3)
        return len(text)


def log_permanent_failure(sender: type, task_result: TaskResult, **kwargs: Any) -> None:
    """The line a log-based metric counts (receiver of cloudtasks.signals.task_failed_permanently)."""
    logger.error(
        "Task %s (%s) failed permanently", task_result.id, task_result.task.module_path,
        extra={
            "json_fields": {
                "event": FAILED_PERMANENTLY, "task_id": task_result.id, "task_path": task_result.task.module_path,
                "task_queue": task_result.task.queue_name, "task_backend": task_result.backend,
            },
            # Sent by the flush too, outside any attempt: the line names its task itself.
            "labels": {"task_id": task_result.id, "task_queue": task_result.task.queue_name},
        },
    )


def logging_config(*, cloud_logging_project: str | None) -> dict[str, Any]:
    """Django's LOGGING: text lines (Django's own format, as without this), or with a
    Google Cloud project id, the JSON lines Cloud Logging reads, gunicorn's own among them.

    A value that is not a project id (PROJECT_ID) is refused here, before any line is logged.
    """
    if cloud_logging_project is None:
        handler: dict[str, Any] = {"class": "logging.StreamHandler"}
    else:
        if not PROJECT_ID.fullmatch(cloud_logging_project):
            raise ValueError(
                f"cloud_logging_project is {cloud_logging_project!r}: a Google Cloud project id is 6 to 30 "
                "lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen "
                "(or, for an older project, DOMAIN:ID)"
            )
        handler = {"class": "cloudtasks.cloud_logging.CloudLoggingHandler", "project_id": cloud_logging_project}
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": "INFO"},
        # Django's own loggers go to the root handler only: with DEBUG on, Django's default
        # configuration would print each of their lines a second time.
        "loggers": {"django": {"level": "INFO", "propagate": True, "handlers": []}},
    }
    if cloud_logging_project is not None:
        # gunicorn's error log (a worker timed out, booted, exited) and its access log, if
        # one is on, as JSON too, instead of its own text handlers. Configured in the process
        # that loads Django: with preload_app, gunicorn's arbiter, so all of them.
        for name in ("gunicorn.error", "gunicorn.access"):
            config["loggers"][name] = {"handlers": ["console"], "propagate": False}
    return config
