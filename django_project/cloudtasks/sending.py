"""CreateTask, retried while Cloud Tasks is briefly unreachable.

Retrying CreateTask is safe only because tasks are named: if an attempt that timed out
did create the task, the next attempt gets ALREADY_EXISTS, which means it is queued.
"""

from __future__ import annotations

import logging
import random
import time

from google.api_core import exceptions
from google.cloud import tasks_v2

from cloudtasks.exceptions import EnqueueFailed

logger = logging.getLogger(__name__)

# The codes Google's generated Cloud Tasks client retries for its idempotent calls.
# RESOURCE_EXHAUSTED (per-minute quota) is not among them: backing off within one
# enqueue would not outlast it, so the caller hears at once.
TRANSIENT = (exceptions.ServiceUnavailable, exceptions.DeadlineExceeded)

FIRST_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 2.0


def create_task(
    client: tasks_v2.CloudTasksClient,
    request: tasks_v2.CreateTaskRequest,
    *,
    task_path: str,
    attempts: int,
    attempt_timeout: float,
) -> None:
    """Create the task, or raise EnqueueFailed naming the queue, the task and the error."""
    for attempt in range(1, attempts + 1):
        try:
            client.create_task(request=request, timeout=attempt_timeout)
            return
        except exceptions.AlreadyExists:
            # The name holds the task id, so a task of that name is this very task,
            # created by an earlier attempt whose answer was lost (or sent before).
            logger.info("Task %s was already created", request.task.name)
            return
        except TRANSIENT as error:
            if attempt == attempts:
                raise _failed(request, task_path, attempt, error) from error
            delay = _backoff(attempt)
            logger.warning(
                "CreateTask of %s failed (%s), attempt %d of %d; retrying in %.2fs",
                request.task.name, error.grpc_status_code.name, attempt, attempts, delay,
            )
            time.sleep(delay)
        except exceptions.GoogleAPICallError as error:
            raise _failed(request, task_path, attempt, error) from error


def _backoff(attempt: int) -> float:
    # Exponential with full jitter, so that many processes that failed together do not
    # retry together.
    return random.uniform(0, min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** (attempt - 1)))


def _failed(
    request: tasks_v2.CreateTaskRequest, task_path: str, attempts: int,
    error: exceptions.GoogleAPICallError,
) -> EnqueueFailed:
    return EnqueueFailed(
        queue_path=request.parent, task_name=request.task.name, task_path=task_path,
        attempts=attempts, cause=error,
    )
