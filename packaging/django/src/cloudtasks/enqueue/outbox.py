"""The transactional outbox: a task is a row before it is a Cloud Tasks task.

`enqueue` writes the task's row in the caller's transaction and sends the task only
once that transaction commits: a rolled-back transaction sends nothing, and a task that
committed is never lost, because its row is there for the flush (cloudtasks.operations.flush) if
the send after commit fails, times out or never happens (the process died).

A send after commit that succeeds writes nothing more: the request pays for the row's
INSERT only. The row stays "pending" until the task starts (the runner marks it sent)
or, for a task that waits in its queue (run_after, a backlog), until the flush sends
it again after SEND_CLAIM and hears ALREADY_EXISTS. A send that fails marks the row for
the flush at once. The sends of one request share its budget (cloudtasks.enqueue.send_budget):
once it is spent, or once a send failed, the others are not tried, and are handed to
the flush together when the request ends.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from google.cloud import tasks_v2

from cloudtasks.enqueue import send_budget, sending
from cloudtasks.models import TaskRecord, task_id_of

logger = logging.getLogger(__name__)

# How long the send after commit has a new row to itself before the flush may send it
# too: the flush leaves rows it would only send a second time alone.
SEND_CLAIM = timedelta(minutes=2)


def enqueue(record: TaskRecord, request: tasks_v2.CreateTaskRequest, *, client: tasks_v2.CloudTasksClient,
            budget: float) -> None:
    """Write `record` (in the current transaction, if there is one) and send `request`
    once it commits, waiting at most what is left of `budget` (see send_budget)."""
    record.check_after = record.enqueued_at + SEND_CLAIM
    record.save(force_insert=True)
    send_after_commit(record, request, client=client, budget=budget)


def send_after_commit(record: TaskRecord, request: tasks_v2.CreateTaskRequest, *, client: tasks_v2.CloudTasksClient,
                      budget: float) -> None:
    """Send `request` (the current generation of `record`'s task) once the current
    transaction commits, at once outside one."""
    transaction.on_commit(
        functools.partial(_send_committed, record.pk, record.generation, request, client, budget),
        # Whatever happens while sending, the caller's commit has succeeded: never
        # let this raise into it (Django logs what a robust callback raises).
        robust=True,
    )


def _send_committed(
    record_id: str, generation: int, request: tasks_v2.CreateTaskRequest, client: tasks_v2.CloudTasksClient,
    budget: float,
) -> None:
    # Outside a request and a task's execution, the send has a window of its own.
    window = send_budget.current() or send_budget.Window()
    timeout = window.time_left(budget)
    if timeout <= 0:
        window.left.append(record_id)  # nothing more: the window's end hands it to the flush
        return
    with window.spending():
        try:
            sending.create_task(client, request, timeout=timeout)
        except sending.SendFailed as failure:
            logger.warning(
                "Task %s not sent after commit (%s); it is recorded, and the flush will send it",
                task_id_of(record_id, generation), failure.reason,
            )
            note_failure(record_id, generation=generation, reason=failure.reason, retry_at=timezone.now())
            window.note_failure(failure.reason)
        else:
            window.sent += 1


def note_sent(record_id: str, *, generation: int, sent_at: datetime, check_after: datetime) -> None:
    TaskRecord.objects.filter(pk=record_id, generation=generation, sent_at=None).update(
        sent_at=sent_at, check_after=check_after, send_failures=0, send_error=""
    )


def note_failure(record_id: str, *, generation: int, reason: str, retry_at: datetime) -> None:
    TaskRecord.objects.filter(pk=record_id, generation=generation, sent_at=None).update(
        check_after=retry_at, send_failures=F("send_failures") + 1, send_error=reason
    )
