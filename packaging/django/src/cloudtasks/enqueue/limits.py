"""Cloud Tasks' fixed system limits, checked before CreateTask.

A task the API would refuse fails at enqueue, before anything is sent, with a message
that says what to change. The limits are Cloud Tasks' "system limits", which cannot be
raised: https://cloud.google.com/tasks/docs/quotas
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.tasks.exceptions import InvalidTask

# "Maximum task size: 1 MB". The CreateTask reference still says 100KB; the quotas page
# is the later word (googleapis/google-cloud-go#7821). Measured here on the whole Task
# message as sent, which is at least what the API counts.
MAX_TASK_BYTES = 1_000_000

# A job task's arguments travel in its record, not on the wire (a command-line argument
# is capped at 128 KiB). They are held to the same 1 MB, so that a task can move between
# the two targets (`using(backend=...)`) without meeting a new limit, and rows stay small.
MAX_STORED_ARGUMENTS_BYTES = MAX_TASK_BYTES

# "Maximum schedule time for a task: 30 days from the current date and time".
MAX_SCHEDULE_AHEAD = timedelta(days=30)


# What to do instead of passing a large value, said by both size errors.
PASS_A_REFERENCE = "Pass something the task can look its data up by (an id, a storage path), not the data itself."


def check_task_size(size: int, task_path: str) -> None:
    if size > MAX_TASK_BYTES:
        raise InvalidTask(
            f"Task {task_path} would be {size} bytes on the wire; Cloud Tasks accepts at most "
            f"{MAX_TASK_BYTES}. {PASS_A_REFERENCE}"
        )


def check_stored_arguments_size(size: int, task_path: str) -> None:
    if size > MAX_STORED_ARGUMENTS_BYTES:
        raise InvalidTask(
            f"Task {task_path} would be {size} bytes with its arguments; a job task's arguments are stored "
            f"with its record, at most {MAX_STORED_ARGUMENTS_BYTES} bytes. {PASS_A_REFERENCE}"
        )


def check_schedule(run_after: datetime, now: datetime, task_path: str) -> None:
    if run_after - now > MAX_SCHEDULE_AHEAD:
        raise InvalidTask(
            f"Task {task_path} has run_after {run_after.isoformat()}, more than "
            f"{MAX_SCHEDULE_AHEAD.days} days ahead; Cloud Tasks schedules at most "
            f"{MAX_SCHEDULE_AHEAD.days} days ahead. Schedule it later, or from a "
            f"periodic task closer to the time."
        )
