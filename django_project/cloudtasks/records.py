"""What the runner writes to a task's record as it runs the task."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F
from django.db.models.functions import Coalesce
from django.tasks import TaskResultStatus

from cloudtasks.models import TaskRecord


def started(record: TaskRecord, at: datetime) -> None:
    TaskRecord.objects.filter(pk=record.pk).update(
        status=TaskResultStatus.RUNNING,
        started_at=Coalesce(F("started_at"), at),
        last_attempted_at=at,
        # It reached Cloud Tasks, or it could not have started: a send after commit
        # that succeeded wrote nothing (cloudtasks.outbox). Sending began after the
        # row was written.
        sent_at=Coalesce(F("sent_at"), F("enqueued_at")),
    )


def attempt_failed(record: TaskRecord) -> None:
    # Ready to run again: the queue retries it.
    TaskRecord.objects.filter(pk=record.pk).update(status=TaskResultStatus.READY)


def succeeded(record: TaskRecord, at: datetime) -> None:
    TaskRecord.objects.filter(pk=record.pk).update(status=TaskResultStatus.SUCCESSFUL, finished_at=at)
