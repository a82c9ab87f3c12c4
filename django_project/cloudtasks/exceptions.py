from __future__ import annotations

from django.tasks.exceptions import InvalidTask, TaskException
from google.api_core.exceptions import GoogleAPICallError


class EnqueueFailed(TaskException):
    """Cloud Tasks did not take a task: the call failed for good, or kept failing."""

    def __init__(
        self, *, queue_path: str, task_name: str, task_path: str, attempts: int,
        cause: GoogleAPICallError,
    ) -> None:
        self.queue_path = queue_path
        self.task_name = task_name
        self.attempts = attempts
        status = cause.grpc_status_code.name if cause.grpc_status_code else type(cause).__name__
        super().__init__(
            f"Cloud Tasks did not take task {task_name} ({task_path}) on queue {queue_path} "
            f"after {attempts} attempt{'s' if attempts > 1 else ''}: {status}: {cause.message}"
        )


class InvalidTaskArguments(InvalidTask, TypeError):
    """Arguments JSON cannot carry unchanged. A TypeError too, as Django's own backends
    raise for arguments that are not JSON."""
