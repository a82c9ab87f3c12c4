from __future__ import annotations

from django.tasks.exceptions import InvalidTask


class InvalidTaskArguments(InvalidTask, TypeError):
    """Arguments JSON cannot carry unchanged. A TypeError too, as Django's own backends
    raise for arguments that are not JSON."""


class PermanentFailure(Exception):
    """Raise it from a task to fail it for good at once: it is not retried, its record
    becomes FAILED and `cloudtasks.signals.task_failed_permanently` is sent.

        @task
        def charge(order_id):
            order = Order.objects.get(pk=order_id)
            if order.card_expired:
                raise PermanentFailure(f"order {order_id}: the card has expired")
    """


class WorkerLost(Exception):
    """Recorded as the error of an attempt whose worker stopped before it finished (it
    was killed, or its instance went away): its lease expired, and another attempt took
    the task over, or the queue had no attempt left."""


class ReturnValueNotJson(TypeError):
    """Recorded when a task returned what JSON cannot carry: the task ran, and its effects
    are kept, but it fails for good rather than run again for a return value."""


class TaskNotFinished(Exception):
    """Raised when code deletes the record of a task that has not finished (READY or
    RUNNING): its task would be lost. Finished records may be deleted."""


class CannotCancel(Exception):
    """Raised by `cloudtasks.cancel` for a task that has started (it runs now) or finished:
    only a task waiting for an attempt can be cancelled. The message says which."""


class TaskCancelled(Exception):
    """Recorded as the error of a cancelled task (`cloudtasks.cancel`): its record is FAILED,
    and no attempt of it runs."""


class TimeLimitExceeded(BaseException):
    """Raised in a task that runs longer than its time limit (`cloudtasks.limits`), and
    recorded as its attempt's error: the attempt fails, and is retried as any failed
    attempt is. A BaseException, so that a task's own `except Exception` does not swallow it."""
