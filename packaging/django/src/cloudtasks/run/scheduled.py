"""A periodic task's run (`run_task --periodic NAME`), recorded like any task, once per time.

Cloud Scheduler delivers at least once: "in some rare circumstances, it is possible for
a job to run multiple times in association with a single instance of the schedule"
(https://cloud.google.com/scheduler/docs/overview). Its duplicates of one scheduled run
carry that run's time in X-CloudScheduler-ScheduleTime, on HTTP targets only, and only
for unix-cron schedules (scheduler/docs/configuring/deduplicate-job-requests); a
ScheduledTrigger calls jobs:run, which passes no header on to the execution. So an
execution works the time out itself: the last time the schedule fired at, by this
execution's clock, which is read moments after Cloud Scheduler fired (an execution that
starts a whole period late counts as the next one). The task's record is named after the
schedule and that time: the first execution of a time creates and claims it, and any
other finds it taken (running: it waits; finished: it runs nothing), through the runner's
claim (cloudtasks.run.records), as a second delivery of any task does.

A retried attempt of the same execution (Cloud Run retries a task that exited non-zero)
takes the record its earlier attempt took, whatever the clock says now.

The record's task runs on its declared backend and queue, with the declaration's
arguments; it counts as sent when it was due, so the flush leaves it to this execution
and, should the execution die before it finishes, treats it as any task whose attempt
died.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cloudtasks.config.schedules import Timetable
from cloudtasks.models import TaskRecord, last_attempt
from cloudtasks.run.declared_tasks import resolve_task
from cloudtasks.wire import moments
from cloudtasks.wire.payload import TaskPayload


def run_id(name: str, due: datetime) -> str:
    """The record id of periodic task `name`'s run due at `due`: the same for every
    firing of that time. Hashed, like every other task's id (uuid4 hex): Cloud Tasks
    spreads tasks by name, and a timestamp prefix would crowd them."""
    return hashlib.sha256(f"periodic:{name}@{moments.in_utc(due).isoformat()}".encode()).hexdigest()[:32]


def payload(
    name: str, task_path: str, args: Sequence[Any], kwargs: Mapping[str, Any], timetable: Timetable, *,
    now: datetime, earlier_worker_ids: Sequence[str],
) -> TaskPayload:
    """The task a run of periodic task `name` runs, named for the time it is due at (or
    the one an earlier attempt of this execution took)."""
    task = resolve_task(task_path)
    due = timetable.last_at_or_before(now)
    task_id = run_id(name, due)
    if earlier_worker_ids:
        taken = (
            TaskRecord.objects.alias(last_worker_id=last_attempt("worker_id"))
            .filter(task_path=task_path, last_worker_id__in=list(earlier_worker_ids))
            .values_list("pk", "enqueued_at").first()
        )
        if taken is not None:
            task_id, due = taken
    return TaskPayload(
        task_path, task_id, list(args), dict(kwargs), enqueued_at=moments.in_utc(due),
        backend=task.backend, queue_name=task.queue_name, priority=task.priority,
    )
