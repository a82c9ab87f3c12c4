"""A task's own limits (`cloudtasks.limits`, below @task), and the queue they must fit.

    @task
    @limits(max_attempts=3, time_limit=60)
    def import_catalogue(path): ...

- `max_attempts`: attempts of the task (counted as its record counts them, since it was
  enqueued or last re-driven) after which a failed attempt fails it for good, even though
  its queue would retry it. At most what the queue allows: its Cloud Tasks RETRY
  max_attempts for an HTTP task, JOB_MAX_RETRIES + 1 for a job task (a queue with
  unlimited attempts allows any number).
- `time_limit`: seconds an attempt may run before it is interrupted (TimeLimitExceeded,
  cloudtasks.run.shutdown): its transaction rolls back and the attempt is recorded as
  failed, retried as any failed attempt is. It must end before anything outside stops
  the attempt first: for an HTTP task, Cloud Tasks' DISPATCH_DEADLINE less PUSH_MARGIN;
  for a job task, the job's task timeout (JOB_TIMEOUT) less JOB_MARGIN and the queue's
  SLOT_WAIT if it limits MAX_RUNNING.

The limits are checked when the task is declared, as `using()` changes its queue, and at
enqueue: a limit that does not fit raises InvalidTask, naming both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.tasks.exceptions import InvalidTask

from cloudtasks.config.options import JobTarget, QueueRoute
from cloudtasks.config.retry import UNLIMITED_ATTEMPTS

if TYPE_CHECKING:
    from django.tasks import Task

# An HTTP attempt must end before gunicorn's arbiter kills its worker (config/gunicorn.py:
# 540 s, 60 s under the default deadline, for an instance to start before the request
# reaches it) and leave time to record the failure: 65 s under the dispatch deadline.
PUSH_MARGIN = 65.0
# A job execution starts (Python, Django, the claim) before its attempt does, and Cloud
# Run's task timeout counts from the container's start.
JOB_MARGIN = 30.0
ATTRIBUTE = "_cloudtasks_limits"


@dataclass(frozen=True)
class TaskLimits:
    max_attempts: int | None = None
    time_limit: float | None = None  # seconds

    @classmethod
    def declared(cls, *, max_attempts: object, time_limit: object) -> TaskLimits:
        """The limits `cloudtasks.limits(...)` was given, checked; ValueError says what is wrong."""
        if max_attempts is not None and (
            isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1
        ):
            raise ValueError(f"cloudtasks.limits: max_attempts is {max_attempts!r}; it must be a whole number, 1 or more")
        if isinstance(time_limit, timedelta):
            time_limit = time_limit.total_seconds()
        if time_limit is not None and (
            isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or not time_limit > 0
        ):
            raise ValueError(
                f"cloudtasks.limits: time_limit is {time_limit!r}; it must be a number of seconds over 0, or a timedelta"
            )
        if max_attempts is None and time_limit is None:
            raise ValueError("cloudtasks.limits: give max_attempts, time_limit or both")
        return cls(max_attempts, None if time_limit is None else float(time_limit))


def limits_of(task: Task) -> TaskLimits:
    """The limits the task's function declares (none: TaskLimits())."""
    return getattr(task.func, ATTRIBUTE, None) or TaskLimits()


def check_fits(task: Task, route: QueueRoute, alias: str) -> None:
    """InvalidTask if the task's limits ask more than its queue `route` gives (see the module's docstring)."""
    limits = limits_of(task)
    where = f"queue {task.queue_name!r} of backend {alias!r}"
    if limits.max_attempts is not None:
        allowed, source = _queue_attempts(route)
        if allowed != UNLIMITED_ATTEMPTS and limits.max_attempts > allowed:
            raise InvalidTask(
                f"{task.module_path} declares max_attempts={limits.max_attempts}, more than {where} allows: "
                f"{allowed} ({source}). A task may declare fewer attempts than its queue, not more."
            )
    if limits.time_limit is not None:
        longest, source = _longest_time_limit(route)
        if limits.time_limit > longest:
            raise InvalidTask(
                f"{task.module_path} declares time_limit={limits.time_limit:g} s, longer than {where} allows: "
                f"{max(longest, 0):g} s ({source}). Lower the time limit, or give the task a queue with a longer one."
            )


def _queue_attempts(route: QueueRoute) -> tuple[int, str]:
    if isinstance(route.target, JobTarget):
        return route.target.max_retries + 1, f"its job's JOB_MAX_RETRIES {route.target.max_retries}, plus 1"
    return route.retry.max_attempts, "its RETRY max_attempts"


def _longest_time_limit(route: QueueRoute) -> tuple[float, str]:
    target = route.target
    if isinstance(target, JobTarget):
        slot_wait = route.slot_wait if route.max_running is not None else 0.0
        source = f"its JOB_TIMEOUT {target.timeout:g} s, less {JOB_MARGIN:g} s for the execution to start"
        if slot_wait:
            source += f" and its SLOT_WAIT {slot_wait:g} s"
        return target.timeout - JOB_MARGIN - slot_wait, source
    return (
        target.dispatch_deadline - PUSH_MARGIN,
        f"its DISPATCH_DEADLINE {target.dispatch_deadline} s, less {PUSH_MARGIN:g} s for an instance to start "
        f"and the attempt to record its end",
    )
