"""One CreateTask call, and what became of it.

There are no retries here: a task whose call fails stays pending in the outbox, and the
flush sends it again later. Sending the same task twice is safe only because tasks are
named: if a call that timed out did create the task, the next one gets ALREADY_EXISTS,
which means it is queued.
"""

from __future__ import annotations

import logging

from google.api_core import exceptions
from google.auth.exceptions import GoogleAuthError
from google.cloud import tasks_v2

logger = logging.getLogger(__name__)


class SendFailed(Exception):
    """Cloud Tasks did not take the task; `reason` says why, for the record and the log."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def create_task(client: tasks_v2.CloudTasksClient, request: tasks_v2.CreateTaskRequest, *, timeout: float) -> None:
    """Create the task within `timeout` seconds, or raise SendFailed."""
    try:
        client.create_task(request=request, timeout=timeout)
    except exceptions.AlreadyExists:
        # The name holds the task's id: a task of that name is this very task, created
        # by an earlier call whose answer was lost.
        logger.info("Task %s was already created", request.task.name)
    except exceptions.GoogleAPICallError as error:
        status = error.grpc_status_code.name if error.grpc_status_code else type(error).__name__
        raise SendFailed(f"{status}: {error.message}") from error
    except GoogleAuthError as error:  # no token for the call (e.g. the metadata server is unreachable)
        raise SendFailed(f"no credentials: {error}") from error
