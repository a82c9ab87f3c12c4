"""Cancelling a task before it starts: `cloudtasks.cancel(result_id)`, and the admin's action.

A task can be cancelled while it waits for an attempt: READY, enqueued and not started, or
between a failed attempt and the queue's next one. Cancelling it

- marks its record FAILED, `finished_at` and `cancelled_at` the database's time now, in a
  transaction that holds the row's lock (SELECT ... FOR UPDATE, then an UPDATE of a READY
  row): a claim at the same moment (cloudtasks.run.records, an UPDATE of a READY row, or
  its own locking SELECT) waits for it and finds the task finished, or comes first and
  the cancel finds the task RUNNING and refuses. So either the task runs, or it is
  cancelled, never both. `get_result` then reads FAILED, its last error a
  `cloudtasks.exceptions.TaskCancelled` saying when (cloudtasks.run.results);
- deletes its Cloud Tasks task (DeleteTask, for HTTP and job tasks alike, a deferred one
  too) once that transaction commits. NOT_FOUND is what was expected of a task Cloud
  Tasks no longer holds (it was delivered, or never sent). A row whose last send failed
  is not asked about: it was most likely never sent. A DeleteTask that fails (Cloud Tasks
  unreachable) is logged and changes nothing else: whatever Cloud Tasks still delivers
  of the task (a push already in flight, a job execution it starts) finds it finished
  and runs nothing, and a push is acknowledged (200), so Cloud Tasks stops.

The flush never sends a FAILED task again (it looks at unfinished rows only), and the
prune deletes its record once it is older than its backend's RETENTION, as any finished
one. A re-drive (cloudtasks.operations.redrive) may still run it: the operator's way to
take a cancel back. No signal is sent: the task neither ran nor failed an attempt.

A RUNNING task cannot be cancelled (its attempt may be anywhere in its work; a task that
must stop early checks a flag of its own), nor a finished one: CannotCancel says which.
"""

from __future__ import annotations

import functools
import logging

from django.db import transaction
from django.tasks import TaskResult, TaskResultStatus
from django.tasks.exceptions import InvalidTaskBackend, TaskResultDoesNotExist
from google.api_core import exceptions
from google.auth.exceptions import GoogleAuthError

from cloudtasks.config.backends import cloud_tasks_backend
from cloudtasks.enqueue.task_request import task_name
from cloudtasks.exceptions import CannotCancel
from cloudtasks.models import FINISHED, TaskRecord
from cloudtasks.run import db_clock
from cloudtasks.run.results import result_of

logger = logging.getLogger(__name__)


def cancel(result_id: str) -> TaskResult:
    """Cancel the task `result_id` (a TaskResult's id) if no attempt of it runs now; return
    its result as it reads then (FAILED). TaskResultDoesNotExist for an id no task has;
    CannotCancel for a task that is running or has finished."""
    if not isinstance(result_id, str):
        raise TypeError(f"cancel() takes a task's id, a str (TaskResult.id), not {type(result_id).__name__}")
    with transaction.atomic():
        record = (
            TaskRecord.objects.select_for_update().annotate(database_now=db_clock.Now()).filter(pk=result_id).first()
        )
        if record is None:
            raise TaskResultDoesNotExist(f"No task has id {result_id!r}")
        _refuse_unless_waiting(record)
        changes = {
            "status": TaskResultStatus.FAILED, "finished_at": record.database_now, "cancelled_at": record.database_now,
        }
        # The row is locked; the condition holds on a database without row locks too.
        if not TaskRecord.objects.filter(pk=record.pk, status=TaskResultStatus.READY).update(**changes):
            record.refresh_from_db()
            _refuse_unless_waiting(record)
        for field, value in changes.items():
            setattr(record, field, value)
        if not (record.pending and record.send_failures):
            transaction.on_commit(
                functools.partial(_delete_task, record.pk, record.backend, record.queue_name, record.cloud_tasks_id()),
                robust=True,  # the cancel has committed, whatever Cloud Tasks answers
            )
    logger.info("Task %s (%s) cancelled", record.pk, record.task_path)
    return result_of(record)


def _refuse_unless_waiting(record: TaskRecord) -> None:
    if record.status == TaskResultStatus.RUNNING:
        attempt = record.attempts[-1] if record.attempts else {}
        raise CannotCancel(
            f"Task {record.pk} ({record.task_path}) is running (attempt {len(record.attempts)}, on worker "
            f"{attempt.get('worker_id', 'unknown')}, since {attempt.get('started_at', 'unknown')}): a running task "
            f"cannot be cancelled; only a task waiting for an attempt (READY) can"
        )
    if record.status in FINISHED:
        how = "was cancelled" if record.cancelled_at else f"finished {record.status}"
        raise CannotCancel(
            f"Task {record.pk} ({record.task_path}) {how} at {record.finished_at.isoformat()}: there is nothing left to "
            f"cancel; only a task waiting for an attempt (READY) can be cancelled"
        )


def _delete_task(record_id: str, alias: str, queue_name: str, cloud_tasks_id: str) -> None:
    """Delete the cancelled task's Cloud Tasks task (see the module's docstring)."""
    try:
        backend = cloud_tasks_backend(alias)
        route = backend.route(queue_name)
        backend.client().delete_task(
            name=task_name(route.queue_path, cloud_tasks_id), timeout=backend.backend_options.attempt_timeout
        )
    except exceptions.NotFound:
        logger.info("Task %s: Cloud Tasks holds no task %s (delivered, or never sent)", record_id, cloud_tasks_id)
    except (InvalidTaskBackend, KeyError, exceptions.GoogleAPICallError, GoogleAuthError) as error:
        # The emulator has no DeleteTask (UNIMPLEMENTED) either.
        logger.warning(
            "Task %s is cancelled, but Cloud Tasks task %s was not deleted (%s): a delivery of it will run nothing",
            record_id, cloud_tasks_id, error,
        )
    else:
        logger.info("Task %s: Cloud Tasks task %s deleted", record_id, cloud_tasks_id)
